#!/bin/sh
# The Belay demo, run by `./build.sh demo` after the NativeAOT publish:
#
#   sh scripts/demo.sh artifacts/publish/<rid>
#
# In a temporary folder, as an ordinary user: make a local feed signed with the developer
# keys in .keys/, serve it with `belay-release serve`, start a hub (`belay-hub serve`) on
# loopback, install the agent from the feed in user scope with an enrollment token for the
# hub, show the host in the hub's API and tail a program's log through the hub, take
# screenshots of the hub's page with headless Chromium (kept in artifacts/demo/), publish the
# next version and watch the agent move to it by itself, publish a release that crashes at
# start and watch the keeper roll back and mark it bad. Then deploy an app
# (samples/hello-app, a tiny HTTP server the build makes) to the host with a secret, update
# it, ship a release of it whose health check fails and watch the host go back by itself,
# with the reason, and show the secret in the app's environment and nowhere else.
# Everything is stopped and removed at the end, also on failure or Ctrl-C; the screenshots stay.
#
# POSIX sh; no jq, no network beyond 127.0.0.1. BELAY_DEMO_KEEP=1 keeps the work folder
# (with a copy of the logs in host-log/; the installation itself is still removed).

# --- output -------------------------------------------------------------------------------

say() {
    # Narration: plain words, wrapped at 88 columns.
    printf '%s\n' "$*" | tr '\n' ' ' | fold -s -w 88 | sed 's/ *$//'
    echo
}

step() {
    STEP_NO=$((STEP_NO + 1))
    printf '\n== %s. %s\n' "$STEP_NO" "$*"
}

run() {
    # Shows a command and its output, indented, with the long paths shortened; fails the
    # demo when the command fails.
    printf '   $ %s\n' "$(printf '%s\n' "$*" | shorten)"
    rc=0
    "$@" >"$W/run.out" 2>&1 || rc=$?
    shorten <"$W/run.out" | sed 's/^/     /'
    [ "$rc" -eq 0 ] || fail "$(basename "$1") $2 exited with $rc"
}

shorten() {
    sed -e "s|$BIN/||g" -e "s|$W|\$W|g" -e "s|$REPO/||g" -e "s|bh[ect]_[A-Za-z0-9_-]*|bh…_***|g"
}

fail() {
    printf '\ndemo FAILED: %s\n' "$*" >&2
    exit 1
}

now() {
    # Milliseconds since the epoch where date knows %N (GNU, busybox), else whole seconds.
    t=$(date +%s%N 2>/dev/null) || t=
    case "$t" in
        '' | *[!0-9]*) echo $(($(date +%s) * 1000)) ;;
        *) echo "${t%??????}" ;;
    esac
}

elapsed_since() {
    # Seconds since $1 (from now), with one decimal.
    ms=$(($(now) - $1))
    echo "$((ms / 1000)).$((ms % 1000 / 100))"
}

record() {
    # A row of the summary: what happened, the outcome, seconds.
    SUMMARY="${SUMMARY}$(printf '  %-46s %-22s %6s s' "$1" "$2" "$3")
"
}

# --- versions and JSON without jq -----------------------------------------------------------

