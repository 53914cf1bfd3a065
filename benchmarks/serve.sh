#!/bin/sh
# The feed server under load: `belay-release serve` beside nginx (the production reference) and,
# with --baseline, another belay-release binary (an older build, to compare before and after a
# change), in one run, with the same wrk load against the same files:
#
#   sh benchmarks/serve.sh [--bin artifacts/publish/linux-x64] [--baseline PATH/belay-release]
#                          [--duration 10] [--rounds 3] [--out benchmarks/results]
#
# Three loads, each for --duration seconds, 2 wrk threads:
#   poll      64 connections revalidating channels/stable.json with its ETag: every answer a 304
#             (what a fleet of agents costs between releases);
#   small     64 connections fetching root.json (1 KB): 200s;
#   download  8 connections fetching a 5 MB agent archive: the transfer rate.
# The servers take turns (round 1: each server each load, then round 2, ...), so that a machine
# whose load drifts affects them alike; the report gives the median of the rounds, and the CPU
# time the server process used per 1,000 requests (from /proc). Every server writes its access
# log to a file, as it would in use. Needs nginx, wrk and curl (sh scripts/install-deps.sh bench).
# Writes benchmarks/results/DATE-serve.md and prints it; exits 0 whatever the figures.
set -eu
cd "$(dirname "$0")/.."

BIN=artifacts/publish/linux-x64
BASELINE=""
DURATION=10
ROUNDS=3
OUT=benchmarks/results
COMMAND="sh benchmarks/serve.sh $*"
while [ $# -gt 0 ]; do
    case $1 in
        --bin) BIN=$2; shift 2 ;;
        --baseline) BASELINE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "serve-bench: unknown option $1" >&2; exit 2 ;;
    esac
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk curl "$NGINX" "$BIN/belay-release" ${BASELINE:+"$BASELINE"}; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] ||
        { echo "serve-bench: missing $tool (sh scripts/install-deps.sh bench; ./build.sh publish)" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/belay-serve-bench.XXXXXX")
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT INT TERM
say() { echo "serve-bench: $*" >&2; }

# The feed: the files an agent asks for, with their usual sizes.
FEED=$W/feed
ARCHIVE=agent/1.0.0/belay-agent-1.0.0-linux-x64.tar.gz
mkdir -p "$FEED/channels" "$FEED/agent/1.0.0"
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
printf '{"keys":"%s"}\n' "$(hex 500)" >"$FEED/root.json"
printf '{"releases":"%s"}\n' "$(hex 1000)" >"$FEED/channels/stable.json"
head -c 5000000 /dev/urandom >"$FEED/$ARCHIVE"
touch -d '1 hour ago' "$FEED/root.json" "$FEED/channels/stable.json" "$FEED/$ARCHIVE"

# start_belay NAME BINARY: `serve` on a free port; sets URL_<NAME> and PID_<NAME>.
start_belay() {
    "$2" serve --feed "$FEED" --listen 127.0.0.1:0 >"$W/$1.log" 2>&1 &
    pid=$!
    PIDS="$PIDS $pid"
    tries=0
    url=""
    while [ -z "$url" ]; do
        url=$(sed -n '1s|^serving .* at \(http://[^ ]*\) .*|\1|p' "$W/$1.log")
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || { cat "$W/$1.log" >&2; say "$2 serve did not start"; exit 1; }
        [ -n "$url" ] || sleep 0.05
    done
    eval "URL_$1=\$url PID_$1=\$pid"
}

# nginx with docs/feed.md's configuration (as benchmarks/Belay.Bench/Nginx.cs), one worker.
start_nginx() {
    port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 20000) }')
    mkdir -p "$W/nginx"
    cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_rlimit_nofile 16384;
pid "$W/nginx/nginx.pid";
lock_file "$W/nginx/nginx.lock";
error_log "$W/nginx/error.log" warn;
events { worker_connections 8192; }
http {
    access_log "$W/nginx.log" combined buffer=64k flush=1s;
    client_body_temp_path "$W/nginx/client_body";
    proxy_temp_path "$W/nginx/proxy";
    fastcgi_temp_path "$W/nginx/fastcgi";
    uwsgi_temp_path "$W/nginx/uwsgi";
    scgi_temp_path "$W/nginx/scgi";
    keepalive_requests 100000;
    map \$uri \$belay_cache_control {
        ~\.json(\.minisig)?\$          "no-cache";
        ~^/(agent|bootstrap)/[^/]+/   "public, max-age=31536000, immutable";
        default                       "no-cache";
    }
    server {
        listen 127.0.0.1:$port;
        root "$FEED";
        sendfile on;
        tcp_nopush on;
        types {
            application/json    json;
            text/plain          minisig txt sh ps1;
            application/gzip    gz tgz;
        }
        default_type application/octet-stream;
        charset utf-8;
        charset_types text/plain;
        etag on;
        gzip on;
        gzip_types application/json text/plain;
        add_header Cache-Control \$belay_cache_control;
        add_header X-Content-Type-Options nosniff;
        location / { try_files \$uri =404; }
        location ~ /\. { return 404; }
    }
}
EOF
    "$NGINX" -c "$W/nginx/nginx.conf" -p "$W/nginx" 2>"$W/nginx/stderr" &
    PID_nginx=$!
    PIDS="$PIDS $PID_nginx"
    URL_nginx="http://127.0.0.1:$port/"
    tries=0
    until curl -fso /dev/null "${URL_nginx}root.json"; do
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || { cat "$W/nginx/stderr" >&2; say "nginx did not start"; exit 1; }
        sleep 0.05
    done
}

