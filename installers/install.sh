#!/bin/sh
# Belay installer for Linux and macOS (and SmartOS LX-branded zones).
#
#   curl -fsSL https://FEED/install.sh | sh
#   curl -fsSL https://FEED/install.sh | sh -s -- --user --channel beta
#   curl -fsSL https://FEED/install.sh | sh -s -- --help
#
# This is the template: `belay-release installers` renders it once per feed with the
# feed's URL, default channel, root key(s) and the SHA-256 of each bootstrapper, and
# writes install.sh (and install.sh.minisig) at the feed's root. docs/install.md has
# the options and what the script prints.
#
# Everything below is one brace group, which the shell reads whole before it runs any of it:
# a download cut short anywhere is a syntax error and never runs a command (not even one
# that a cut leaves at the start of a line, as "sh" from "show() {").

{

# The feed's values, filled in by belay-release (each one quoted for sh).
# shellcheck disable=SC1083
belay_feed() {
    BELAY_FEED_URL={{FeedUrl}}
    BELAY_DEFAULT_CHANNEL={{Channel}}
    BELAY_ROOT_KEYS={{RootKeys}}
    BELAY_BOOTSTRAP_VERSION={{BootstrapVersion}}
    BELAY_BUILDS={{Builds}}
    # One line per build: RID|path in the feed|SHA-256 of the bootstrapper, then, when the
    # feed has its gzip copy (what is downloaded): |its size|the copy's path|the copy's SHA-256.
    BELAY_BUILD_TABLE={{BuildTable}}
    # The most a bootstrapper may decompress to when its line pins no size.
    BELAY_MAX_BOOTSTRAP_BYTES=268435456
}

# Sets build_path (relative to the feed) and build_sha256 for a RID, and gz_path, gz_sha256
# and build_size when there is a gzip copy (else gz_path is empty); fails when this feed has
# no bootstrapper for it.
belay_build() {
    for entry in $BELAY_BUILD_TABLE; do
        case $entry in
            "$1|"*)
                entry=${entry#*|}
                build_path=${entry%%|*}
                entry=${entry#*|}
                build_sha256=${entry%%|*}
                gz_path=
                gz_sha256=
                build_size=$BELAY_MAX_BOOTSTRAP_BYTES
                case $entry in
                    *'|'*'|'*'|'*)
                        entry=${entry#*|}
                        build_size=${entry%%|*}
                        entry=${entry#*|}
                        gz_path=${entry%%|*}
                        entry=${entry#*|}
                        gz_sha256=${entry%%|*}
                        ;;
                esac
                case $build_size in
                    '' | *[!0-9]*) build_size=$BELAY_MAX_BOOTSTRAP_BYTES ;;
                esac
                return 0
                ;;
        esac
    done
    return 1
}

say() {
    printf 'belay-install: %s\n' "$*"
}

warn() {
    printf 'belay-install: %s\n' "$*" >&2
}

# fail CODE MESSAGE...: the exit codes are belay's (1 error, 2 usage, 3 trust failure,
# 4 feed unreachable, 5 needs privileges).
fail() {
    fail_code=$1
    shift
    printf 'belay-install: error: %s\n' "$*" >&2
    exit "$fail_code"
}

have() {
    command -v "$1" >/dev/null 2>&1
}

is_true() {
    case $1 in
        1 | true | yes | on) return 0 ;;
        *) return 1 ;;
    esac
}

usage() {
    printf '%s\n' \
        "Installs the Belay agent from $BELAY_FEED_URL" \
        "" \
        "usage: curl -fsSL ${BELAY_FEED_URL}install.sh | sh -s -- [options]" \
        "" \
        "  --channel NAME         the channel to follow (default: $BELAY_DEFAULT_CHANNEL)" \
        "  --group NAME           the group whose apps this host runs (default: default)" \
        "  --group-identity FILE  the group's age identity (age-keygen), copied owner-only" \
        "  --version V            install version V and stay on it" \
        "  --user                 install for this user only; needs no root" \
        "  --prefix DIR           install everything under DIR" \
        "  --service-manager M    auto (default), systemd, launchd, smf or none" \
        "  --no-start             lay everything out but do not start the agent" \
        "  --wait DURATION        how long belay waits for the agent to report ready (default: 60s)" \
        "  --dry-run              say what would be done; download and change nothing" \
        "  --uninstall            run the installed belay's uninstall" \
        "  --purge                with --uninstall: remove config, state and logs too" \
        "  --rid RID              take this build instead of the detected one" \
        "  --feed URL             a mirror of this feed (same files, same keys)" \
        "  --allow-insecure-http  allow an http:// feed (or hub) that is not on loopback" \
        "  --hub URL              also connect to this Belay hub (live logs, the fleet page)" \
        "  --enroll-token TOKEN   with --hub: the enrollment token (belay-hub token create)" \
        "  --hub-ca FILE          with --hub: PEM of the CA that signed the hub's certificate" \
        "  -h, --help             this help" \
        "" \
        "Environment instead of options: BELAY_CHANNEL, BELAY_GROUP, BELAY_GROUP_IDENTITY, BELAY_VERSION," \
        "BELAY_PREFIX, BELAY_SERVICE_MANAGER, BELAY_WAIT, BELAY_RID, BELAY_FEED, BELAY_HUB, BELAY_ENROLL_TOKEN, BELAY_HUB_CA," \
        "and =1 for BELAY_USER, BELAY_NO_START," \
        "BELAY_DRY_RUN, BELAY_UNINSTALL, BELAY_PURGE, BELAY_ALLOW_INSECURE_HTTP." \
        "Without --user and not root, belay runs through sudo." \
        "Builds on this feed (bootstrapper $BELAY_BOOTSTRAP_VERSION): $BELAY_BUILDS"
}

usage_error() {
    printf 'belay-install: error: %s\n' "$*" >&2
    printf 'belay-install: see: sh install.sh --help\n' >&2
    exit 2
}

# need_value OPTION ARGC VALUE: an option that takes a value got one.
need_value() {
    if [ "$2" -lt 2 ]; then
        usage_error "$1 needs a value"
    fi
    case $3 in
        -*) usage_error "$1 needs a value (got '$3')" ;;
    esac
}

