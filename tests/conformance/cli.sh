#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli.sh GUESTMEM - the command line and the board format.
#
# Checks --help/--version, usage errors, every output mode on the built-in
# board (JSON parsed when python3 is present), a write error, the board
# examples under boards/, and that a dump printed with `-D --annotate` imports back to the
# same dump and the same flat views. Ends with `N passed, N failed`.
set -u

exe=${1:?usage: cli.sh GUESTMEM}
here=$(cd "$(dirname "$0")" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

result() {
    if [ "$2" -eq 0 ]; then
        echo "ok $1"
        passed=$((passed + 1))
    else
        echo "not ok $1"
        [ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | head -10
        failed=$((failed + 1))
    fi
}

# run NAME STATUS ARGS... -- expect exit STATUS and no sanitizer report.
run() {
    local name=$1 status=$2 rc
    shift 2
    "$exe" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    ! grep -qE 'Sanitizer|runtime error' "$tmp/err" && [ "$rc" -eq "$status" ]
    result "$name" $?
}

run help 0 --help
grep -q '^usage: guestmem mtree' "$tmp/out"
result help-text $?
run version 0 --version
grep -q '^guestmem [0-9]' "$tmp/out"
result version-text $?
run no-command 2
run unknown-command 2 frobnicate
run unknown-option 2 mtree --frob
run two-files 2 mtree a.txt b.txt

run default-tree 0 mtree
grep -q '^address-space: memory$' "$tmp/out" &&
    grep -q '^memory-region: pc.ram$' "$tmp/out"
result default-tree-text $?
run default-disabled 0 mtree -D
grep -q 'alias pam-ram @pc.ram .* \[disabled\]$' "$tmp/out"
result default-disabled-text $?
run default-flat 0 mtree -f
grep -q '^  No rendered FlatView$' "$tmp/out" &&
    grep -q '(prio 0, romd): pflash0$' "$tmp/out" &&
    grep -q '(prio 1, ramd): vfio-bar0$' "$tmp/out" &&
    grep -q '(prio 0, nv-ram): nvdimm0$' "$tmp/out" &&
    grep -q '(prio 0, rom): pc.bios @0000000000020000$' "$tmp/out"
result default-flat-text $?
run default-json 0 mtree --json
if command -v python3 >/dev/null; then
    python3 -c 'import json, sys; d = json.load(sys.stdin);
assert d["address_spaces"] and d["regions"]' <"$tmp/out" 2>"$tmp/err"
    result default-json-parses $?
fi

# A write error is reported (gm_mtree_print returns -EIO): status 1.
if [ -w /dev/full ]; then
    "$exe" mtree -f >/dev/full 2>"$tmp/err"
    [ $? -eq 1 ] && grep -q 'write error' "$tmp/err"
    result write-error $?
fi

# Our own annotated dump imports back to the same dump and flat views.
"$exe" mtree -D --annotate >"$tmp/d1" 2>"$tmp/err"
result annotate $?
"$exe" mtree -D --annotate "$tmp/d1" >"$tmp/d2" 2>"$tmp/err" &&
    cmp -s "$tmp/d1" "$tmp/d2"
result annotate-roundtrip $?
"$exe" mtree -f >"$tmp/f1" 2>"$tmp/err" &&
    "$exe" mtree -f "$tmp/d1" >"$tmp/f2" 2>>"$tmp/err" &&
    diff <(grep -v '^ AS ' "$tmp/f1") <(grep -v '^ AS ' "$tmp/f2") \
        >"$tmp/diff" && [ "$(grep -c '^ AS ' "$tmp/f1")" = \
        "$(grep -c '^ AS ' "$tmp/f2")" ]
result annotate-same-flat $?

# Board files.
for board in "$here"/boards/*.board; do
    name=$(basename "$board" .board)
    run "board-$name" 0 mtree -f "$board"
    if [ -f "$here/boards/$name.flat" ]; then
        diff "$here/boards/$name.flat" "$tmp/out" >"$tmp/err"
        result "board-$name-flat" $?
    fi
    "$exe" mtree -D --annotate "$board" >"$tmp/b1" 2>"$tmp/err" &&
        "$exe" mtree -D --annotate "$tmp/b1" >"$tmp/b2" 2>"$tmp/err" &&
        cmp -s "$tmp/b1" "$tmp/b2" &&
        "$exe" mtree -f "$tmp/b1" | diff - "$tmp/out" >"$tmp/err"
    result "board-$name-roundtrip" $?
done

# A plain (unannotated) QEMU dump still imports: `i/o` with children is
# taken for a container.
"$exe" mtree -D >"$tmp/plain.txt" 2>"$tmp/err"
result plain-dump $?
run plain-dump-import 0 mtree -f "$tmp/plain.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