SERVERS="kestrel"
start_belay kestrel "$BIN/belay-release"
if [ -n "$BASELINE" ]; then
    SERVERS="$SERVERS baseline"
    start_belay baseline "$BASELINE"
fi
SERVERS="$SERVERS nginx"
start_nginx

# Each server's own ETag for the manifest, and a check that it answers 304 to it.
for s in $SERVERS; do
    eval "url=\$URL_$s"
    etag=$(curl -fsI "${url}channels/stable.json" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
    code=$(curl -so /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "${url}channels/stable.json")
    [ "$code" = 304 ] || { say "$s answers $code, not 304, to its own ETag $etag"; exit 1; }
    eval "ETAG_$s=\$etag"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run SERVER LOAD ROUND: one wrk run; appends "server load round req/s MB/s p50ms p99ms cpu_ms_per_1000" to results.
run() {
    eval "url=\$URL_$1 pid=\$PID_$1 etag=\$ETAG_$1"
    case $2 in
        poll) set -- "$1" "$2" "$3" -c64 -H "If-None-Match: $etag" "${url}channels/stable.json" ;;
        small) set -- "$1" "$2" "$3" -c64 "${url}root.json" ;;
        download) set -- "$1" "$2" "$3" -c8 "${url}$ARCHIVE" ;;
    esac
    server=$1 load=$2 round=$3
    shift 3
    before=$(cpu_ticks "$pid")
    wrk -t2 -d"${DURATION}s" --latency "$@" >"$W/wrk.out" 2>&1 || { cat "$W/wrk.out" >&2; say "wrk failed against $server"; exit 1; }
    after=$(cpu_ticks "$pid")
    awk -v server="$server" -v load="$load" -v round="$round" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        function mb(v) { if (v ~ /GB$/) return v * 1024; if (v ~ /MB$/) return v + 0; if (v ~ /KB$/) return v / 1024; return v / 1048576 }
        /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 } /^Transfer\/sec:/ { rate = mb($2) }
        /Non-2xx or 3xx/ { bad = $NF }
        END {
            if (bad > 0) { print "serve-bench: " server " " load ": " bad " answers were not 2xx/3xx" > "/dev/stderr" }
            printf "%s %s %s %.0f %.1f %.2f %.2f %.1f\n", server, load, round, rps, rate, p50, p99, (requests > 0 ? ticks * 1000 / hz * 1000 / requests : 0)
        }' "$W/wrk.out" >>"$W/results"
    say "round $round $server $load: $(tail -1 "$W/results" | cut -d' ' -f4) req/s"
}

say "servers: $SERVERS; $ROUNDS rounds of 3 loads x ${DURATION}s each"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    for load in poll small download; do
        for s in $SERVERS; do run "$s" "$load" "$round"; done
    done
    round=$((round + 1))
done

# The report: medians over the rounds.
median() { # median SERVER LOAD FIELD
    awk -v s="$1" -v l="$2" -v f="$3" '$1 == s && $2 == l { print $f }' "$W/results" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
label() {
    case $1 in
        kestrel) echo "belay-release serve ($("$BIN/belay-release" --version 2>/dev/null | head -1), Kestrel)" ;;
        baseline) echo "baseline: $BASELINE" ;;
        nginx) echo "nginx $("$NGINX" -v 2>&1 | sed 's|.*nginx/||'), 1 worker" ;;
    esac
}
date=$(date -u +%Y-%m-%d)
mkdir -p "$OUT"
report=$OUT/$date-serve.md
{
    echo "# Feed server under load, $date"
    echo
    echo "\`$COMMAND\` on $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)),"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2) with 2 threads on the same machine."
    echo "Median of $ROUNDS rounds of ${DURATION} s per load; the servers took turns within each round."
    echo
    for s in $SERVERS; do
        size=$(wc -c <"$([ "$s" = kestrel ] && echo "$BIN/belay-release" || { [ "$s" = baseline ] && echo "$BASELINE" || echo "$NGINX"; })")
        echo "- **$s**: $(label "$s"); $size bytes"
    done
    echo
    echo "| load | server | requests/s | MB/s | p50 ms | p99 ms | server CPU ms per 1,000 requests |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for load in poll small download; do
        for s in $SERVERS; do
            echo "| $load | $s | $(median "$s" "$load" 4) | $(median "$s" "$load" 5) | $(median "$s" "$load" 6) | $(median "$s" "$load" 7) | $(median "$s" "$load" 8) |"
        done
    done
    echo
    echo "Loads: **poll** is 64 connections sending If-None-Match with the server's own ETag for"
    echo "channels/stable.json (every answer 304); **small** is 64 connections fetching root.json"
    echo "(about 1 KB, 200); **download** is 8 connections fetching a 5 MB agent archive. Every"
    echo "server logs each request to a file. Every round:"
    echo
    echo '```'
    cat "$W/results"
    echo '```'
    for s in $SERVERS; do
        eval "pid=\$PID_$s"
        echo
        echo "$s peak resident memory: $(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$pid/status")"
    done
} >"$report"
cat "$report"
say "report: $report"
