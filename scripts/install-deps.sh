#!/usr/bin/env sh
# Installs what the build and the tests need on Debian/Ubuntu, when it is missing: the C
# toolchain and zlib that NativeAOT links with, and the real tools the tests run against.
# Run as root (CI) or with password-less sudo; otherwise it says what to install, and a
# test that needs a missing tool skips loudly (or fails, with BELAY_REQUIRE_TOOLS=1).
#
#   sh scripts/install-deps.sh            what `./build.sh test` needs
#   sh scripts/install-deps.sh cross      also the linux-arm64 cross toolchain, and what runs the
#                                         arm64 binaries end to end under emulation: qemu-user
#                                         registered for arm64 ELF files through binfmt_misc,
#                                         the arm64 libraries (multiarch) and an arm64 BusyBox
#                                         (`./build.sh test-arm64`, `./build.sh publish-rids`)
#   sh scripts/install-deps.sh bench      also what `./build.sh bench` adds (benchmarks/README.md)
set -eu

missing=""
cross=0
need() { # need PACKAGE TEST...
    pkg=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        missing="$missing $pkg"
    fi
}
has() { command -v "$1" || [ -x "/usr/sbin/$1" ]; }

# need_arm64 PACKAGE: PACKAGE:arm64 beside the host's own (dpkg --add-architecture arm64).
arm64_missing=""
need_arm64() {
    if ! dpkg-query -W -f='${db:Status-Abbrev}' "$1:arm64" 2>/dev/null | grep -q '^ii'; then
        arm64_missing="$arm64_missing $1:arm64"
    fi
}

# --- linux-arm64 under emulation (the cross mode) ------------------------------------------
# The kernel hands every arm64 ELF file to qemu-aarch64 once binfmt_misc has an entry for it,
# so `./belay` runs as it would on an arm64 host (uname -m says aarch64, the keeper starts the
# agent with a plain exec). Flags: P keeps argv[0] as the caller gave it (qemu reads AT_FLAGS),
# which multi-call programs such as BusyBox need when they re-exec themselves; F makes the
# kernel open qemu once, at registration, so the entry also works in chroots, mount namespaces
# and containers that do not have qemu. Debian's qemu-user-binfmt and qemu-user-static register
# the same magic and mask (flags OP, OPF), but their maintainer scripts do nothing in a
# container (systemd-detect-virt --container), which is where this often runs; so the line is
# written here, under Debian's name for it. An entry of Debian's with the P flag is kept.
BINFMT=/proc/sys/fs/binfmt_misc
BINFMT_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
BINFMT_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
# An arm64 BusyBox (Debian's busybox-static:arm64, unpacked: it cannot be installed beside the
# host's busybox): a shell and the usual tools as an arm64 host has them, for install.sh's
# own detection (uname -m) in the tests.
ARM64_TOOLS=/opt/belay-cross/arm64

binfmt_ok() {
    [ -r "$BINFMT/qemu-aarch64" ] && head -n 1 "$BINFMT/qemu-aarch64" | grep -qx enabled &&
        grep -q '^flags: .*P' "$BINFMT/qemu-aarch64"
}