next_patch() {
    # 1.2.3, 1.2.3-dev or 1.2.3+abc -> 1.2.4
    core=${1%%[-+]*}
    major=${core%%.*}
    rest=${core#*.}
    minor=${rest%%.*}
    patch=${rest#*.}
    case "$major.$minor.$patch" in
        *[!0-9.]* | *..* | .* | *.) fail "cannot read the version '$1' as MAJOR.MINOR.PATCH" ;;
    esac
    echo "$major.$minor.$((patch + 1))"
}

json_string() {
    # The value of a top-level "key": "value" line of `belay status --json`; empty when null.
    sed -n "s/^  \"$2\": \"\\([^\"]*\\)\".*/\\1/p" "$1"
}

json_is_null() {
    grep -q "^  \"$2\": null" "$1"
}

json_bad() {
    # The "bad" list as space-separated versions.
    awk '/^  "bad": \[/ { on = 1 } on { print } on && /\]/ { exit }' "$1" |
        tr -d ' ",[]' | sed -e 's/^bad://' -e '/^$/d' | tr '\n' ' '
}

status_json() {
    # Exit 1 while the keeper or the agent is down (a switch): the report is still written.
    rc=0
    "$BIN/belay" status --prefix "$HOST" --json >"$W/status.json" 2>"$W/status.err" || rc=$?
    [ "$rc" -le 1 ] && [ -s "$W/status.json" ]
}

# --- the feed ---------------------------------------------------------------------------------

package_and_publish() {
    # $1 version, $2 folder holding belay-agent. --compact fast: the compact archive hosts download at Brotli quality 5
    # (under a second); a release takes the default, best (quality 11, about 30 s, some 0.7 MB smaller).
    "$BIN/belay-release" package --compact fast --rid "$RID" --version "$1" --input "$2" --out "$W/packages" >"$W/package-$1.log" 2>&1 ||
        { cat "$W/package-$1.log"; fail "packaging $1 failed"; }
    run "$BIN/belay-release" publish --feed "$FEED" --version "$1" \
        --artifact "$RID=$W/packages/belay-agent-$1-$RID.tar.gz" --key "$KEYS/release.key"
}

start_server() {
    "$BIN/belay-release" serve --feed "$FEED" --listen 127.0.0.1:0 >"$W/serve.log" 2>&1 &
    SERVER_PID=$!
    tries=0
    URL=
    while [ -z "$URL" ]; do
        URL=$(sed -n '1s|^serving .* at \(http://[^ ]*\) .*|\1|p' "$W/serve.log")
        [ -n "$URL" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$W/serve.log"; fail "belay-release serve exited"; }
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "belay-release serve did not say where it listens within 10 s"
        sleep 0.1
    done
}

# --- waiting ------------------------------------------------------------------------------------

wait_for_version() {
    # $1 version expected, $2 version that must be in "bad" (or empty), $3 timeout in seconds.
    # Narrates each change it sees in the status.
    deadline=$(($(now) + $3 * 1000))
    seen=
    while :; do
        if status_json; then
            version=$(json_string "$W/status.json" version)
            trial=$(json_string "$W/status.json" trial)
            bad=$(json_bad "$W/status.json")
            line="running ${version:-nothing}${trial:+, on trial: $trial}${bad:+, bad: $bad}"
            if [ "$line" != "$seen" ]; then
                printf '   %s  %s\n' "$(date +%H:%M:%S)" "$line"
                seen=$line
            fi
            if [ "$version" = "$1" ] && json_is_null "$W/status.json" trial; then
                case " $bad" in
                    *" $2 "*) return 0 ;;
                esac
                [ -z "$2" ] && return 0
            fi
        fi
        [ "$(now)" -lt "$deadline" ] || return 1
        sleep "$POLL_SLEEP"
    done
}

# --- the app -------------------------------------------------------------------------------------

app_field() {
    # The value of the first "KEY": line of the apps list of `belay apps --json` (one app deployed:
    # its own keys come before its lastDeploy's; the group check before the list is skipped), when
    # it is a string or a number; empty when null.
    awk -v key="\"$2\":" '$1 == "\"apps\":" { apps = 1 } apps && $1 == key { v = $0; sub(/^[^:]*: */, "", v); sub(/,$/, "", v); gsub(/"/, "", v); if (v != "null") print v; exit }' "$1"
}

make_app() {
    # $1 version, $2 a line to add under [app] (or empty): the release folder, packaged.
    d=$W/app-src/$1
    mkdir -p "$d/bin" "$d/hooks"
    cp "$APP" "$d/bin/hello"
    cp "$REPO/samples/hello-app/hooks/record.sh" "$d/hooks/record.sh"
    chmod 755 "$d/bin/hello" "$d/hooks/record.sh"
    awk -v line="$2" '{ print } /^\[app\]$/ && line != "" { print line }' "$REPO/samples/hello-app/belay-app.conf" >"$d/belay-app.conf"
    "$BIN/belay-release" app package "$d" --name hello --version "$1" --rid "$RID" --out "$W/app-packages" >"$W/app-package-$1.log" 2>&1 ||
        { cat "$W/app-package-$1.log"; fail "packaging hello $1 failed"; }
}

deploy_app() {
    # $1 version, $2 message; the rest of the group document's settings stay as they were.
    run "$BIN/belay-release" deploy --feed "$FEED" --group default --app hello --version "$1" \
        --artifact "$RID=$W/app-packages/hello-$1-$RID.tar.gz" --env "MESSAGE=$2" --key "$KEYS/deploy.key"
}

wait_for_app() {
    # $1 version that must run, $2 result the last deploy must have (ok or rolled-back), $3 timeout in seconds.
    deadline=$(($(now) + $3 * 1000))
    seen=
    while :; do
        if "$BIN/belay" apps --prefix "$HOST" --json >"$W/apps.json" 2>"$W/apps.err"; then
            state=$(app_field "$W/apps.json" state)
            running=$(app_field "$W/apps.json" running)
            step=$(app_field "$W/apps.json" step)
            result=$(app_field "$W/apps.json" result)
            line="hello: ${state:-not deployed}, running ${running:-nothing}${step:+, step $step}${result:+, last deploy $result}"
            if [ "$line" != "$seen" ]; then
                printf '   %s  %s\n' "$(date +%H:%M:%S)" "$line"
                seen=$line
            fi
            [ -z "$step" ] && [ "$running" = "$1" ] && [ "$result" = "$2" ] && return 0
        fi
        [ "$(now)" -lt "$deadline" ] || return 1
        sleep "$POLL_SLEEP"
    done
}

show_hooks() {
    say "$1"
    sed -e 's/ dir=.*//' "$W/hooks.log" | sed 's/^/     /'
    : >"$W/hooks.log"
}

first_app() {
    step "Deploy an app: hello 1.0.0, a tiny HTTP server, with a secret"
    say "Now the agent's main job: the apps of its group. hello (samples/hello-app) is a tiny HTTP
server in C the build made; its belay-app.conf names its exec, a hook for each step (each
appends a line to a file so that we can watch them), and a health check on
http://127.0.0.1:\${PORT}/health. belay-release app package checks that file and writes the
archive; belay-release deploy signs groups/default.json with the deploy key: hello 1.0.0,
running, PORT, where the hooks write, and DB_PASSWORD as an age secret for the group's
identity. Plain values are public (the feed is static files); the secret is not."
    t=$(now)
    make_app 1.0.0 ""
    SECRET="demo-$(date +%s)-$$-secret"
    printf '%s\n' "$SECRET" >"$W/db-password"
    chmod 600 "$W/db-password"
    : >"$W/hooks.log"
    chmod 666 "$W/hooks.log"
    run "$BIN/belay-release" deploy --feed "$FEED" --group default --app hello --version 1.0.0 \
        --artifact "$RID=$W/app-packages/hello-1.0.0-$RID.tar.gz" --env "PORT=$APP_PORT" --env "HOOK_LOG=$W/hooks.log" \
        --env "MESSAGE=first release" --secret "DB_PASSWORD=@$W/db-password" --recipient "$RECIPIENT" --key "$KEYS/deploy.key"
    say "The agent polls the group document with its channel every second; watching belay apps --json:"
    wait_for_app 1.0.0 ok "$WAIT_APP" || { tail -n 30 "$HOST/log/apps/hello.deploy.log" >&2; fail "hello 1.0.0 was not deployed within $WAIT_APP s"; }
    record "deployed hello 1.0.0 (hooks, health gate)" "running 1.0.0" "$(elapsed_since "$t")"
    show_hooks "Its hooks ran in this order (what each wrote into the file; BELAY_* tell a hook where it is):"
    say "And the app answers:"
    run "$APP" get "$APP_PORT" /
}

update_app() {
    step "Update the app to 1.1.0"
    say "Now hello 1.1.0: installed beside 1.0.0 while 1.0.0 still serves, then 1.0.0's pre_stop,
the stop, its post_stop, and 1.1.0's start, its health gate, and the commit."
    t=$(now)
    make_app 1.1.0 ""
    deploy_app 1.1.0 "second release"
    wait_for_app 1.1.0 ok "$WAIT_APP" || { tail -n 30 "$HOST/log/apps/hello.deploy.log" >&2; fail "hello 1.1.0 was not deployed within $WAIT_APP s"; }
    record "updated hello to 1.1.0" "running 1.1.0" "$(elapsed_since "$t")"
    show_hooks "The hooks of the update (note pre_stop and post_stop of 1.0.0 between):"
    run "$APP" get "$APP_PORT" /
}

bad_app() {
    step "Ship hello 1.2.0, whose health check never passes; the host goes back by itself"
    say "1.2.0's belay-app.conf sets HEALTH=fail, so its /health answers 503. It installs and
starts like the others, but the health gate gives it 10 s to be healthy for 2 s; when the
deadline passes, the agent stops 1.2.0, starts 1.1.0 again, marks 1.2.0 bad (never tried
again until the group document names another version) and reports why."
    t=$(now)
    make_app 1.2.0 "environment = HEALTH=fail"
    deploy_app 1.2.0 "third release"
    wait_for_app 1.1.0 rolled-back "$WAIT_APP_BACK" || { tail -n 30 "$HOST/log/apps/hello.deploy.log" >&2; fail "the host did not go back to hello 1.1.0 within $WAIT_APP_BACK s"; }
    record "broken hello 1.2.0; host went back to 1.1.0" "on 1.1.0, 1.2.0 bad" "$(elapsed_since "$t")"
    say "belay apps shows what happened, the reason and the end of the deploy's output:"
    run "$BIN/belay" apps --prefix "$HOST"
    run "$APP" get "$APP_PORT" /
}

secret_app() {
    step "The secret reached the app's environment, and nothing else"
    t=$(now)
    pid=$(app_field "$W/apps.json" pid)
    if [ -n "$pid" ] && [ -r "/proc/$pid/environ" ]; then
        value=$(tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^DB_PASSWORD=//p')
        [ "$value" = "$SECRET" ] || fail "DB_PASSWORD in the environment of hello (pid $pid) is not the secret"
        say "In the environment of the app's process (pid $pid, read from /proc/$pid/environ):
DB_PASSWORD=$(printf '%s' "$value" | cut -c1-5)… (${#value} characters, the value deployed; shown cut here)."
    else
        say "(No /proc here to read the app's environment from; skipping that part.)"
    fi
    say "The group document carries only its age ciphertext:"
    grep -A1 '"DB_PASSWORD"' "$FEED/groups/default.json" | sed 's/^/     /' | cut -c1-100
    say "And a grep for the value over every file of the installation (logs, journals, state,
config; the group identity left out) and of the feed finds it nowhere:"
    if found=$(grep -rlF -D skip --exclude=group-identity -- "$SECRET" "$HOST" "$FEED"); then
        fail "the secret is in: $found"
    fi
    # shellcheck disable=SC2016 # the command as typed
    printf '     $ grep -rlF -D skip --exclude=group-identity -- "$SECRET" $W/host $W/feed\n     (nothing)\n'
    for out in "status --json" "apps --json" "logs hello --deploy -n 1000"; do
        # shellcheck disable=SC2086 # the command's words
        if "$BIN/belay" $out --prefix "$HOST" 2>&1 | grep -qF -- "$SECRET"; then
            fail "belay $out shows the secret"
        fi
    done
    say "Nor do belay status --json, belay apps --json or the deploy log show it."
    record "secret in the app's environment, nowhere else" "grep: nothing" "$(elapsed_since "$t")"
}

# --- cleanup ------------------------------------------------------------------------------------

cleanup() {
    code=$?
    trap - EXIT INT TERM
    if [ -n "${HOST:-}" ] && [ -f "$HOST/etc/config.json" ]; then
        [ "${BELAY_DEMO_KEEP:-}" != 1 ] || cp -R "$HOST/log" "$W/host-log" 2>/dev/null || :
        "$BIN/belay" uninstall --purge --prefix "$HOST" >/dev/null 2>&1 ||
            printf 'cleanup: belay uninstall failed; stop the keeper in %s by hand\n' "$HOST" >&2
    fi
    for pid in ${DRIVER_PID:-} ${HUB_PID:-} ${SERVER_PID:-}; do
        kill "$pid" 2>/dev/null || :
        wait "$pid" 2>/dev/null || :
    done
    if [ -n "${W:-}" ] && [ -d "$W" ]; then
        if [ "${BELAY_DEMO_KEEP:-}" = 1 ]; then
            printf 'kept the work folder %s\n' "$W"
        else
            rm -rf "$W"
        fi
    fi
    [ "$code" -ne 0 ] || say "Cleaned up: nothing of the demo is left running or on disk."
    exit "$code"
}

# --- the demo -----------------------------------------------------------------------------------

check_inputs() {
    [ $# -eq 1 ] || { echo "usage: sh scripts/demo.sh BIN_DIR   (like artifacts/publish/linux-x64)" >&2; exit 2; }
    [ -d "$1" ] || { echo "demo: $1 is not a folder; run ./build.sh publish first" >&2; exit 2; }
    BIN=$(cd "$1" && pwd)
    REPO=$(cd "$(dirname "$0")/.." && pwd)
    KEYS=$REPO/.keys
    for f in belay belay-agent belay-release; do
        [ -x "$BIN/$f" ] || { echo "demo: $BIN/$f is missing; run ./build.sh publish first" >&2; exit 2; }
    done
    for f in root.key release.key release.pub deploy.key deploy.pub; do
        [ -f "$KEYS/$f" ] || { echo "demo: $KEYS/$f is missing; ./build.sh publish makes the developer keys" >&2; exit 2; }
    done
    command -v age-keygen >/dev/null 2>&1 || { echo "demo: age-keygen is missing (Debian package age; scripts/install-deps.sh installs it)" >&2; exit 2; }
}

make_feed() {
    step "A local feed, signed with the developer keys"
    say "A feed is a folder of static files: root.json lists the keys allowed to sign releases
(signed by the root key), and channels/stable.json lists the releases (signed by the release
key). The binaries built here trust the developer root key in .keys/, so no key has to be
given at install."
    t=$(now)
    run "$BIN/belay-release" init --feed "$FEED" --root-key "$KEYS/root.key" --release-key "$KEYS/release.pub" --deploy-key "$KEYS/deploy.pub"
    mkdir "$W/agent-$A"
    cp "$BIN/belay-agent" "$W/agent-$A/belay-agent"
    say "Now we package the agent that was just built as version $A and publish it on the stable channel."
    package_and_publish "$A" "$W/agent-$A"
    start_server
    say "The feed is served by belay-release serve at $URL (any static web server would do)."
    port=${URL##*:}
    record "feed made, $A published and served" "port ${port%/}" "$(elapsed_since "$t")"
}

install_agent() {
    enroll=
    if [ -n "$HUB_URL" ]; then
        enroll="trades the enrollment token for this host's own credential (kept owner-only in etc/hub.json),
"
    fi
    step "Install from the feed, in user scope, into a temporary prefix${HUB_URL:+, enrolled with the hub}"
    say "belay install checks root.json and the channel against the compiled-in root key,
downloads the archive for $RID, checks its size and SHA-256, unpacks it into versions/$A,
${enroll}starts the keeper and waits until the agent reports ready. The agent polls every second
here (the default is 10 s) and a new version gets $TRIAL s to report ready. It supervises one
program, orders, which writes a line every half second. The host joins the deployment group
default and holds the group's age identity (made here with age-keygen), which decrypts the
secrets of the group's apps; install copies it owner-only."
    mkdir -p "$HOST/etc"
    cat >"$HOST/etc/programs.conf" <<'CONF'
[program:orders]
command = sh -c 'i=0; while :; do i=$((i+1)); echo "$(date -u +%H:%M:%S) order $i accepted"; sleep 0.5; done'
CONF
    chmod 600 "$HOST/etc/programs.conf"
    age-keygen -o "$W/group.identity" 2>/dev/null || fail "age-keygen failed"
    RECIPIENT=$(age-keygen -y "$W/group.identity")
    t=$(now)
    if [ -n "$HUB_URL" ]; then
        run "$BIN/belay" install --feed "$URL" --scope user --prefix "$HOST" --service-manager none --poll-interval 1s --trial-deadline "${TRIAL}s" ${INSTALL_WAIT:+--wait "$INSTALL_WAIT"} \
            --group default --group-identity "$W/group.identity" --hub "$HUB_URL" --enroll-token "$ENROLL_TOKEN"
        record "installed $A (user scope, no root), enrolled" "ready" "$(elapsed_since "$t")"
    else
        run "$BIN/belay" install --feed "$URL" --scope user --prefix "$HOST" --service-manager none --poll-interval 1s --trial-deadline "${TRIAL}s" ${INSTALL_WAIT:+--wait "$INSTALL_WAIT"} \
            --group default --group-identity "$W/group.identity"
        record "installed $A (user scope, no root)" "ready" "$(elapsed_since "$t")"
    fi
    say "What belay status says:"
    run "$BIN/belay" status --prefix "$HOST"
}

# --- the hub --------------------------------------------------------------------------------------

start_hub() {
    step "A hub on loopback, an operator, and an enrollment token"
    say "belay-hub is the optional fleet hub: each agent holds one outbound WebSocket to it, so
that an operator sees the fleet and reads any program's log live, with nothing shipped while
no one looks. It runs on an embedded SQLite database in its data folder and refuses a
non-loopback address without TLS. We make an admin (its password read from stdin), an API
token for curl, and a one-use enrollment token for the group default, the group the demo
deploys its app to (the host joins the token's group)."
    t=$(now)
    "$BIN/belay-hub" serve --data "$W/hub" --listen 127.0.0.1:0 --log "$W/hub.log" >"$W/hub.out" 2>&1 &
    HUB_PID=$!
    tries=0
    HUB_URL=
    while [ -z "$HUB_URL" ]; do
        HUB_URL=$(sed -n 's|.* listening on \(http://[^ ]*\) .*|\1|p' "$W/hub.out" | head -n 1)
        [ -n "$HUB_URL" ] && break
        kill -0 "$HUB_PID" 2>/dev/null || { cat "$W/hub.out"; fail "belay-hub serve exited"; }
        tries=$((tries + 1))
        [ "$tries" -lt 300 ] || fail "belay-hub serve did not say where it listens within 30 s"
        sleep 0.1
    done
    printf '     %s\n' "$(head -n 1 "$W/hub.out" | shorten)"
    ADMIN_PASSWORD="demo password $(date +%s)"
    printf '%s\n' "$ADMIN_PASSWORD" | "$BIN/belay-hub" user add admin --role admin --password-stdin --data "$W/hub" >/dev/null ||
        fail "belay-hub user add failed"
    API_TOKEN=$("$BIN/belay-hub" user token admin --name demo --data "$W/hub" 2>/dev/null) || fail "belay-hub user token failed"
    ENROLL_TOKEN=$("$BIN/belay-hub" token create --group default --uses 1 --expires 1h --data "$W/hub" 2>/dev/null) ||
        fail "belay-hub token create failed"
    run "$BIN/belay-hub" token list --data "$W/hub"
    record "hub started, operator and token made" "$(echo "$HUB_URL" | sed 's|http://||')" "$(elapsed_since "$t")"
}

api() {
    curl -fsS -H "Authorization: Bearer $API_TOKEN" "$HUB_URL$1"
}

show_in_hub() {
    step "The host in the hub's API"
    say "The agent connected to the hub after install and sent its hello and its state (the
belay status --json object). GET /api/v1/hosts, with the API token:"
    t=$(now)
    HUB_HOST=$(sed -n 's/.*"hostId": "\([^"]*\)".*/\1/p' "$HOST/etc/hub.json")
    deadline=$(($(now) + 30000))
    while :; do
        api "api/v1/hosts" >"$W/hosts.json" 2>/dev/null || :
        grep -q '"connected":true' "$W/hosts.json" && grep -q '"orders"' "$W/hosts.json" && break
        [ "$(now)" -lt "$deadline" ] || fail "the host did not show in the hub within 30 s: $(cat "$W/hosts.json")"
        sleep 0.3
    done
    printf '   $ curl -H "Authorization: Bearer bht_***" %sapi/v1/hosts\n' "$HUB_URL"
    sed -e 's/,"/,\n"/g' "$W/hosts.json" | grep -E '^"(id|hostname|group|version|connected|programs|lastCheck|macs)"|^\[\{"id"' |
        sed -e 's/^\[{//' | cut -c1-110 | sed 's/^/     /'
    record "host $HUB_HOST in GET /api/v1/hosts" "connected" "$(elapsed_since "$t")"
}

tail_through_hub() {
    step "A live tail through the hub"
    say "GET /api/v1/hosts/$HUB_HOST/logs/orders is Server-Sent Events: the last lines, then each
new one as the program writes it. The agent reads the log file exactly as belay logs -f does
and sends under a 64 KiB credit window; a slow reader only ever costs dropped lines, which it
is told about, never a blocked program. We read it for four seconds:"
    t=$(now)
    printf '   $ curl -N -H "Authorization: Bearer bht_***" "%sapi/v1/hosts/%s/logs/orders?lines=3"\n' "$HUB_URL" "$HUB_HOST"
    curl -sN --max-time 4 -H "Authorization: Bearer $API_TOKEN" "${HUB_URL}api/v1/hosts/$HUB_HOST/logs/orders?lines=3" >"$W/tail.sse" 2>/dev/null || :
    sed -n -e 's/^event: \(.*\)/     event \1/p' -e 's/^id: \(.*\)/       id \1 (the byte offset after it)/p' -e 's/^data: \(.*\)/       data \1/p' "$W/tail.sse" |
        sed 's/\\n/⏎/g' | head -n 24
    lines=$(grep -c '^event: data' "$W/tail.sse" || :)
    [ "$lines" -gt 0 ] || fail "no line came through the hub"
    say "Every view of a log is in the hub's audit table (belay-hub audit):"
    run "$BIN/belay-hub" audit --data "$W/hub" --limit 4
    record "tailed orders through the hub for 4 s" "$lines data events" "$(elapsed_since "$t")"
}

driver() {
    # driver METHOD PATH [JSON]: one WebDriver call to chromedriver; prints the JSON answer.
    if [ -n "${3:-}" ]; then
        curl -sS -X "$1" -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$DRIVER_PORT$2"
    else
        curl -sS -X "$1" "http://127.0.0.1:$DRIVER_PORT$2"
    fi
}

element() {
    driver POST "/session/$SESSION/element" "{\"using\":\"css selector\",\"value\":\"$1\"}" |
        sed -n 's/.*"element-6066-11e4-a52e-4f735466cecf":"\([^"]*\)".*/\1/p'
}

screenshot() {
    # screenshot FILE: the page as PNG (WebDriver returns it as base64 JSON).
    driver GET "/session/$SESSION/screenshot" | sed -e 's/^{"value":"//' -e 's/"}$//' | base64 -d >"$1" || return 1
    [ -s "$1" ]
}

hub_screenshots() {
    step "The hub's page, in headless Chromium"
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        say "chromium or chromedriver is not installed (sh scripts/install-deps.sh installs both): no screenshots this time."
        record "screenshots of the hub's page" "skipped: no chromium" "0.0"
        return 0
    fi
    say "The page is plain HTML, CSS and one script, all inside belay-hub. Chromium logs in as the
admin, opens the fleet, then the live log of orders; chromedriver is driven with curl."
    t=$(now)
    mkdir -p "$OUT"
    chromedriver --port=0 >"$W/chromedriver.log" 2>&1 &
    DRIVER_PID=$!
    tries=0
    DRIVER_PORT=
    while [ -z "$DRIVER_PORT" ]; do
        DRIVER_PORT=$(sed -n 's/.*started successfully on port \([0-9]*\).*/\1/p' "$W/chromedriver.log")
        [ -n "$DRIVER_PORT" ] && break
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || fail "chromedriver did not start: $(cat "$W/chromedriver.log")"
        sleep 0.1
    done
    args='"--headless=new","--no-sandbox","--disable-gpu","--disable-dev-shm-usage","--disable-quic","--no-first-run","--disable-background-networking","--disable-component-update","--disable-sync","--window-size=1480,880"'
    SESSION=$(driver POST /session "{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"chrome\",\"goog:chromeOptions\":{\"binary\":\"$(command -v chromium)\",\"args\":[$args,\"--user-data-dir=$W/chromium\"]}}}}" |
        sed -n 's/.*"sessionId":"\([^"]*\)".*/\1/p')
    [ -n "$SESSION" ] || fail "chromium did not start under chromedriver: $(tail -n 5 "$W/chromedriver.log")"
    driver POST "/session/$SESSION/url" "{\"url\":\"${HUB_URL}login\"}" >/dev/null
    driver POST "/session/$SESSION/element/$(element '#name')/value" '{"text":"admin"}' >/dev/null
    driver POST "/session/$SESSION/element/$(element '#password')/value" "{\"text\":\"$ADMIN_PASSWORD\"}" >/dev/null
    driver POST "/session/$SESSION/element/$(element '#login')/click" '{}' >/dev/null
    sleep 2
    screenshot "$OUT/hub-fleet.png" || fail "no screenshot of the fleet page"
    driver POST "/session/$SESSION/url" "{\"url\":\"${HUB_URL}hosts/$HUB_HOST/logs/orders?stream=stdout\"}" >/dev/null
    sleep 4
    screenshot "$OUT/hub-log.png" || fail "no screenshot of the live log"
    driver DELETE "/session/$SESSION" >/dev/null
    kill "$DRIVER_PID" 2>/dev/null || :
    wait "$DRIVER_PID" 2>/dev/null || :
    DRIVER_PID=
    printf '     %s\n     %s\n' "$(echo "$OUT/hub-fleet.png" | shorten)" "$(echo "$OUT/hub-log.png" | shorten)"
    record "screenshots of the fleet and the live log" "artifacts/demo/" "$(elapsed_since "$t")"
}

update_by_itself() {
    step "Publish $B; the agent moves to it by itself"
    say "Now we publish $B. It is the same binary packaged again under a new version: the
keeper tells the agent which version folder it runs, so it stands in for the next build.
The agent polls every second and should download $B, verify it and ask the keeper to switch;
the keeper starts it on trial and commits it once it reports ready. Nobody logs in."
    cp "$BIN/belay-agent" "$W/agent-$B/belay-agent"
    t=$(now)
    package_and_publish "$B" "$W/agent-$B"
    say "Watching belay status --json (up to $WAIT_UPDATE s):"
    wait_for_version "$B" "" "$WAIT_UPDATE" || { tail -n 20 "$HOST/log/keeper.log" >&2; fail "the agent did not move to $B within $WAIT_UPDATE s"; }
    record "published $B; agent moved to it by itself" "on $B" "$(elapsed_since "$t")"
    say "The agent is on $B, committed after its trial. What the agent and the keeper wrote
about it (keeper.log holds both; the agent also writes agent.log):"
    grep -E "available|staged|asked the keeper|switching|committed" "$HOST/log/keeper.log" |
        shorten | sed 's/^/     /' | tail -n 12
}

rollback_by_itself() {
    step "Publish a broken $C; the keeper rolls back and marks it bad"
    say "Now we publish $C, whose belay-agent is a shell script that prints \"crashing on
purpose\" and exits 1. It is signed like any good release, so the agent stages it and the
keeper switches to it on trial. Each crash uses up one of 3 tries; then the keeper goes back
to $B by itself and lists $C as bad, never to be tried again."
    printf '#!/bin/sh\necho "crashing on purpose" >&2\nexit 1\n' >"$W/agent-$C/belay-agent"
    chmod 755 "$W/agent-$C/belay-agent"
    t=$(now)
    package_and_publish "$C" "$W/agent-$C"
    say "Watching belay status --json (up to $WAIT_ROLLBACK s):"
    wait_for_version "$B" "$C" "$WAIT_ROLLBACK" || { tail -n 30 "$HOST/log/keeper.log" >&2; fail "the keeper did not roll back from $C within $WAIT_ROLLBACK s"; }
    record "published broken $C; keeper rolled back" "on $B, $C bad" "$(elapsed_since "$t")"
    say "What the keeper wrote about the trial and the rollback ($HOST/log/keeper.log, shortened):"
    grep -E "switching|trial|try|committed|rolling back|marked bad|crash|exit" "$HOST/log/keeper.log" |
        shorten | sed 's/^/     /' | tail -n 25
    say "And belay status now:"
    run "$BIN/belay" status --prefix "$HOST"
}

rid_of_host() {
    # The RID the binaries were built for, from the folder name artifacts/publish/<rid>.
    RID=$(basename "$BIN")
    case "$RID" in
        linux-* | osx-* | freebsd-* | illumos-* | solaris-*) ;;
        *) fail "cannot tell the RID from $BIN; expected artifacts/publish/<rid>" ;;
    esac
}

emulation() {
    # Binaries for another CPU than this machine's (linux-arm64 on x86_64) run under emulation
    # (qemu-user through binfmt_misc; docs/platforms.md), many times slower than natively: a new
    # version gets longer to report ready, the waits are longer, and belay status (a second of
    # CPU under emulation) is asked every 2 s instead of every 0.5 s.
    EMULATED=
    TRIAL=10
    POLL_SLEEP=0.5
    INSTALL_WAIT=
    WAIT_UPDATE=60
    WAIT_ROLLBACK=90
    WAIT_APP=60
    WAIT_APP_BACK=90
    machine=$(uname -m)
    case $machine in
        x86_64 | amd64) cpu=x64 ;;
        aarch64 | arm64) cpu=arm64 ;;
        *) cpu=$machine ;;
    esac
    case $RID in
        *-"$cpu") return 0 ;;
    esac
    EMULATED=1
    TRIAL=60
    POLL_SLEEP=2
    INSTALL_WAIT=240s
    WAIT_UPDATE=240
    WAIT_ROLLBACK=300
    WAIT_APP=240
    WAIT_APP_BACK=300
    say "The binaries are for $RID and this machine is $machine: they run under emulation,
