#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# versions.sh GUESTMEM [CORPUS] - dumps as other QEMU versions print them,
# any size, and `guestmem annotate` on generated cases.
#
# From the built-in board's dump and, when CORPUS (the shared corpus) is
# there, a few real machines, dump-variant.py writes what other QEMU
# versions or options print for the same machine: CRLF or LF, the proposed
# tree drawings (|-- / `-- in 4 or 3 columns, ├── / └── / │), `-o` owner
# suffixes, one tree per address space (QEMU before groups), `(prio N, RW)`
# attributes (QEMU before type names). Each must import to the same flat
# views (per space for the ungrouped form; with a warning for RW). The
# dumps in dumps/ check RAM of any size, regions in no container, the
# `order` annotation, QEMU 11's own `container`, old `-f` output, the
# plain-dump warning and annotate's command line; a deep board checks
# nesting. Ends with `N passed, N failed`; 77 (skip) without python3.
set -u

exe=${1:?usage: versions.sh GUESTMEM [CORPUS]}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${2:-$here/../../../shared/conformance}
dumps=$here/dumps
variant=(python3 "$here/dump-variant.py")

if ! command -v python3 >/dev/null; then
    echo "python3 not found: skipped"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

result() {
    if [ "$2" -eq 0 ] && ! grep -qE 'Sanitizer|runtime error' "$tmp/err" \
        2>/dev/null; then
        echo "ok $1"
        passed=$((passed + 1))
    else
        echo "not ok $1"
        [ -s "$tmp/err" ] && sed 's/^/# /' "$tmp/err" | head -10
        failed=$((failed + 1))
    fi
}

# Flat views per address space: `AS<TAB>range` lines, sorted, so that the
# grouping of spaces into views does not count.
per_space() {
    awk '
        /^FlatView #/ { n = 0; delete as; next }
        /^ AS "/ { as[n++] = $0; next }
        /^ Root memory region:/ { next }
        /^  / { for (i = 0; i < n; i++) print as[i] "\t" $0 }
    ' "$1" | LC_ALL=C sort
}

# The machines to rewrite.
"$exe" mtree -D --annotate --builtin >"$tmp/board.txt" 2>"$tmp/err"
bases=("$tmp/board.txt")
for c in x86-q35-2G-running arm-mps2-an505 aarch64-virt-a57 ppc64-pseries; do
    [ -f "$corpus/qemu/$c/mtree_annotated.txt" ] &&
        bases+=("$corpus/qemu/$c/mtree_annotated.txt")
done

for base in "${bases[@]}"; do
    name=$(basename "$(dirname "$base")")
    [ "$base" = "$tmp/board.txt" ] && name=board
    "$exe" mtree -f "$base" >"$tmp/base.f" 2>"$tmp/err"
    "$exe" mtree -D --annotate "$base" >"$tmp/base.D" 2>>"$tmp/err"
    for v in crlf lf ascii4 ascii3 utf8 owners; do
        "${variant[@]}" "$v" "$base" >"$tmp/v.txt" 2>"$tmp/err" &&
            "$exe" mtree -f "$tmp/v.txt" >"$tmp/v.f" 2>>"$tmp/err" &&
            cmp -s "$tmp/base.f" "$tmp/v.f" &&
            "$exe" mtree -D --annotate "$tmp/v.txt" >"$tmp/v.D" 2>>"$tmp/err" &&
            cmp -s "$tmp/base.D" "$tmp/v.D"
        result "$name-$v" $?
    done
    "${variant[@]}" ungrouped "$base" >"$tmp/v.txt" 2>"$tmp/err" &&
        "$exe" mtree -f "$tmp/v.txt" >"$tmp/v.f" 2>>"$tmp/err" &&
        diff <(per_space "$tmp/base.f") <(per_space "$tmp/v.f") >>"$tmp/err"
    result "$name-ungrouped" $?
    "${variant[@]}" rwflags "$base" >"$tmp/v.txt" 2>"$tmp/err" &&
        "$exe" mtree -f "$tmp/v.txt" >"$tmp/v.f" 2>"$tmp/err2" &&
        grep -q 'old `RW` attributes' "$tmp/err2"
    result "$name-rwflags" $?
done

# Dumps whose flat views are known.
for f in big-ram unplaced-root order-print order-token; do
    "$exe" mtree -f "$dumps/$f.txt" >"$tmp/out" 2>"$tmp/err" &&
        diff "$dumps/$f.flat" "$tmp/out" >>"$tmp/err"
    result "flat-$f" $?
done
# A region in no container keeps its line's address and priority.
"$exe" mtree -D "$dumps/unplaced-root.txt" >"$tmp/out" 2>"$tmp/err" &&
    grep -q '^  0000000000042000-0000000000042fff (prio 7, ram): lonely$' \
        "$tmp/out"
result unplaced-root-tree $?
# RAM of any size in a board: nothing is allocated.
printf 'container system 16E\nram huge 16E\nmap system 0 huge\nspace memory system\n' \
    >"$tmp/huge.board"
"$exe" mtree -f "$tmp/huge.board" >"$tmp/out" 2>"$tmp/err" &&
    grep -q '0000000000000000-ffffffffffffffff (prio 0, ram): huge' "$tmp/out"