parse_args() {
    opt_channel=${BELAY_CHANNEL:-}
    opt_group=${BELAY_GROUP:-}
    opt_group_identity=${BELAY_GROUP_IDENTITY:-}
    opt_version=${BELAY_VERSION:-}
    opt_prefix=${BELAY_PREFIX:-}
    opt_wait=${BELAY_WAIT:-}
    opt_service_manager=${BELAY_SERVICE_MANAGER:-}
    opt_rid=${BELAY_RID:-}
    opt_feed=${BELAY_FEED:-}
    opt_hub=${BELAY_HUB:-}
    opt_enroll_token=${BELAY_ENROLL_TOKEN:-}
    opt_hub_ca=${BELAY_HUB_CA:-}
    opt_user=0
    opt_no_start=0
    opt_dry_run=0
    opt_uninstall=0
    opt_purge=0
    opt_insecure=0
    if is_true "${BELAY_USER:-}"; then opt_user=1; fi
    if is_true "${BELAY_NO_START:-}"; then opt_no_start=1; fi
    if is_true "${BELAY_DRY_RUN:-}"; then opt_dry_run=1; fi
    if is_true "${BELAY_UNINSTALL:-}"; then opt_uninstall=1; fi
    if is_true "${BELAY_PURGE:-}"; then opt_purge=1; fi
    if is_true "${BELAY_ALLOW_INSECURE_HTTP:-}"; then opt_insecure=1; fi
    while [ $# -gt 0 ]; do
        case $1 in
            --channel | --group | --group-identity | --version | --prefix | --service-manager | --wait | --rid | --feed | --hub | --enroll-token | --hub-ca)
                need_value "$1" $# "${2:-}"
                case $1 in
                    --hub) opt_hub=$2 ;;
                    --enroll-token) opt_enroll_token=$2 ;;
                    --hub-ca) opt_hub_ca=$2 ;;
                    --channel) opt_channel=$2 ;;
                    --group) opt_group=$2 ;;
                    --group-identity) opt_group_identity=$2 ;;
                    --version) opt_version=$2 ;;
                    --prefix) opt_prefix=$2 ;;
                    --service-manager) opt_service_manager=$2 ;;
                    --wait) opt_wait=$2 ;;
                    --rid) opt_rid=$2 ;;
                    --feed) opt_feed=$2 ;;
                esac
                shift 2
                ;;
            --channel=*) opt_channel=${1#*=}; shift ;;
            --group=*) opt_group=${1#*=}; shift ;;
            --group-identity=*) opt_group_identity=${1#*=}; shift ;;
            --version=*) opt_version=${1#*=}; shift ;;
            --prefix=*) opt_prefix=${1#*=}; shift ;;
            --service-manager=*) opt_service_manager=${1#*=}; shift ;;
            --wait=*) opt_wait=${1#*=}; shift ;;
            --rid=*) opt_rid=${1#*=}; shift ;;
            --feed=*) opt_feed=${1#*=}; shift ;;
            --hub=*) opt_hub=${1#*=}; shift ;;
            --enroll-token=*) opt_enroll_token=${1#*=}; shift ;;
            --hub-ca=*) opt_hub_ca=${1#*=}; shift ;;
            --user) opt_user=1; shift ;;
            --no-start) opt_no_start=1; shift ;;
            --dry-run) opt_dry_run=1; shift ;;
            --uninstall) opt_uninstall=1; shift ;;
            --purge) opt_purge=1; shift ;;
            --allow-insecure-http) opt_insecure=1; shift ;;
            -h | --help) usage; exit 0 ;;
            *) usage_error "unknown option '$1'" ;;
        esac
    done
    channel=${opt_channel:-$BELAY_DEFAULT_CHANNEL}
    case $channel in
        '' | .* | *[!a-z0-9._-]*) usage_error "--channel '$channel': use lower-case letters, digits, '.', '-' and '_'" ;;
    esac
    case $opt_group in
        '' | [a-z0-9]*) ;;
        *) usage_error "--group '$opt_group': use lower-case letters, digits, '.', '-' and '_', starting with a letter or digit" ;;
    esac
    case $opt_group in
        *[!a-z0-9._-]*) usage_error "--group '$opt_group': use lower-case letters, digits, '.', '-' and '_', starting with a letter or digit" ;;
    esac
    if [ -n "$opt_group_identity" ]; then
        # belay may run elsewhere (sudo): hand it an absolute path to a file that is there.
        case $opt_group_identity in
            /*) ;;
            *) opt_group_identity=$(pwd)/$opt_group_identity ;;
        esac
        if [ ! -f "$opt_group_identity" ]; then
            usage_error "--group-identity $opt_group_identity: no such file (make one with age-keygen -o FILE)"
        fi
    fi
    case $opt_version in
        *[!A-Za-z0-9.+-]*) usage_error "--version '$opt_version' is not a version like 1.4.2" ;;
    esac
    case $opt_service_manager in
        '' | auto | systemd | launchd | smf | none) ;;
        *) usage_error "--service-manager '$opt_service_manager': use auto, systemd, launchd, smf or none" ;;
    esac
    case $opt_wait in
        '' | [0-9]*[smhdw]) ;;
        *) usage_error "--wait '$opt_wait': give a duration like 90s, 5m or 1h" ;;
    esac
    case $opt_wait in
        *[!0-9smhdw]* | *[smhdw]*[0-9smhdw]*) usage_error "--wait '$opt_wait': give a duration like 90s, 5m or 1h" ;;
    esac
    if [ "$opt_purge" = 1 ] && [ "$opt_uninstall" = 0 ]; then
        usage_error "--purge goes with --uninstall"
    fi
    if [ -z "$opt_hub" ] && { [ -n "$opt_enroll_token" ] || [ -n "$opt_hub_ca" ]; }; then
        usage_error "--enroll-token and --hub-ca go with --hub URL"
    fi
}

# Sets os_name (Linux, Darwin), os_detail (for messages) and rid, or stops with what this
# platform can run instead.
detect_platform() {
    # One uname for all three: POSIX prints them in this order (-s, -v, -m), and only the
    # version has spaces in it.
    uname_all=$(uname -s -v -m 2>/dev/null) || uname_all=
    case $uname_all in
        *' '*)
            uname_s=${uname_all%% *}
            uname_m=${uname_all##* }
            uname_v=${uname_all#* }
            uname_v=${uname_v% *}
            ;;
        *)
            uname_s=$(uname -s 2>/dev/null) || uname_s=unknown
            uname_m=$(uname -m 2>/dev/null) || uname_m=unknown
            uname_v=$(uname -v 2>/dev/null) || uname_v=
            ;;
    esac
    case $uname_s in
        Linux) os_part=linux ;;
        Darwin) os_part=osx ;;
        SunOS)
            uname_o=$(uname -o 2>/dev/null) || uname_o=
            case $uname_o in
                illumos) sunos_kind=illumos ;;
                *) sunos_kind=SunOS ;;
            esac
            fail 1 "this is $sunos_kind ($uname_s $uname_m). .NET publishes no illumos or Solaris runtime and no NativeAOT target, so there is no native Belay build for it." \
                "On SmartOS and other illumos hosts, run Belay in an LX-branded zone: the linux-x64 build runs there (uname -s reports Linux inside the zone, and this script installs it)." \
                "Builds on this feed: $BELAY_BUILDS."
            ;;
        MINGW* | MSYS* | CYGWIN* | Windows*)
            fail 1 "this is Windows ($uname_s): use install.ps1 instead, in PowerShell: irm ${BELAY_FEED_URL}install.ps1 | iex"
            ;;
        *)
            fail 1 "there is no Belay build for $uname_s ($uname_m). Builds on this feed: $BELAY_BUILDS." \
                "Belay runs on Linux (glibc or musl) and macOS, on x86_64 and arm64."
            ;;
    esac
    case $uname_m in
        x86_64 | amd64 | x64) cpu=x64 ;;
        aarch64 | arm64) cpu=arm64 ;;
        *)
            fail 1 "there is no Belay build for $uname_s on $uname_m. Builds on this feed: $BELAY_BUILDS." \
                "Belay runs on x86_64 (amd64) and arm64 (aarch64) CPUs."
            ;;
    esac
    os_detail="$uname_s $uname_m"
    if [ "$os_part" = linux ]; then
        if is_musl; then
            os_part=linux-musl
            os_detail="$os_detail, musl libc"
        else
            os_detail="$os_detail, glibc"
        fi
        case $uname_v in
            *BrandZ*) os_detail="$os_detail, in an illumos LX-branded zone" ;;
        esac
    elif [ "$cpu" = x64 ]; then
        # A shell under Rosetta 2 sees x86_64 on an Apple Silicon Mac: take the native build.
        translated=$(sysctl -n sysctl.proc_translated 2>/dev/null) || translated=
        if [ "$translated" = 1 ]; then
            cpu=arm64
            os_detail="$os_detail under Rosetta 2 (an arm64 Mac)"
        fi
    fi
    rid=$os_part-$cpu
}

# musl or glibc: glibc's getconf (one small process; glibc's ldd is a bash script), then what
# ldd says about itself, then musl's loader.
is_musl() {
    if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then
        return 1
    fi
    ldd_says=$(ldd --version 2>&1) || :
    case $ldd_says in
        *musl*) return 0 ;;
        *GLIBC* | *"GNU libc"* | *glibc*) return 1 ;;
    esac
    for loader in /lib/ld-musl-*; do
        if [ -e "$loader" ]; then
            return 0
        fi
    done
    return 1
}

# Sets feed_url (ending in /) and checks its scheme: https, or http on loopback or when allowed.
check_feed_url() {
    feed_url=${opt_feed:-$BELAY_FEED_URL}
    case $feed_url in
        */) ;;
        *) feed_url=$feed_url/ ;;
    esac
    insecure=0
    case $feed_url in
        https://*) ;;
        http://*)
            insecure=1
            url_host=${feed_url#http://}
            url_host=${url_host%%/*}
            url_host=${url_host##*@}
            case $url_host in
                127.0.0.1 | 127.0.0.1:* | localhost | localhost:* | '[::1]' | '[::1]:'*) ;;
                *)
                    if [ "$opt_insecure" = 1 ]; then
                        warn "warning: $feed_url is plain http (allowed by --allow-insecure-http); the pinned SHA-256 and the feed's signatures still protect what is installed"
                    else
                        fail 1 "$feed_url is plain http and not on loopback: use its https:// address, or --allow-insecure-http if you really mean it"
                    fi
                    ;;
            esac
            ;;
        *) fail 2 "feed '$feed_url': use an https:// URL" ;;
    esac
}

# Sets downloader: curl, wget (GNU) or busybox-wget.
pick_downloader() {
    if have curl; then
        downloader=curl
    elif have wget; then
        wget_version=$(wget --version 2>/dev/null) || wget_version=
        case $wget_version in
            *"GNU Wget"*) downloader=wget ;;
            *) downloader=busybox-wget ;;
        esac
    else
        fail 1 "neither curl nor wget is installed: install one (apt-get install curl, dnf install curl, apk add curl, brew install curl) and run this again"
    fi
}

# Sets hasher: the first SHA-256 tool found.
pick_hasher() {
    for tool in sha256sum shasum openssl digest; do
        if have "$tool"; then
            hasher=$tool
            return 0
        fi
    done
    fail 1 "no SHA-256 tool found (sha256sum, shasum, openssl or digest): install coreutils or openssl and run this again"
}

# sha256_of [FILE]: sets hash_out to FILE's SHA-256 (stdin's without FILE), in lower case.
sha256_of() {
    case $hasher in
        sha256sum) hash_out=$(sha256sum "$@") || return 1; hash_out=${hash_out%% *} ;;
        shasum) hash_out=$(shasum -a 256 "$@") || return 1; hash_out=${hash_out%% *} ;;
        openssl) hash_out=$(openssl dgst -sha256 "$@") || return 1; hash_out=${hash_out##* } ;;
        digest) hash_out=$(digest -a sha256 "$@") || return 1 ;;
    esac
    case $hash_out in
        *[A-F]*) hash_out=$(printf '%s\n' "$hash_out" | tr 'ABCDEF' 'abcdef') ;;
    esac
}

# unpack GZFILE FILE LIMIT: gzip -dc into FILE, stopping once it passes LIMIT bytes, and sets
# unpacked_sha256 to the SHA-256 of what was written, hashed in the same pass (tee hands the
# hasher the bytes it writes, while gzip decompresses); fails with unpack_error set (corrupt or
# cut short, too big, or not written whole). GZFILE's pinned SHA-256 is checked before this
# runs; the caller compares unpacked_sha256 with FILE's pinned one before FILE is run.
unpack() {
    unpacked_sha256=
    unpack_local=0
    hash_status=0
    { gzip -dc "$1" || echo "gzip $?" >> "$2.status"; } | head -c "$(($3 + 1))" |
        { tee "$2" || echo "tee $?" >> "$2.status"; } | { sha256_of && printf '%s\n' "$hash_out" > "$2.sha256"; } || hash_status=$?
    unpacked_size=$(wc -c < "$2") || unpacked_size=0
    unpacked_size=${unpacked_size##* }
    if [ "$unpacked_size" -gt "$3" ]; then
        unpack_error="it decompresses to more than the $3 bytes pinned for it"
        return 1
    fi
    if [ -s "$2.status" ]; then
        case $(cat "$2.status") in
            *tee*)
                unpack_local=1
                unpack_error="it could not be written whole to $2 (is ${TMPDIR:-/tmp} full?)"
                ;;
            *) unpack_error="gzip -dc could not decompress it (a corrupt or cut-short gzip file)" ;;
        esac
        return 1
    fi
    if [ "$hash_status" != 0 ] || [ ! -s "$2.sha256" ]; then
        unpack_local=1
        unpack_error="$hasher could not compute the SHA-256 of what it decompresses to"
        return 1
    fi
    read -r unpacked_sha256 < "$2.sha256"
    return 0
}

# download URL FILE: retries; https only (TLS 1.2 or later) unless the feed is allowed plain http.
# A progress bar when stderr is a terminal; nothing but errors when it is a pipe or a log.
download() {
    if [ "$insecure" = 1 ]; then proto='=http,https'; else proto='=https'; fi
    if [ -t 2 ]; then on_terminal=1; else on_terminal=0; fi
    case $downloader in
        curl)
            if [ "$on_terminal" = 1 ]; then curl_progress=--progress-bar; else curl_progress=--silent; fi
            curl --fail "$curl_progress" --show-error --location --proto "$proto" --proto-redir "$proto" --tlsv1.2 \
                --retry 3 --retry-delay 2 --connect-timeout 30 --output "$2" "$1"
            ;;
        wget)
            # --show-progress (wget 1.16 and later) draws the bar even with --quiet.
            set -- "$1" "$2" --quiet
            if [ "$on_terminal" = 1 ] && wget --help 2>/dev/null | grep -q -- --show-progress; then
                set -- "$@" --show-progress --progress=bar:force
            fi
            if [ "$insecure" != 1 ]; then set -- "$@" --https-only; fi
            url=$1
            out=$2
            shift 2
            wget "$@" --tries=3 --waitretry=2 --timeout=30 --secure-protocol=TLSv1_2 --output-document="$out" "$url"
            ;;
        busybox-wget)
            # BusyBox wget has no retry or TLS options: the pinned SHA-256 is the check.
            # (No -T either: BusyBox 1.35's wget crashes with it.)
            for attempt in 1 2 3; do
                if wget -q -O "$2" "$1"; then
                    return 0
                fi
                rm -f "$2"
                if [ "$attempt" != 3 ]; then sleep 2; fi
            done
            return 1
            ;;
    esac
}

# Decides how to run belay: scope, and whether through sudo.
check_privileges() {
    use_sudo=0
    if [ "$opt_user" = 1 ]; then
        scope=user
        return 0
    fi
    scope=system
    uid=$(id -u 2>/dev/null) || uid=
    if [ "$uid" = 0 ]; then
        return 0
    fi
    if have sudo; then
        use_sudo=1
        return 0
    fi
    fail 5 "installing for the whole host needs root, and sudo is not installed: run this as root (curl -fsSL ${BELAY_FEED_URL}install.sh | su -c sh) or install for this user only with --user (curl -fsSL ${BELAY_FEED_URL}install.sh | sh -s -- --user)"
}

run_belay() {
    if [ "$use_sudo" = 1 ]; then
        sudo "$@"
    else
        "$@"
    fi
}

# show COMMAND...: the command as one line, for messages.
show() {
    shown=
    secret_next=0
    for word in "$@"; do
        if [ "$secret_next" = 1 ]; then word='***'; fi
        secret_next=0
        if [ "$word" = --enroll-token ]; then secret_next=1; fi
        case $word in
            '' | *[!A-Za-z0-9_./:=@%+,-]*) word="'$word'" ;;
        esac
        shown="$shown${shown:+ }$word"
    done
    if [ "$use_sudo" = 1 ]; then shown="sudo $shown"; fi
    printf '%s' "$shown"
}

cleanup() {
    if [ -n "${work_dir:-}" ] && [ -d "$work_dir" ]; then
        rm -rf "$work_dir"
    fi
}

make_work_dir() {
    work_dir=
    trap cleanup EXIT
    trap 'cleanup; exit 130' INT
    trap 'cleanup; exit 143' TERM
    trap 'cleanup; exit 129' HUP
    work_dir=$(mktemp -d "${TMPDIR:-/tmp}/belay-install.XXXXXXXX") || fail 1 "cannot make a temporary folder in ${TMPDIR:-/tmp}: set TMPDIR to a writable folder"
    chmod 700 "$work_dir"
}

# The installed belay, by the layout belay install uses (docs/operating.md).
installed_belay() {
    if [ -n "$opt_prefix" ]; then
        printf '%s\n' "$opt_prefix/bin/belay"
        return 0
    fi
    case $(uname -s 2>/dev/null) in
        Darwin)
            if [ "$1" = user ]; then
                printf '%s\n' "$HOME/Library/Application Support/Belay/bin/belay"
            else
                printf '%s\n' "/Library/Application Support/Belay/bin/belay"
            fi
            ;;
        *)
            if [ "$1" = user ]; then
                case ${XDG_DATA_HOME:-} in
                    /*) printf '%s\n' "$XDG_DATA_HOME/belay/bin/belay" ;;
                    *) printf '%s\n' "$HOME/.local/share/belay/bin/belay" ;;
                esac
            else
                printf '%s\n' /opt/belay/bin/belay
            fi
            ;;
    esac
}

uninstall_belay() {
    check_privileges
    belay_exe=$(installed_belay "$scope")
    if [ ! -x "$belay_exe" ] && [ "$scope" = system ] && [ "$use_sudo" = 1 ] && [ -z "$opt_prefix" ] && [ -x "$(installed_belay user)" ]; then
        say "no system-wide installation; uninstalling the one for this user"
        scope=user
        use_sudo=0
        belay_exe=$(installed_belay user)
    fi
    if [ ! -x "$belay_exe" ]; then
        fail 1 "Belay is not installed here ($belay_exe not found). Give the --prefix (and --user) it was installed with."
    fi
    set -- "$belay_exe" uninstall --scope "$scope"
    if [ -n "$opt_prefix" ]; then set -- "$@" --prefix "$opt_prefix"; fi
    if [ "$opt_purge" = 1 ]; then set -- "$@" --purge; fi
    if [ "$opt_dry_run" = 1 ]; then
        say "would run: $(show "$@")"
        say "dry run: nothing changed"
        return 0
    fi
    say "running: $(show "$@")"
    belay_code=0
    run_belay "$@" </dev/null || belay_code=$?
    if [ "$belay_code" != 0 ]; then
        fail "$belay_code" "belay uninstall failed (exit $belay_code); see its message above"
    fi
}

install_belay() {
    detect_platform
    if [ -n "$opt_rid" ]; then
        say "platform: $os_detail (detected $rid); using --rid $opt_rid"
        rid=$opt_rid
    else
        say "platform: $os_detail -> build $rid"
    fi
    if ! belay_build "$rid"; then
        case $rid in
            linux-musl-*) musl_hint=" A glibc build may run with a glibc compatibility layer (Alpine: apk add gcompat), with --rid linux-${rid#linux-musl-}." ;;
            *) musl_hint= ;;
        esac
        fail 1 "this feed has no Belay build for $rid. Builds on this feed: $BELAY_BUILDS.$musl_hint"
    fi
    check_feed_url
    pick_downloader
    pick_hasher
    check_privileges
    build_url=$feed_url$build_path

    set -- install --feed "$feed_url" --channel "$channel" --scope "$scope"
    for key in $BELAY_ROOT_KEYS; do
        set -- "$@" --root-key "$key"
    done
    if [ -n "$opt_group" ]; then set -- "$@" --group "$opt_group"; fi
    if [ -n "$opt_group_identity" ]; then set -- "$@" --group-identity "$opt_group_identity"; fi
    if [ -n "$opt_version" ]; then set -- "$@" --version "$opt_version"; fi
    if [ -n "$opt_prefix" ]; then set -- "$@" --prefix "$opt_prefix"; fi
    if [ -n "$opt_service_manager" ]; then set -- "$@" --service-manager "$opt_service_manager"; fi
    if [ -n "$opt_wait" ]; then set -- "$@" --wait "$opt_wait"; fi
    if [ "$opt_no_start" = 1 ]; then set -- "$@" --no-start; fi
    if [ "$insecure" = 1 ] && [ "$opt_insecure" = 1 ]; then set -- "$@" --allow-insecure-http; fi
    if [ -n "$opt_hub" ]; then set -- "$@" --hub "$opt_hub"; fi
    if [ -n "$opt_hub" ] && [ "$insecure" = 0 ] && [ "$opt_insecure" = 1 ]; then set -- "$@" --allow-insecure-http; fi
    if [ -n "$opt_enroll_token" ]; then set -- "$@" --enroll-token "$opt_enroll_token"; fi
    if [ -n "$opt_hub_ca" ]; then set -- "$@" --hub-ca "$opt_hub_ca"; fi

    # The gzip copy when this feed has one and gzip is here (a minimal Debian, Alpine and macOS
    # all have it); else the uncompressed bootstrapper, also pinned.
    if [ -n "$gz_path" ] && ! have gzip; then
        warn "gzip is not installed: downloading the uncompressed bootstrapper instead ($build_size bytes)"
        gz_path=
    fi
    if [ -n "$gz_path" ]; then
        gz_url=$feed_url$gz_path
    fi

    if [ "$opt_dry_run" = 1 ]; then
        if [ -n "$gz_path" ]; then
            say "would download $gz_url with $downloader, check that its SHA-256 is $gz_sha256, decompress it with gzip (at most $build_size bytes) and check that its SHA-256 is $build_sha256 (with $hasher)"
        else
            say "would download $build_url with $downloader and check that its SHA-256 is $build_sha256 (with $hasher)"
        fi
        say "would run: $(show belay "$@")"
        say "dry run: nothing downloaded, nothing installed"
        return 0
    fi

    make_work_dir
    if [ -n "$gz_path" ]; then
        fetch_pinned "$gz_url" "$work_dir/belay.gz" "$gz_sha256" "$gz_path"
        if ! unpack "$work_dir/belay.gz" "$work_dir/belay.part" "$build_size"; then
            if [ "$unpack_local" = 1 ]; then
                fail 1 "$gz_url matches its pinned SHA-256, but $unpack_error: refusing to run it, nothing was installed." \
                    "Free some space there (or set TMPDIR to a folder with room) and run this again."
            fi
            fail 3 "the download from $gz_url matches its pinned SHA-256, but $unpack_error: refusing to run it, nothing was installed." \
                "The feed's publisher must publish the bootstrapper again (belay-release publish writes the .gz) and regenerate install.sh."
        fi
        check_hash "$unpacked_sha256" "$build_sha256" "$gz_url, decompressed," "$build_path"
        mv "$work_dir/belay.part" "$work_dir/belay"
    else
        fetch_pinned "$build_url" "$work_dir/belay" "$build_sha256" "$build_path"
    fi
    chmod 755 "$work_dir/belay"
    say "running: $(show belay "$@")"
    belay_code=0
    run_belay "$work_dir/belay" "$@" </dev/null || belay_code=$?
    if [ "$belay_code" != 0 ]; then
        fail "$belay_code" "belay install failed (exit $belay_code); see its message above. Running this again is safe."
    fi
}

# fetch_pinned URL FILE SHA256 PATH: downloads URL to FILE and checks its pinned SHA-256.
fetch_pinned() {
    say "downloading $1"
    if ! download "$1" "$2"; then
        fail 4 "could not download $1 with $downloader: check the network, a proxy (https_proxy, no_proxy) and that the feed is up, then run this again"
    fi
    check_pinned "$2" "$3" "$1" "$4"
}

# check_pinned FILE SHA256 WHAT PATH: FILE's SHA-256 is the pinned one, or stop (exit 3).
check_pinned() {
    sha256_of "$1" || fail 1 "could not compute the SHA-256 of the download with $hasher"
    check_hash "$hash_out" "$2" "$3" "$4"
}

# check_hash ACTUAL SHA256 WHAT PATH: the SHA-256 computed is the pinned one, or stop (exit 3).
check_hash() {
    actual=$1
    if [ "$actual" != "$2" ]; then
        fail 3 "the download from $3 has SHA-256 $actual, but this install.sh pins $2: refusing to run it, nothing was installed." \
            "A proxy or mirror may have altered it, or the feed changed after this script was generated: fetch install.sh again, and if it persists, tell the feed's publisher."
    fi
    say "verified SHA-256 $actual ($4)"
}

main() {
    set -eu
    belay_feed
    case $BELAY_FEED_URL in
        *'{{'*) fail 1 "this is the install.sh template; run the install.sh that belay-release generated for your feed" ;;
    esac
    parse_args "$@"
    if [ "$opt_uninstall" = 1 ]; then
        uninstall_belay
    else
        install_belay
    fi
}

main "$@"

}