many times slower than natively, so a new version gets $TRIAL s to report ready instead of
10 s, and the waits below are longer."
}

main() {
    set -eu
    check_inputs "$@"
    STEP_NO=0
    SUMMARY=
    SERVER_PID=
    HUB_PID=
    DRIVER_PID=
    HOST=
    START=$(now)
    W=$(mktemp -d "${TMPDIR:-/tmp}/belay-demo.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    FEED=$W/feed
    HOST=$W/host
    OUT=$REPO/artifacts/demo
    A=$("$BIN/belay-agent" --version)
    A=${A%%[[:space:]]*}
    B=$(next_patch "$A")
    C=$(next_patch "$B")
    mkdir "$W/agent-$B" "$W/agent-$C" "$W/packages" "$W/app-packages"
    rid_of_host
    APP=$REPO/artifacts/demo-app/$RID/hello
    if [ ! -x "$APP" ]; then
        # Binaries for another CPU (under emulation) still run a demo app built for this machine's.
        command -v cc >/dev/null 2>&1 || fail "$APP is missing and there is no cc to build it; ./build.sh demo-app builds it (./build.sh demo does)"
        APP=$W/hello-native
        cc -O2 -o "$APP" "$REPO/samples/hello-app/hello.c" || fail "cc could not build samples/hello-app/hello.c"
    fi
    APP_PORT=$((20000 + $$ % 20000))
    while "$APP" get "$APP_PORT" / >/dev/null 2>&1; do APP_PORT=$((APP_PORT + 1)); done
    say "Belay demo: install (enrolled with a hub), watch it on the hub, update by itself, roll
back by itself; then deploy an app, update it, roll a bad release of it back by itself, and
deliver a secret. Agent $A, then $B, then a broken $C; app hello 1.0.0, 1.1.0, then a broken
1.2.0. The work folder \$W is $W (removed at the end); the binaries come from $BIN."
    emulation
    HUB_URL=
    if [ -n "$EMULATED" ] && [ ! -x "$BIN/belay-hub" ]; then
        say "There is no belay-hub for $RID: the hub is built for this machine's RID only (it links
this machine's libsqlite3.a), so the hub's part of the demo is left out of this run."
        WITH_HUB=
    else
        [ -x "$BIN/belay-hub" ] || fail "$BIN/belay-hub is missing; run ./build.sh publish first"
        WITH_HUB=1
    fi
    make_feed
    [ -z "$WITH_HUB" ] || start_hub
    install_agent
    if [ -n "$WITH_HUB" ]; then
        show_in_hub
        tail_through_hub
        hub_screenshots
    fi
    update_by_itself
    rollback_by_itself
    if [ -n "$EMULATED" ]; then
        say "Under emulation the app part (deploy, update, a rollback, a secret) is left out: it
takes many minutes more there. The same binaries for this machine's CPU show it (./build.sh demo)."
    else
        first_app
        update_app
        bad_app
        secret_app
    fi
    step "Summary"
    printf '  %-46s %-22s %8s\n' "what happened" "result" "time"
    printf '%s' "$SUMMARY"
    printf '  %-46s %-22s %6s s\n' "total, from start to summary" "" "$(elapsed_since "$START")"
    say ""
    say "Cleaning up: belay uninstall --purge stops the keeper and the agent and removes the
install; the feed server and the hub are stopped and the work folder removed. The
screenshots stay in artifacts/demo/."
}

main "$@"
