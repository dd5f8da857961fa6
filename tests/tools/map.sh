#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# map.sh GUESTMEM [CORPUS] - `guestmem map`: pictures that parse and render.
#
# For the built-in board, the boards under tests/conformance/boards, a board
# of hostile names and every machine of the QEMU corpus (when present), the
# SVG and the HTML page must be well-formed XML whose ranges are exactly
# those of `guestmem mtree -f` (check-map.py), and rsvg-convert must render
# the SVG to a PNG of the size the SVG declares. Also the options, the
# refusal of too many ranges and a write error. rsvg-convert (Debian's
# librsvg2-bin, installed by scripts/deps.sh) is required: without it the
# test fails. Ends with `N passed, N failed`.
set -u

exe=${1:?usage: map.sh GUESTMEM [CORPUS]}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${2:-$here/../../../shared/conformance}

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

if ! command -v rsvg-convert >/dev/null; then
    echo "rsvg-convert not found: install librsvg2-bin (scripts/deps.sh)" \
        >"$tmp/err"
    result rsvg-convert-present 1
fi

# The width and height a PNG file declares, as "W H" (IHDR, big-endian).
png_size() {
    local b
    b=($(od -An -tu1 -j16 -N8 "$1")) || return 1
    [ ${#b[@]} -eq 8 ] || return 1
    echo "$(((b[0] << 24) + (b[1] << 16) + (b[2] << 8) + b[3]))" \
        "$(((b[4] << 24) + (b[5] << 16) + (b[6] << 8) + b[7]))"
}

# picture NAME [FILE] - draw FILE (default: the built-in board) as SVG and
# as HTML with `mtree -f` beside them; check_pictures checks them all.
pictures=()
picture() {
    local name=$1 fmt
    shift
    [ $# -gt 0 ] || set -- --builtin
    "$exe" mtree -f "$@" >"$tmp/$name.flat" 2>"$tmp/err"
    for fmt in svg html; do
        "$exe" map "--$fmt" "$@" >"$tmp/$name.$fmt" 2>"$tmp/err" &&
            ! grep -qE 'Sanitizer|runtime error' "$tmp/err"
        result "map-$name-$fmt" $?
    done
    pictures+=("$name")
}

# check_pictures - one check-map.py run over every picture (Python starts
# slowly), then rsvg-convert on each SVG and on the SVG of one HTML page.
check_pictures() {
    local name args=() want got
    for name in "${pictures[@]}"; do
        args+=("$tmp/$name.svg" "$tmp/$name.flat" "$tmp/$name.out.svg"
            "$tmp/$name.html" "$tmp/$name.flat" "$tmp/$name.html.svg")
    done
    python3 "$here/check-map.py" "${args[@]}" 2>"$tmp/err"
    result "pictures-well-formed-and-complete" $?
    for name in "${pictures[@]}" default-html; do
        local svg=$tmp/$name.out.svg
        [ "$name" = default-html ] && svg=$tmp/default.html.svg
        want=$(sed -n 's/.*<svg [^>]*width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p' \
            "$svg" | head -1)
        rsvg-convert "$svg" -o "$tmp/$name.png" 2>"$tmp/err" &&
            got=$(png_size "$tmp/$name.png") &&
            { [ "$want" = "$got" ] ||
                echo "PNG is $got, the SVG says $want" >"$tmp/err"; } &&
            [ "$want" = "$got" ]
        result "render-$name" $?
    done
}

run help 0 map --help
grep -q '^usage: guestmem map' "$tmp/out"
result help-text $?
run unknown-option 2 map --png
run two-files 2 map a.txt b.txt
run missing-file 2 map "$tmp/no-such-file"

picture default
run default-svg 0 map --builtin
head -1 "$tmp/out" | grep -q '^<?xml version="1.0" encoding="UTF-8"?>$' &&
    grep -q '<svg xmlns="http://www.w3.org/2000/svg"' "$tmp/out"
result default-svg-header $?
# The BIOS's low alias is labelled and drawn as an arrow to pc.bios.
grep -q 'pc.bios<tspan class="o" dx="4">@20000</tspan><tspan class="v" dx="5">via isa-bios</tspan>' "$tmp/out" &&
    grep -q '<g class="link"><title>isa-bios: a window onto fffe0000 of ' "$tmp/out"
result default-alias-arrow $?
# The flat views of memory and cpu-memory-0 are drawn once.
grep -q '<text class="h"[^>]*>cpu-memory-0, e1000, memory</text>' "$tmp/out"
result default-shared-view $?
run default-html 0 map --html --builtin
head -1 "$tmp/out" | grep -q '^<!DOCTYPE html>$' && grep -q ':hover' "$tmp/out"
result default-html-page $?

for board in "$here"/../conformance/boards/*.board; do
    picture "board-$(basename "$board" .board)" "$board"
done

# Names are bytes: markup, invalid UTF-8, controls, XML's forbidden code
# points. The document stays well-formed and shows them as \xHH.
printf '%s\n' \
    'container sys 4G' \
    'ram r1 64K "name=a<b&c\"d>'"'"'e"' \
    "io d1 4K \"name=bad$(printf '\xff\xfe') utf8 $(printf '\xc3\xa9\x01')ctl\"" \
    "io d2 16 \"name=$(printf '\xed\xa0\x80')sur $(printf '\xef\xbf\xbe')\"" \
    "alias al 4K d1 0 \"name=al]]>$(printf '\xe2\x82\xac')\"" \
    'map sys 0 r1' 'map sys 0x10000 d1' 'map sys 0x20000 d2' \
    'map sys 0x30000 al' 'space "mem<&>" sys' >"$tmp/names.board"
picture hostile-names "$tmp/names.board"
"$exe" map "$tmp/names.board" >"$tmp/out" 2>"$tmp/err" &&
    grep -q 'bad\\xff\\xfe utf8 é\\x01ctl' "$tmp/out" &&
    grep -q '\\xed\\xa0\\x80sur \\xef\\xbf\\xbe' "$tmp/out" &&
    grep -q 'a&lt;b&amp;c&quot;d&gt;&apos;e' "$tmp/out"
result hostile-names-escaped $?

# More ranges than a picture can show: refused with a message, status 1.
python3 -c '
n = 5001
print("container sys 16E")
for i in range(n):
    print("io d%d 16" % i)
for i in range(n):
    print("map sys %d d%d" % (i * 32, i))
print("space memory sys")' >"$tmp/big.board"
run too-many-ranges 1 map "$tmp/big.board"
grep -q 'more than 5000 ranges' "$tmp/err" && [ ! -s "$tmp/out" ]
result too-many-ranges-message $?

if [ -w /dev/full ]; then
    "$exe" map --builtin >/dev/full 2>"$tmp/err"
    [ $? -eq 1 ] && grep -q 'write error' "$tmp/err"
    result write-error $?
fi

if [ -d "$corpus/qemu" ]; then
    for dir in "$corpus"/qemu/*/; do
        picture "$(basename "$dir")" "$dir/mtree_annotated.txt"
    done
    # Nine spaces, three flat views, the same ranges: one column (and one
    # for I/O).
    "$exe" map "$corpus/qemu/x86-q35-virtio-smp4/mtree_annotated.txt" \
        >"$tmp/out" 2>"$tmp/err" &&
        [ "$(grep -c '<text class="hr"' "$tmp/out")" -eq 2 ] &&
        grep -q '>cpu-smm-2, cpu-smm-3, memory</text>' "$tmp/out"
    result q35-same-views-one-column $?
else
    echo "# no corpus at $corpus: its machines are not drawn"
fi

check_pictures

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
