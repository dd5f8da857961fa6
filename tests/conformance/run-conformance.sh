#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-conformance.sh GUESTMEM [CORPUS] - the QEMU conformance test.
#
# For every machine in CORPUS/qemu/*/ (default: ../shared/conformance next to
# the repository), rebuild the machine from its annotated `info mtree -D`
# dump and compare our `info mtree -f` with QEMU's:
#
#   guestmem mtree -f CASE/mtree_annotated.txt | check-flat CASE/flat.txt -
#
# Prints `ok CASE` or `not ok CASE` with the difference, then
# `N passed, N failed`; exits 1 on any failure, 77 (skip) without a corpus.
set -u

exe=${1:?usage: run-conformance.sh GUESTMEM [CORPUS]}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${2:-$here/../../../shared/conformance}

if [ ! -d "$corpus/qemu" ]; then
    echo "conformance corpus not found at $corpus: skipped"
    exit 77
fi
checkflat=("$corpus/check-flat")
[ -x "$corpus/check-flat" ] || checkflat=(python3 "$corpus/check-flat")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
for dir in "$corpus"/qemu/*/; do
    name=$(basename "$dir")
    if "$exe" mtree -f "$dir/mtree_annotated.txt" >"$tmp/out" 2>"$tmp/err" &&
        "${checkflat[@]}" "$dir/flat.txt" "$tmp/out" >"$tmp/diff" 2>&1; then
        echo "ok $name"
        passed=$((passed + 1))
    else
        echo "not ok $name"
        sed 's/^/# /' "$tmp/err" "$tmp/diff" 2>/dev/null | head -40
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