# setup_binfmt: mounts binfmt_misc when needed and registers qemu-aarch64; says plainly what
# the kernel or the container refused. Returns 1 when arm64 files still do not run.
setup_binfmt() {
    if binfmt_ok; then
        return 0
    fi
    qemu=$(command -v qemu-aarch64) || { echo "deps: WARNING: no qemu-aarch64 (apt-get install qemu-user)" >&2; return 1; }
    if [ ! -e "$BINFMT/status" ]; then
        if ! grep -qw binfmt_misc /proc/filesystems 2>/dev/null; then
            $sudo modprobe binfmt_misc 2>/dev/null || :
        fi
        if ! grep -qw binfmt_misc /proc/filesystems 2>/dev/null; then
            echo "deps: WARNING: this kernel has no binfmt_misc (CONFIG_BINFMT_MISC, module binfmt_misc): arm64 binaries cannot run as plain executables here, so the linux-arm64 end-to-end tests skip (and fail with BELAY_REQUIRE_TOOLS=1)" >&2
            return 1
        fi
        if ! err=$($sudo mount -t binfmt_misc binfmt_misc "$BINFMT" 2>&1); then
            echo "deps: WARNING: cannot mount binfmt_misc on $BINFMT ($err): the kernel or the container refuses it (a container must be allowed to mount binfmt_misc, or the host must register qemu-aarch64 with the flags PF itself, as below). The linux-arm64 end-to-end tests skip (and fail with BELAY_REQUIRE_TOOLS=1)" >&2
            printf 'deps: on the host: mount -t binfmt_misc binfmt_misc %s; echo '"'"'%s'"'"' > %s/register\n' "$BINFMT" ":qemu-aarch64:M::$BINFMT_MAGIC:$BINFMT_MASK:$qemu:PF" "$BINFMT" >&2
            return 1
        fi
        echo "deps: mounted binfmt_misc on $BINFMT"
    fi
    if [ -e "$BINFMT/qemu-aarch64" ] && grep -q '^flags: .*P' "$BINFMT/qemu-aarch64"; then
        # Registered but disabled: enable it.
        $sudo sh -c "echo 1 > $BINFMT/qemu-aarch64" 2>/dev/null || :
    else
        if [ -e "$BINFMT/qemu-aarch64" ]; then
            # Registered without P: BusyBox and other multi-call programs would lose argv[0].
            $sudo sh -c "echo -1 > $BINFMT/qemu-aarch64"
            echo "deps: removed the qemu-aarch64 entry without the P flag from $BINFMT"
        fi
        line=":qemu-aarch64:M::$BINFMT_MAGIC:$BINFMT_MASK:$qemu:PF"
        if ! err=$(printf '%s\n' "$line" | $sudo sh -c "cat > $BINFMT/register" 2>&1); then
            echo "deps: WARNING: the kernel refused the qemu-aarch64 entry in $BINFMT/register ($err); the linux-arm64 end-to-end tests skip (and fail with BELAY_REQUIRE_TOOLS=1)" >&2
            return 1
        fi
        echo "deps: registered $qemu for arm64 ELF files in $BINFMT/qemu-aarch64 (flags PF)"
    fi
    binfmt_ok
}

# setup_arm64_tools: unpacks busybox-static:arm64 into $ARM64_TOOLS once.
setup_arm64_tools() {
    if [ -x "$ARM64_TOOLS/busybox" ]; then
        return 0
    fi
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    if ! (cd "$tmp" && $sudo apt-get download -qq busybox-static:arm64 >/dev/null 2>&1); then
        rm -rf "$tmp"
        echo "deps: WARNING: apt-get download busybox-static:arm64 failed (is arm64 in dpkg --print-foreign-architectures, and apt-get update run?)" >&2
        return 1
    fi
    $sudo dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/root"
    $sudo mkdir -p "$ARM64_TOOLS"
    $sudo install -m 755 "$tmp/root/bin/busybox" "$ARM64_TOOLS/busybox.new"
    $sudo mv -f "$ARM64_TOOLS/busybox.new" "$ARM64_TOOLS/busybox"
    $sudo rm -rf "$tmp"
    echo "deps: unpacked busybox-static:arm64 into $ARM64_TOOLS/busybox"
}

# check_arm64: an arm64 program runs by plain exec and sees an aarch64 machine.
check_arm64() {
    if machine=$("$ARM64_TOOLS/busybox" uname -m 2>&1) && [ "$machine" = aarch64 ]; then
        echo "deps: arm64 executables run here under qemu-aarch64 (binfmt_misc): uname -m says $machine"
        return 0
    fi
    echo "deps: WARNING: $ARM64_TOOLS/busybox uname -m did not say aarch64: $machine" >&2
    return 1
}

