#!/bin/sh
# The methods the keeper's and the agent's steady loops run, as ILC order files
# (keeper/belay-keeper.order, agent/belay-agent.order; docs/architecture.md, "Footprint"):
#
#   sh benchmarks/order-profile.sh [--bin artifacts/publish/linux-x64] [--keys .keys] [--minutes 5]
#
# NativeAOT lays methods out in the order the order file gives, then the rest. Once start-up
# is over both processes give the kernel back their executables' pages (StartupPages), and
# what the steady loop then touches faults back in 64 KiB around each touch: with its methods
# scattered over the whole image that was most of the code; listed first, they share a few
# windows. This installs the binaries from a local HTTPS feed (nginx, a CA made for the run)
# with one supervised program, as the footprint bench does, runs each process under callgrind,
# zeroes the counts once it is ready and has polled, and keeps every function that ran in the
# next --minutes. Names the next build does not have are ignored by ILC, so a stale file costs
# only locality. Needs valgrind, nginx and openssl (sh scripts/install-deps.sh bench).
set -eu
export LC_ALL=C # join and sort agree on the order of names
cd "$(dirname "$0")/.."
REPO=$PWD
BIN=artifacts/publish/linux-x64
KEYS=.keys
MINUTES=5
while [ $# -gt 0 ]; do
    case $1 in
        --bin) BIN=$2; shift 2 ;;
        --keys) KEYS=$2; shift 2 ;;
        --minutes) MINUTES=$2; shift 2 ;;
        *) echo "order-profile: unknown option $1" >&2; exit 2 ;;
    esac
done
BIN=$(cd "$BIN" && pwd)
KEYS=$(cd "$KEYS" && pwd)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in valgrind callgrind_control openssl objcopy nm "$NGINX"; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || { echo "order-profile: $tool is missing (sh scripts/install-deps.sh bench)" >&2; exit 1; }
done
for f in belay belay-agent belay-agent.dbg belay-keeper.dbg belay-release; do
    [ -f "$BIN/$f" ] || { echo "order-profile: $BIN/$f is missing: ./build.sh publish first" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/belay-order-XXXXXX")
chmod 755 "$W" # nginx's workers read the feed in it
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    for host in "$W/agent-host" "$W/keeper-host"; do
        if [ -f "$host/var/keeper.pid" ]; then kill "$(cat "$host/var/keeper.pid")" 2>/dev/null || true; fi
    done
    if [ -f "$W/nginx.pid" ]; then kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; fi
    sleep 1
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
say() { printf 'order-profile: %s\n' "$*" >&2; }

# --- an HTTPS feed on loopback -------------------------------------------------------------
mkdir -p "$W/tls" "$W/feed" "$W/agent"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/tls/ca.key" -out "$W/tls/ca.crt" -days 2 -subj /CN=belay-order-ca 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$W/tls/srv.key" -out "$W/tls/srv.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$W/tls/ext"
openssl x509 -req -in "$W/tls/srv.csr" -CA "$W/tls/ca.crt" -CAkey "$W/tls/ca.key" -CAcreateserial -out "$W/tls/srv.crt" -days 2 -extfile "$W/tls/ext" 2>/dev/null
"$BIN/belay-release" init --feed "$W/feed" --root-key "$KEYS/root.key" --release-key "$KEYS/release.pub" --deploy-key "$KEYS/deploy.pub" >/dev/null
cp "$BIN/belay-agent" "$W/agent/belay-agent"
"$BIN/belay-release" package --rid linux-x64 --version 1.0.0 --input "$W/agent" --out "$W/packages" >/dev/null
"$BIN/belay-release" publish --feed "$W/feed" --version 1.0.0 --artifact "linux-x64=$W/packages/belay-agent-1.0.0-linux-x64.tar.gz" --key "$KEYS/release.key" >/dev/null
# The footprint bench's app (benchmarks/Belay.Bench/BenchFeed.cs), so that the group document's poll and a
# supervised app are in the profile as they are in the bench and on a host that runs apps.
mkdir -p "$W/app/bin" "$W/app/hooks"
printf '[app]\nexec = bin/app\nstop_timeout = 5s\n[hooks]\npre_start = hooks/ok.sh\npost_start = hooks/ok.sh\n[health]\ncommand = hooks/ok.sh\ninterval = 200ms\nhealthy_for = 1s\ndeadline = 60s\n' >"$W/app/belay-app.conf"
printf '#!/bin/sh\nexec sleep 100000\n' >"$W/app/bin/app"
printf '#!/bin/sh\nexit 0\n' >"$W/app/hooks/ok.sh"
chmod 755 "$W/app/bin/app" "$W/app/hooks/ok.sh"
"$BIN/belay-release" app package "$W/app" --name bench --version 1.0.0 --rid linux-x64 --out "$W/app-packages" >/dev/null
"$BIN/belay-release" deploy --feed "$W/feed" --group default --app bench --version 1.0.0 \
    --artifact "linux-x64=$W/app-packages/bench-1.0.0-linux-x64.tar.gz" --key "$KEYS/deploy.key" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$W/nginx.conf" <<NGINX
daemon on;
pid $W/nginx.pid;
error_log $W/nginx.err;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$PORT ssl;
        ssl_certificate $W/tls/srv.crt;
        ssl_certificate_key $W/tls/srv.key;
        root $W/feed;
    }
}
NGINX
"$NGINX" -c "$W/nginx.conf" -p "$W" -e "$W/nginx.err"
export SSL_CERT_FILE="$W/tls/ca.crt"

