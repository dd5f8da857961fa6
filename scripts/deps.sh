#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/deps.sh - install what guestmem needs on a Debian 12 machine.
#
# Checks each package with dpkg and installs only the missing ones, after a
# single `apt-get update`. When everything is present it runs no apt command
# at all, so `make` stays quick on a configured machine. Runs as root (CI
# does); otherwise it uses sudo when available, or names what is missing.
#
#   scripts/deps.sh          install what is missing
#   scripts/deps.sh --check  only report; exit 1 if something is missing
#   scripts/deps.sh --fuzz   also clang and libFuzzer (make fuzz)
set -euo pipefail

# Tools and libraries the build, tests and benchmarks use (README.md lists
# them too: keep both in step).
#   make                            the top-level Makefile
#   meson, ninja-build, pkg-config  build system (meson >= 0.63); pkg-config
#                                   also builds the examples as users would
#   liburcu-dev                     RCU for flat views (liburcu-bp)
#   python3                         the conformance comparer, JSON checks
#   libunicorn-dev                  CPU-emulator benchmarks
#   groff-base                      the man page check (groff -ww)
#   librsvg2-bin                    rsvg-convert: `make check` renders the
#                                   pictures of `guestmem map` to PNG
#   fonts-dejavu-core               the font those pictures name
# (python3's xml.etree parses the pictures; it is in the standard library.)
PACKAGES=(make meson ninja-build pkg-config liburcu-dev python3 libunicorn-dev
    groff-base librsvg2-bin fonts-dejavu-core)

check_only=0
for arg in "$@"; do
    case $arg in
    --check) check_only=1 ;;
    # clang and its runtime libraries (libFuzzer, sanitizers) for fuzz/
    --fuzz) PACKAGES+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: $0 [--check] [--fuzz]" >&2; exit 2 ;;
    esac
done

installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

missing=()
# A C compiler with libc headers: build-essential, or gcc plus libc6-dev.
if ! installed build-essential && ! { installed gcc && installed libc6-dev; }
then
    missing+=(build-essential)
fi
for p in "${PACKAGES[@]}"; do
    if ! installed "$p"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$check_only" -eq 1 ]; then
    echo "deps: missing packages: ${missing[*]}" >&2
    exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: apt-get not found; please install: ${missing[*]}" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "deps: not root and no sudo; please install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