need clang      sh -c 'command -v clang || command -v gcc'
need zlib1g-dev test -e /usr/include/zlib.h
need libsqlite3-dev test -e /usr/include/sqlite3.h  # belay-hub links SQLite's static archive into its NativeAOT binary
need minisign   has minisign
need age        has age         # secrets: interop both ways with the stock age CLI (age, age-keygen)
need nginx-light has nginx
need procps     has pkill    # pgrep, pkill, kill: the end-to-end tests handle processes
need util-linux has setpriv  # the tests run commands as an unprivileged user
need libxml2-utils has xmllint  # validates the launchd plist and SMF manifest against their DTDs
need systemd    has systemd-analyze  # verifies and scores the systemd unit; a real user instance runs it
need shellcheck has shellcheck  # install.sh is checked as POSIX sh
need dash       has dash        # install.sh runs under dash, bash and busybox sh
need busybox    has busybox
need curl       has curl        # install.sh downloads with curl or wget
need wget       has wget
need wixl       has wixl        # builds the MSI (installers/windows/belay.wxs)
need msitools   has msiinfo     # msiinfo/msibuild: the MSI's tables are checked and patched
need wine64     test -x /usr/lib/wine/wine64  # runs the win-x64 belay.exe as a service under Wine's SCM (off PATH)
need gcc-mingw-w64-x86-64-win32 has x86_64-w64-mingw32-gcc  # builds winprog.exe, the Windows program the Wine supervision tests run
need chromium   has chromium        # the hub's browser tests (headless) and the demo's screenshots
need chromium-driver has chromedriver  # Selenium drives chromium through it
need postgresql sh -c 'ls /usr/lib/postgresql/*/bin/initdb'  # the hub on PostgreSQL: the tests initdb and run their own server
need zsh        has zsh         # belay completion zsh is loaded by a real zsh
need fish       has fish        # belay completion fish is loaded by a real fish
for mode in "$@"; do
    case $mode in
        cross)  # NativeAOT for linux-arm64 links with clang and the aarch64 binutils and libc; qemu runs the result
            need clang sh -c 'command -v clang || ls /usr/bin/clang-[0-9]*'
            need gcc-aarch64-linux-gnu has aarch64-linux-gnu-gcc
            need binutils-aarch64-linux-gnu has aarch64-linux-gnu-objcopy
            need libc6-dev-arm64-cross test -e /usr/aarch64-linux-gnu/include/stdio.h
            need qemu-user has qemu-aarch64
            # What the arm64 NativeAOT binaries load at run time, as an arm64 host has it: glibc
            # (and its loader, /lib/ld-linux-aarch64.so.1), and OpenSSL's libssl and libcrypto
            # (hashes, TLS). zlib is not loaded: the runtime links its own zlib-ng.
            need_arm64 libc6
            need_arm64 libssl3
            cross=1
            ;;
        bench)
            need supervisor has supervisord  # the footprint benchmark's side-by-side supervisor
            need xz-utils   has xz           # the size benchmark's xz -9 column
            need openssl    has openssl      # the CA and certificate for the benchmark's HTTPS feed
            need wrk        has wrk          # benchmarks/serve.sh: the HTTP load of the feed server comparison
            need valgrind   has callgrind_control # benchmarks/order-profile.sh: the steady loops' methods, for the order files
            ;;
        *)
            echo "deps: unknown mode '$mode' (known: cross, bench)" >&2
            exit 2
            ;;
    esac
done

if [ "$cross" = 1 ] && [ ! -x "$ARM64_TOOLS/busybox" ]; then
    missing_tools=1
else
    missing_tools=0
fi
if [ -z "$missing$arm64_missing" ] && [ "$missing_tools" = 0 ] && { [ "$cross" = 0 ] || binfmt_ok; }; then
    echo "deps: all build and test tools present${1:+ (and for: $*)}"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    echo "deps: WARNING: missing packages:$missing$arm64_missing" >&2
    if [ -n "$arm64_missing" ]; then
        echo "deps: install them with: sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install -y$missing$arm64_missing" >&2
    else
        echo "deps: install them with: sudo apt-get install -y$missing" >&2
    fi
    if [ "$cross" = 1 ]; then
        echo "deps: WARNING: and as root, run this script again to register qemu-aarch64 in binfmt_misc and unpack an arm64 BusyBox" >&2
    fi
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: WARNING: no apt-get here; install the equivalents of:$missing$arm64_missing" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing$arm64_missing" ] || [ "$missing_tools" = 1 ]; then
    if [ "$cross" = 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $sudo dpkg --add-architecture arm64
        echo "deps: added the arm64 architecture to dpkg (multiarch)"
    fi
    $sudo apt-get update -qq >/dev/null
fi
if [ -n "$missing$arm64_missing" ]; then
    echo "deps: installing$missing$arm64_missing"
    # shellcheck disable=SC2086 # one word per package
    $sudo apt-get install -y -qq --no-install-recommends $missing $arm64_missing >/dev/null
    echo "deps: installed$missing$arm64_missing"
fi
if [ "$cross" = 1 ]; then
    setup_arm64_tools || :
    if setup_binfmt && [ -x "$ARM64_TOOLS/busybox" ]; then
        check_arm64 || :
    fi
fi
