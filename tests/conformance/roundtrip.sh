#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# roundtrip.sh GUESTMEM [CORPUS] - import and print back every dump.
#
# `guestmem mtree -D --annotate CASE/mtree_annotated.txt` must reproduce the
# input, modulo CRLF line ends and the order of the `address-space:` groups
# (QEMU prints them in hash order), which are compared as a multiset; the
# `memory-region:` sections must come in the same order. Cases listed in
# roundtrip-known.txt (with the reason) may differ and are reported as
# `ok CASE # known difference`. Ends with `N passed, N failed`.
set -u

exe=${1:?usage: roundtrip.sh GUESTMEM [CORPUS]}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${2:-$here/../../../shared/conformance}

if [ ! -d "$corpus/qemu" ]; then
    echo "conformance corpus not found at $corpus: skipped"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One record per blank-line separated block: groups sorted as a multiset,
# sections numbered so that their order counts.
normalize() {
    awk '
        function flush() {
            if (block == "") {
                return
            }
            if (block ~ /^address-space: /) {
                print "G " block
            } else {
                printf "S %06d %s\n", ++nsec, block
            }
            block = ""
        }
        { sub(/\r$/, "") }
        $0 == "" { flush(); next }
        { block = block (block == "" ? "" : "\037") $0 }
        END { flush() }
    ' "$1" | LC_ALL=C sort
}

known() {
    [ -f "$here/roundtrip-known.txt" ] &&
        grep -v '^#' "$here/roundtrip-known.txt" | grep -q "^$1 "
}

passed=0
failed=0
for dir in "$corpus"/qemu/*/; do
    name=$(basename "$dir")
    in=$dir/mtree_annotated.txt
    if ! "$exe" mtree -D --annotate "$in" >"$tmp/out" 2>"$tmp/err"; then
        echo "not ok $name"
        sed 's/^/# /' "$tmp/err" | head -20
        failed=$((failed + 1))
        continue
    fi
    normalize "$in" >"$tmp/a"
    normalize "$tmp/out" >"$tmp/b"
    if cmp -s "$tmp/a" "$tmp/b"; then
        echo "ok $name"
        passed=$((passed + 1))
    elif known "$name"; then
        echo "ok $name # known difference: $(grep "^$name " \
            "$here/roundtrip-known.txt" | cut -d' ' -f2-)"
        passed=$((passed + 1))
    else
        echo "not ok $name"
        diff "$tmp/a" "$tmp/b" | tr '\037' '\n' | sed 's/^/# /' | head -40
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
