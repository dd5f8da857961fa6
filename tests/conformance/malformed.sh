#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# malformed.sh GUESTMEM - bad inputs are refused cleanly.
#
# Each file in malformed/ must make `guestmem mtree FILE` exit with status 2
# and print `FILE:LINE: expected ...` naming the offending line (no crash,
# no sanitizer report). A missing file must also exit 2 with a message.
# Ends with `N passed, N failed`.
set -u

exe=${1:?usage: malformed.sh GUESTMEM}
here=$(cd "$(dirname "$0")" && pwd)
dir=$here/malformed

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0

# expect NAME STATUS PATTERN -- run guestmem mtree on NAME and check
# the exit status and that stderr contains PATTERN.
expect() {
    local name=$1 status=$2 pattern=$3 file=$dir/$1 rc
    [ "$name" = missing ] && file=$dir/no-such-file.txt
    "$exe" mtree "$file" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq "$status" ] && grep -qF -- "$pattern" "$tmp/err" &&
        ! grep -qE 'Sanitizer|runtime error' "$tmp/err" &&
        [ ! -s "$tmp/out" ]; then
        echo "ok $name: $(head -1 "$tmp/err")"
        passed=$((passed + 1))
    else
        echo "not ok $name (status $rc, expected $status and \`$pattern\`)"
        sed 's/^/# /' "$tmp/err" | head -10
        failed=$((failed + 1))
    fi
}

# QEMU dumps.
expect bad-hex.txt 2 "bad-hex.txt:2: expected"
expect unknown-target.txt 2 "unknown-target.txt:3: expected"
expect indent-jump.txt 2 "indent-jump.txt:3: expected"
expect odd-indent.txt 2 "odd-indent.txt:3: expected"
expect child-below-parent.txt 2 "child-below-parent.txt:3: expected"
expect second-root.txt 2 "second-root.txt:3: expected"
expect no-root.txt 2 "no-root.txt:2: expected"
expect bad-type.txt 2 "bad-type.txt:2: expected"
expect bad-prio.txt 2 "bad-prio.txt:2: expected"
expect child-under-alias.txt 2 "child-under-alias.txt:4: expected"
expect text-before-header.txt 2 "text-before-header.txt:1: expected"
expect alias-cycle-crlf.txt 2 "alias-cycle-crlf.txt:5: expected"
expect end-before-start.txt 2 "end-before-start.txt:2: expected"
expect truncated.txt 2 "truncated.txt:5: expected"
expect alias-length.txt 2 "alias-length.txt:2: expected"
expect no-address-space.txt 2 "no-address-space.txt:1: expected at least one"
# Other QEMU versions and the annotations: what cannot be read is named.
expect overflow.txt 2 "overflow.txt:3: expected a region that ends below 2^64"
expect tree-mixed.txt 2 "tree-mixed.txt:3: expected an indentation"
expect tree-bad-cell.txt 2 "tree-bad-cell.txt:3: expected an indentation"
expect order-mixed.txt 2 "order-mixed.txt:4: expected \`, order K\` here too"
expect order-duplicate.txt 2 "order-duplicate.txt:4: expected a distinct"
expect order-zero.txt 2 "order-zero.txt:3: expected"
expect rw-mixed.txt 2 "rw-mixed.txt:3: expected the same kind of attributes"
expect owner-missing.txt 2 "owner-missing.txt:3: expected an \` owner:"
# Empty input.
expect empty.txt 2 "empty.txt:1: expected"
expect blank.txt 2 "blank.txt:1: expected"
# Board descriptions.
expect board-unknown-statement.txt 2 "board-unknown-statement.txt:3: expected"
expect board-undeclared.txt 2 "board-undeclared.txt:3: expected"
expect board-bad-size.txt 2 "board-bad-size.txt:2: expected"
expect board-duplicate.txt 2 "board-duplicate.txt:3: expected"
expect board-no-space.txt 2 "board-no-space.txt:3: expected"
expect board-quote.txt 2 "board-quote.txt:2: expected"
expect board-placed-twice.txt 2 "board-placed-twice.txt:5: expected"
expect board-bad-flag.txt 2 "board-bad-flag.txt:2: expected"
# A file that does not exist.
expect missing 2 "no-such-file.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