result board-16E-ram $?

# A plain dump: one warning naming the guesses and pointing at annotate.
"$exe" mtree -f "$dumps/plain-order.txt" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c 'warning: a plain' "$tmp/err")" -eq 1 ] &&
    grep -q 'containers: system (line 2)' "$tmp/err" &&
    grep -q 'guestmem annotate' "$tmp/err"
result plain-warning $?
"$exe" mtree -f "$dumps/order-print.txt" >"$tmp/out" 2>"$tmp/err" &&
    [ ! -s "$tmp/err" ]
result annotated-no-warning $?

# annotate decides from the flat views (its exit status is its check).
for c in "plain-order plain-order" "qemu11 qemu11" "qemu11 old-flat"; do
    set -- $c
    "$exe" annotate "$dumps/$1.txt" "$dumps/$2.flat" >"$tmp/ann" 2>"$tmp/err" &&
        grep -q 'reproduces' "$tmp/err" &&
        "$exe" mtree -f "$tmp/ann" >/dev/null 2>>"$tmp/err"
    result "annotate-$1-$2" $?
done
"$exe" annotate "$dumps/plain-order.txt" "$dumps/plain-order.flat" \
    >"$tmp/ann" 2>"$tmp/err" &&
    grep -q '(prio 0, i/o, order 4): right$' "$tmp/ann" &&
    grep -q '(prio 0, i/o, order 5): left$' "$tmp/ann" &&
    "$exe" mtree -f "$tmp/ann" 2>>"$tmp/err" | grep -v '^ AS\|^FlatView\|^ Root' |
    diff - <(grep -v '^ AS\|^FlatView\|^ Root' "$dumps/plain-order.flat") \
        >>"$tmp/err"
result annotate-order-written $?
# Against a flat view no annotation gives, annotate says so (exit 1).
sed 's/: reg$/: ghost/' "$dumps/plain-order.flat" >"$tmp/ghost.flat"
"$exe" annotate "$dumps/plain-order.txt" "$tmp/ghost.flat" \
    >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q 'differs from' "$tmp/err"
result annotate-mismatch $?
# QEMU 11's `container` is read as i/o, with a note.
"$exe" mtree -f "$dumps/qemu11.txt" >/dev/null 2>"$tmp/err" &&
    grep -q 'prints `container` for any region in no container' "$tmp/err"
result qemu11-note $?
# Annotate's command line.
"$exe" annotate --help >"$tmp/out" 2>"$tmp/err" &&
    grep -q '^usage: guestmem annotate DUMP \[QEMU_FLAT\]' "$tmp/out"
result annotate-help $?
"$exe" annotate >/dev/null 2>"$tmp/err"
[ $? -eq 2 ]
result annotate-no-args $?
"$exe" annotate a b c >/dev/null 2>"$tmp/err"
[ $? -eq 2 ]
result annotate-three-args $?
"$exe" annotate "$tmp" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'not a directory' "$tmp/err"
result annotate-directory $?
"$exe" annotate "$dumps/order-token.txt" >"$tmp/out" 2>"$tmp/err" &&
    cmp -s "$tmp/out" "$dumps/order-token.txt"
result annotate-already-annotated $?
"$exe" annotate - "$dumps/plain-order.flat" <"$dumps/plain-order.txt" \
    >"$tmp/out" 2>"$tmp/err" && grep -q 'reproduces' "$tmp/err"
result annotate-stdin $?
printf 'FlatView #0\n AS "memory", root: system\nbogus\n' >"$tmp/bad.flat"
"$exe" annotate "$dumps/plain-order.txt" "$tmp/bad.flat" >/dev/null \
    2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'bad.flat:3: expected' "$tmp/err"
result annotate-bad-flat $?

# Deep nesting: a board of 20,000 levels, and a tree drawing 200 deep.
awk 'BEGIN {
    n = 20000
    for (i = 0; i < n; i++) print "container c" i " 16E"
    for (i = 0; i + 1 < n; i++) print "map c" i " 0 c" i + 1
    print "ram r 4K"
    print "map c" n - 1 " 0x1000 r"
    print "space memory c0"
}' >"$tmp/deep.board"
"$exe" mtree -f "$tmp/deep.board" >"$tmp/out" 2>"$tmp/err" &&
    grep -q '0000000000001000-0000000000001fff (prio 0, ram): r$' "$tmp/out"
result deep-board $?
awk 'BEGIN {
    print "address-space: memory"
    for (i = 0; i < 200; i++) {
        s = ""
        for (j = 0; j < i; j++) s = s "  "
        printf "  %s0000000000000000-ffffffffffffffff (prio 0, container): c%d\n", s, i
    }
    printf "  %s0000000000001000-0000000000001fff (prio 0, ram): r\n", s "  "
}' >"$tmp/deep.txt"
"${variant[@]}" utf8 "$tmp/deep.txt" >"$tmp/deep-utf8.txt" &&
    "$exe" mtree -f "$tmp/deep-utf8.txt" >"$tmp/out" 2>"$tmp/err" &&
    "$exe" mtree -f "$tmp/deep.txt" | cmp -s - "$tmp/out"
result deep-tree-drawing $?

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