# --- two installations: one whose agent runs under callgrind, one whose keeper does --------
install_host() {
    mkdir -p "$1/etc"
    printf '[program:sleeper]\ncommand = sleep 100000\n' >"$1/etc/programs.conf"
    chmod 600 "$1/etc/programs.conf"
    "$BIN/belay" install --feed "https://127.0.0.1:$PORT/" --scope user --prefix "$1" --service-manager none --poll-interval 10s >"$1.install.log" 2>&1 ||
        { cat "$1.install.log" >&2; exit 1; }
    # Stop its keeper (the agent follows it): the process to profile is started again below.
    kill "$(cat "$1/var/keeper.pid")"
    tries=0
    while [ -f "$1/var/keeper.pid" ] && [ "$tries" -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
}

# symbols NAME: a copy of the executable whose debug link names a symbol table valgrind reads
# (valgrind 3.19 refuses NativeAOT's DWARF, so the .dbg is stripped of it first).
symbols() {
    mkdir -p "$W/syms"
    objcopy --strip-debug "$BIN/$1.dbg" "$W/syms/$1.dbg"
    objcopy --remove-section=.gnu_debuglink "$2" "$W/syms/$1"
    objcopy --add-gnu-debuglink="$W/syms/$1.dbg" "$W/syms/$1"
    chmod 755 "$W/syms/$1"
}

profile() { # profile NAME PID LOG: zero when LOG says ready (start-up's pages go back then), then count for MINUTES
    tries=0
    until grep -q ' ready' "$3" 2>/dev/null; do
        sleep 0.2
        tries=$((tries + 1))
        kill -0 "$2" 2>/dev/null || { say "$1 under callgrind exited"; cat "$3" >&2; exit 1; }
        [ "$tries" -lt 1500 ] || { say "$1 was not ready within 300 s under callgrind"; exit 1; }
    done
    callgrind_control -z "$2" >/dev/null 2>&1
    say "$1: counting what runs for $MINUTES minute(s)"
}

install_host "$W/agent-host"
install_host "$W/keeper-host"
symbols belay-agent "$W/agent-host/versions/1.0.0/belay-agent"
cp "$W/keeper-host/bin/belay-keeper" "$W/keeper-copy"
symbols belay-keeper "$W/keeper-copy"

# The agent on its own (no keeper: the keeper would restart it as too slow to start under valgrind).
valgrind --tool=callgrind --callgrind-out-file="$W/agent.cg" "$W/syms/belay-agent" run --config "$W/agent-host/etc/config.json" >"$W/agent.vg" 2>&1 &
AGENT=$!
PIDS="$AGENT"
# The keeper, with its agent started natively by it.
valgrind --tool=callgrind --callgrind-out-file="$W/keeper.cg" "$W/syms/belay-keeper" --config "$W/keeper-host/etc/config.json" --log "$W/keeper-host/log/keeper.log" >"$W/keeper.vg" 2>&1 &
KEEPER=$!
PIDS="$PIDS $KEEPER"
profile agent "$AGENT" "$W/agent-host/log/agent.log"
profile keeper "$KEEPER" "$W/keeper-host/log/keeper.log"
# One dump a minute (each holds what ran since the one before): a method's rank is the number of minutes it ran in.
minute=0
while [ "$minute" -lt "$MINUTES" ]; do
    sleep 60
    callgrind_control -d "$AGENT" >/dev/null 2>&1
    callgrind_control -d "$KEEPER" >/dev/null 2>&1
    minute=$((minute + 1))
done
sleep 2

# order NAME DUMP OUT: every function the dumps name that the executable's symbol table has, those that ran in the
# most minutes first (then by name). Callgrind names a function once per dump file, so each file is read on its own.
# What an idle process runs at every poll or every minute comes first and shares a few 64 KiB windows; what ran
# once (the end of start-up, a deploy) comes after it, so that it does not spread the steady loop's pages.
order() {
    nm --defined-only "$BIN/$1.dbg" | awk '$2 ~ /^[tT]$/ { print $1, $3 }' >"$W/$1.addrs"
    awk '{ print $2 }' "$W/$1.addrs" | sort -u >"$W/$1.syms"
    for dump in "$2".*; do
        sed -n 's/^c\{0,1\}fn=([0-9]*) //p' "$dump" | sed "s/'[0-9]*\$//" | sort -u
    done | sort | uniq -c | awk '{ print $2, $1 }' | sort -k1,1 >"$W/$1.ran"
    {
        echo "# Methods the $1 steady loop ran in $MINUTES one-minute windows, those that ran in the most windows first (benchmarks/order-profile.sh); ILC lays them out in this order."
        # Each name is followed by the other names of the same code (a [RuntimeExport]'s alias, e.g.
        # ProcessFinalizers): callgrind reports one of them, and ILC knows a method only by its own.
        join "$W/$1.syms" "$W/$1.ran" | sort -k2,2nr -k1,1 | awk -v map="$W/$1.addrs" '
            BEGIN { while ((getline line < map) > 0) { split(line, f, " "); at[f[2]] = f[1]; names[f[1]] = names[f[1]] " " f[2] } }
            { n = split(names[at[$1]], same, " "); if (!seen[$1]++) print $1; for (i = 1; i <= n; i++) if (!seen[same[i]]++) print same[i] }'
    } >"$3"
    say "$3: $(($(wc -l <"$3") - 1)) methods, $(join "$W/$1.syms" "$W/$1.ran" | awk -v m="$MINUTES" '$2 >= m' | wc -l) of them in every minute"
}
order belay-agent "$W/agent.cg" "$REPO/agent/belay-agent.order"
order belay-keeper "$W/keeper.cg" "$REPO/keeper/belay-keeper.order"
