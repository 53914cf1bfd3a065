#!/usr/bin/env sh
# ./build.sh TARGET [--option=value ...]: restores the pinned Cake tool and runs build.cake.
# Targets: build, test, publish, package, feed, demo, bench, clean (see build.cake). Default: test.
set -eu
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet tool restore >/dev/null
target="${1:-test}"
[ $# -gt 0 ] && shift
exec dotnet tool run dotnet-cake build.cake --target="$target" "$@"
