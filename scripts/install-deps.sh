#!/usr/bin/env sh
# Installs what the build and the tests need on Debian/Ubuntu, when it is missing: the C
# toolchain and zlib that NativeAOT links with, and the real tools the tests run against.
# Run as root (CI) or with password-less sudo; otherwise it says what to install, and a
# test that needs a missing tool skips loudly (or fails, with BELAY_REQUIRE_TOOLS=1).
#
#   sh scripts/install-deps.sh            what `./build.sh test` needs
#   sh scripts/install-deps.sh cross      also the linux-arm64 cross toolchain and qemu-user
#                                         (`./build.sh publish-rids`)
#   sh scripts/install-deps.sh bench      also what `./build.sh bench` adds (benchmarks/README.md)
set -eu

missing=""
need() { # need PACKAGE TEST...
    pkg=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        missing="$missing $pkg"
    fi
}
has() { command -v "$1" || [ -x "/usr/sbin/$1" ]; }

need clang      sh -c 'command -v clang || command -v gcc'
need zlib1g-dev test -e /usr/include/zlib.h
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
for mode in "$@"; do
    case $mode in
        cross)  # NativeAOT for linux-arm64 links with clang and the aarch64 binutils and libc; qemu runs the result
            need clang sh -c 'command -v clang || ls /usr/bin/clang-[0-9]*'
            need gcc-aarch64-linux-gnu has aarch64-linux-gnu-gcc
            need binutils-aarch64-linux-gnu has aarch64-linux-gnu-objcopy
            need libc6-dev-arm64-cross test -e /usr/aarch64-linux-gnu/include/stdio.h
            need qemu-user has qemu-aarch64
            ;;
        bench)
            need supervisor has supervisord  # the footprint benchmark's side-by-side supervisor
            need xz-utils   has xz           # the size benchmark's xz -9 column
            need openssl    has openssl      # the CA and certificate for the benchmark's HTTPS feed
            ;;
        *)
            echo "deps: unknown mode '$mode' (known: cross, bench)" >&2
            exit 2
            ;;
    esac
done

if [ -z "$missing" ]; then
    echo "deps: all build and test tools present${1:+ (and for: $*)}"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    echo "deps: WARNING: missing packages:$missing" >&2
    echo "deps: install them with: sudo apt-get install -y$missing" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: WARNING: no apt-get here; install the equivalents of:$missing" >&2
    exit 0
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
# shellcheck disable=SC2086 # one word per package
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed$missing"
