#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# annotate.sh GUESTMEM CORPUS [CHECK_FLAT] - `guestmem annotate` on real
# QEMU dumps.
#
# CORPUS is either the shared corpus (CORPUS/qemu/CASE/mtree_annotated.txt
# and flat.txt) or a directory of captures (CORPUS/CASE/mtree.txt and
# flat.txt, as tests/conformance/qemu-local/ holds them). CHECK_FLAT is the
# flat-view comparer (default: CORPUS/check-flat, else the shared one).
# For every case the dump is stripped of any annotation
# (strip-annotations.py), which gives what QEMU printed, then
#
#   guestmem annotate PLAIN FLAT > ANNOTATED    (must exit 0)
#   guestmem mtree -f ANNOTATED | check-flat FLAT -
#
# must pass, and annotate's own verdict must agree with check-flat. Also
# reported (not judged): how many cases `guestmem mtree -f PLAIN` matches
# without QEMU_FLAT, and that `guestmem annotate PLAIN` (no QEMU_FLAT)
# writes exactly the guesses `guestmem mtree` makes on PLAIN. Prints
# `ok CASE` / `not ok CASE`, then `N passed, N failed`; exits 77 (skip)
# when the corpus or python3 is missing.
set -u

exe=${1:?usage: annotate.sh GUESTMEM CORPUS [CHECK_FLAT]}
corpus=${2:?usage: annotate.sh GUESTMEM CORPUS [CHECK_FLAT]}
here=$(cd "$(dirname "$0")" && pwd)
checkflat=${3:-}

if ! command -v python3 >/dev/null; then
    echo "python3 not found: skipped"
    exit 77
fi
if [ -d "$corpus/qemu" ]; then
    cases=("$corpus"/qemu/*/)
    dumpname=mtree_annotated.txt
elif [ -d "$corpus" ]; then
    cases=("$corpus"/*/)
    dumpname=mtree.txt
else
    echo "corpus not found at $corpus: skipped"
    exit 77
fi
if [ -z "$checkflat" ]; then
    for c in "$corpus/check-flat" "$here/../../../shared/conformance/check-flat"; do
        if [ -f "$c" ]; then
            checkflat=$c
            break
        fi
    done
fi
if [ -z "$checkflat" ] || [ ! -f "$checkflat" ]; then
    echo "check-flat not found: skipped"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
plain_ok=0
total=0
for dir in "${cases[@]}"; do
    name=$(basename "$dir")
    dump=$dir/$dumpname
    flat=$dir/flat.txt
    [ -f "$dump" ] && [ -f "$flat" ] || continue
    total=$((total + 1))
    if [ "$dumpname" = mtree.txt ]; then
        cp "$dump" "$tmp/plain" # captures are plain already
    else
        python3 "$here/strip-annotations.py" "$dump" >"$tmp/plain" 2>"$tmp/err"
    fi
    "$exe" annotate "$tmp/plain" "$flat" >"$tmp/ann" 2>"$tmp/report"
    verdict=$?
    "$exe" mtree -f "$tmp/ann" >"$tmp/out" 2>"$tmp/err"
    python3 "$checkflat" "$flat" "$tmp/out" >"$tmp/diff" 2>&1
    matched=$?
    # Without QEMU_FLAT: the plain import's guesses, and annotate's.
    if "$exe" mtree -f "$tmp/plain" 2>/dev/null >"$tmp/pout" &&
        python3 "$checkflat" "$flat" "$tmp/pout" >/dev/null 2>&1; then
        plain_ok=$((plain_ok + 1))
    fi
    "$exe" annotate "$tmp/plain" >"$tmp/guess" 2>/dev/null &&
        "$exe" mtree -f "$tmp/guess" >"$tmp/gout" 2>"$tmp/gerr" &&
        [ ! -s "$tmp/gerr" ] && cmp -s "$tmp/pout" "$tmp/gout"
    same_guess=$?
    if [ "$verdict" -eq 0 ] && [ "$matched" -eq 0 ] && [ "$same_guess" -eq 0 ] &&
        ! grep -qE 'Sanitizer|runtime error' "$tmp/report" "$tmp/err"; then
        echo "ok $name"
        passed=$((passed + 1))
    else
        echo "not ok $name (annotate exit $verdict, check-flat exit $matched," \
            "guesses alike: $([ "$same_guess" -eq 0 ] && echo yes || echo no))"
        sed 's/^/# /' "$tmp/report" "$tmp/err" "$tmp/diff" | head -40
        failed=$((failed + 1))
    fi
done
echo "# without QEMU_FLAT, guestmem mtree -f matches $plain_ok of $total plain dumps"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
