#!/bin/sh
# CPU per poll of running processes, to the microsecond, all their threads included (those that
# came and went too): each process is moved into a CPU-accounting cgroup of its own, and the
# group's counter is read at both ends of the window.
#
#   sudo sh benchmarks/cpu-per-poll.sh [--seconds 300] [--interval 10] NAME=PID [NAME=PID ...]
#
# The footprint bench counts CPU in clock ticks of 10 ms (utime + stime), which over a
# 10-minute window of an agent using ~2 ms a poll is 12-15 ticks: too coarse to compare two
# builds. Start the installations to compare side by side (for instance two footprint benches
# started together, or two `belay install`s from one feed), then give their agents' pids here;
# the figure is CPU over the window divided by the polls the interval makes in it (the
# interval's jitter averages out over a few minutes). A process started later by one of them
# (a hook, a program) lands in the same group. Needs root and cgroup v1's cpuacct or cgroup v2.
set -eu
SECONDS_=300
INTERVAL=10
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) SECONDS_=$2; shift 2 ;;
        --interval) INTERVAL=$2; shift 2 ;;
        *=*) break ;;
        *) echo "cpu-per-poll: unknown option $1 (NAME=PID expected)" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || { echo "cpu-per-poll: give at least one NAME=PID" >&2; exit 2; }

if [ -d /sys/fs/cgroup/cpuacct ] && [ -w /sys/fs/cgroup/cpuacct ]; then
    BASE=/sys/fs/cgroup/cpuacct
    usage() { cat "$1/cpuacct.usage"; } # nanoseconds
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && [ -w /sys/fs/cgroup ]; then
    BASE=/sys/fs/cgroup
    usage() { awk '$1 == "usage_usec" { print $2 * 1000 }' "$1/cpu.stat"; }
else
    echo "cpu-per-poll: no writable cpuacct (cgroup v1) or cgroup v2 hierarchy: run as root" >&2
    exit 1
fi

GROUPS_=""
for spec in "$@"; do
    name=${spec%%=*}
    pid=${spec#*=}
    [ -d "/proc/$pid" ] || { echo "cpu-per-poll: $name: no process $pid" >&2; exit 1; }
    group="$BASE/belay-cpu-$name-$$"
    mkdir "$group"
    echo "$pid" >"$group/cgroup.procs"
    GROUPS_="$GROUPS_ $name=$group"
done
cleanup() {
    for g in $GROUPS_; do
        dir=${g#*=}
        # Back to the root group, then the empty group can go.
        while read -r pid; do echo "$pid" >"$BASE/cgroup.procs" 2>/dev/null || true; done <"$dir/cgroup.procs"
        rmdir "$dir" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM

START=""
for g in $GROUPS_; do START="$START $(usage "${g#*=}")"; done
sleep "$SECONDS_"
# shellcheck disable=SC2086 # one word per group, split on purpose
set -- $START
for g in $GROUPS_; do
    name=${g%%=*}
    end=$(usage "${g#*=}")
    awk -v n="$name" -v s="$SECONDS_" -v i="$INTERVAL" -v a="$1" -v b="$end" 'BEGIN {
        polls = s / i; ms = (b - a) / 1e6
        printf "%s: %.1f ms of CPU in %d s (%.0f polls at %d s): %.2f ms a poll\n", n, ms, s, polls, i, ms / polls }'
    shift
done
