#!/bin/sh
# The benchmarks (benchmarks/README.md). ./build.sh bench [--quick] runs this after the NativeAOT
# publish and `sh scripts/install-deps.sh bench`; by hand, from anywhere:
#
#   sh benchmarks/bench.sh [--quick] [--bin artifacts/publish/<rid>] [--hosts N] [--window S] ...
#
# It builds the driver, benchmarks/Belay.Bench (not shipped, not in Belay.slnx, so ./build.sh test
# never builds it), into artifacts/bench/ and runs it. The driver writes
# benchmarks/results/DATE[-quick].md and its memory plot, and prints a summary. It exits 0 when it
# ran, whatever the figures: targets are reported as PASS or MISS, never as a failure.
set -eu
cd "$(dirname "$0")/.."

missing=""
for tool in nginx supervisord openssl curl xz gzip tar getconf; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    echo "bench: missing:$missing; run: sh scripts/install-deps.sh bench" >&2
    exit 1
fi

case " $* " in
    *" --command "*) set -- "$@" ;;
    *) set -- "$@" --command "sh benchmarks/bench.sh $*" ;;
esac

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p artifacts/bench
echo "bench: building benchmarks/Belay.Bench"
dotnet build benchmarks/Belay.Bench/Belay.Bench.csproj -c Release -o artifacts/bench -nologo >artifacts/bench/build.log 2>&1 ||
    { cat artifacts/bench/build.log; echo "bench: building benchmarks/Belay.Bench failed" >&2; exit 1; }
# The hubscale phase holds one socket per simulated agent in the driver and in a single hub
# (10,000 by default): raise the soft limit on open files to the hard one for both.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec dotnet artifacts/bench/Belay.Bench.dll --repo "$PWD" "$@"
