#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# ram.sh GUESTMEM [CORPUS] - `guestmem ram` and the boards' RAM backing
# options.
#
# The built-in board, a board using every backing option (memfd, file= in a
# temporary directory, share, hugepages, noreserve, prealloc, max=) and QEMU
# dumps (a 64 GiB one made here, and a machine of the corpus when present)
# are listed as text and as JSON, and check-ram.py checks the JSON field by
# field against what the board asked for, and that the table says the same.
# Bad options are refused with `FILE:LINE: expected ...` and status 2 by
# `ram` and by the memoryless `mtree` alike; `mtree` and `map` of a board
# with file=PATH do not make the file. Huge pages: where the host has none
# to give, `memfd hugepages` must be refused with a message naming them,
# status 2; where it has, the block must have 2 MiB pages. Ends with
# `N passed, N failed`.
set -u

exe=${1:?usage: ram.sh GUESTMEM [CORPUS]}
here=$(cd "$(dirname "$0")" && pwd)
corpus=${2:-$here/../../../shared/conformance}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P) # the name the kernel gives the files

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

# listing NAME EXPECT ARGS... -- `ram ARGS` as text and as JSON, both
# status 0; check_listings checks them with check-ram.py against EXPECT
# (see there), all at once (Python starts slowly).
checks=()
listing() {
    local name=$1 expect=$2
    shift 2
    run "$name-text" 0 ram "$@"
    cp "$tmp/out" "$tmp/$name.txt"
    run "$name-json" 0 ram --json "$@"
    cp "$tmp/out" "$tmp/$name.json"
    checks+=("$name" "$tmp/$name.json" "$tmp/$name.txt" "$expect")
}

check_listings() {
    local i rc
    python3 "$here/check-ram.py" "${checks[@]}" >"$tmp/check.out" 2>&1
    rc=$?
    for ((i = 0; i < ${#checks[@]}; i += 4)); do
        awk -v n="${checks[i]}: " 'index($0, n) == 1' "$tmp/check.out" \
            >"$tmp/err"
        [ $rc -le 1 ] && [ ! -s "$tmp/err" ]
        result "${checks[i]}-checked" $?
    done
    [ $rc -le 1 ] || cp "$tmp/check.out" "$tmp/err"
    result check-ram-ran $([ $rc -le 1 ]; echo $?)
}

# board FILE LINE... -- a board: a 16E container `sys` with the LINEs'
# regions mapped 16 MiB apart, and one space.
board() {
    local file=$1 line i=0
    shift
    {
        echo "container sys 16E"
        printf '%s\n' "$@"
        for line in "$@"; do
            set -- $line
            echo "map sys $((i << 24)) $2"
            i=$((i + 1))
        done
        echo "space memory sys"
    } >"$file"
}

# refused NAME LINE MESSAGE -- a board whose line 2 is LINE: `mtree` and
# `ram` both exit 2 with `FILE:2: expected MESSAGE...`.
refused() {
    local name=$1 cmd
    board "$tmp/bad.board" "$2"
    for cmd in mtree ram; do
        run "refused-$name-$cmd" 2 "$cmd" "$tmp/bad.board"
        grep -qF "$tmp/bad.board:2: expected $3" "$tmp/err" &&
            [ ! -s "$tmp/out" ]
        result "refused-$name-$cmd-message" $?
    done
}

run help 0 ram --help
grep -q '^usage: guestmem ram' "$tmp/out"
result help-text $?
run help-listed 0 --help
grep -q '^  ram ' "$tmp/out"
result help-lists-ram $?
run unknown-option 2 ram --svg
run two-files 2 ram a.txt b.txt
run file-and-builtin 2 ram --builtin "$tmp/x.board"
run missing-file 2 ram "$tmp/no-such-file"

# The built-in board: six blocks of anonymous noreserve memory, all dirty.
listing builtin "[
 {'name': 'pc.ram', 'offset': 0, 'used_length': 1 << 30,
  'max_length': 1 << 30, 'page_size': 4096, 'backing': 'anon',
  'flags': ['noreserve'], 'dirty': {'vga': 262144, 'code': 262144,
  'migration': 262144, 'snapshot': 262144}},
 {'name': 'nvdimm0', 'offset': 1 << 30, 'used_length': 16 << 20},
 {'name': 'pc.rom', 'used_length': 128 << 10},
 {'name': 'pc.bios', 'used_length': 256 << 10},
 {'name': 'pflash0', 'used_length': 2 << 20},
 {'name': 'vfio-bar0', 'used_length': 16 << 10, 'backing': 'anon',
  'flags': ['noreserve'], 'dirty': {'vga': 4, 'code': 4, 'migration': 4,
  'snapshot': 4}}]" --builtin
"$exe" ram <"$tmp/builtin.txt" >/dev/null 2>"$tmp/err" # not a board
[ $? -eq 2 ] && grep -q '<stdin>:1: expected ' "$tmp/err"
result stdin-not-a-board $?

# Every backing option, the file in a directory whose name has a blank.
mkdir "$tmp/d ir"
board "$tmp/opts.board" \
    'ram a 1M memfd' \
    "ram b 2M \"file=$tmp/d ir/ram.img\" share" \
    'ram c 1M max=4M' \
    'ram d 8M noreserve' \
    'ram e 64K prealloc' \
    'rom f 64K memfd' \
    "romdev g 64K file=$tmp/rom.img" \
    'ramdev h 16K max=64K noreserve name=bar' \
    'ram i 4K'
listing options "[
 {'name': 'a', 'offset': 0, 'used_length': 1 << 20, 'max_length': 1 << 20,
  'backing': 'memfd', 'flags': [], 'page_size': 4096,
  'dirty': {'vga': 256, 'code': 256, 'migration': 256, 'snapshot': 256}},
 {'name': 'b', 'used_length': 2 << 20, 'backing': 'file',
  'path': '$tmp/d ir/ram.img', 'flags': ['shared']},
 {'name': 'c', 'used_length': 1 << 20, 'max_length': 4 << 20,
  'backing': 'anon', 'flags': ['resizeable'],
  'dirty': {'vga': 256, 'code': 256, 'migration': 256, 'snapshot': 256}},
 {'name': 'd', 'used_length': 8 << 20, 'backing': 'anon',
  'flags': ['noreserve']},
 {'name': 'e', 'used_length': 64 << 10, 'backing': 'anon',
  'flags': ['prealloc']},
 {'name': 'f', 'used_length': 64 << 10, 'backing': 'memfd', 'flags': []},
 {'name': 'g', 'used_length': 64 << 10, 'backing': 'file',
  'path': '$tmp/rom.img', 'flags': []},
 {'name': 'bar', 'used_length': 16 << 10, 'max_length': 64 << 10,
  'backing': 'anon', 'flags': ['noreserve', 'resizeable']},
 {'name': 'i', 'used_length': 4096, 'max_length': 4096,
  'backing': 'anon', 'flags': ['noreserve'],
  'dirty': {'vga': 1, 'code': 1, 'migration': 1, 'snapshot': 1}}]" \
    "$tmp/opts.board"
grep -qF "file=$tmp/d\\x20ir/ram.img,shared  b" "$tmp/options.txt"
result options-text-path-escaped $?
[ "$(stat -c %s "$tmp/d ir/ram.img")" -eq $((2 << 20)) ] &&
    [ "$(stat -c %s "$tmp/rom.img")" -eq $((64 << 10)) ]
result options-files-made $?
# The same board on standard input.
"$exe" ram --json <"$tmp/opts.board" >"$tmp/out" 2>"$tmp/err" &&
    cmp -s "$tmp/out" "$tmp/options.json"
result options-stdin $?

# Memoryless commands check the options but make no file.
board "$tmp/file.board" "ram r 1G file=$tmp/never.img share"
run mtree-file-board 0 mtree "$tmp/file.board"
grep -q 'ram): r$' "$tmp/out" && [ ! -e "$tmp/never.img" ]
result mtree-makes-no-file $?
run map-file-board 0 map "$tmp/file.board"
[ ! -e "$tmp/never.img" ]
result map-makes-no-file $?
# `ram` refuses what only a memoryless machine can describe.
board "$tmp/16E.board" "ram s 16E"
run mtree-16E 0 mtree "$tmp/16E.board"
run ram-16E 2 ram "$tmp/16E.board"
grep -qF "$tmp/16E.board:2: expected a RAM SIZE of at most 8E" "$tmp/err"
result ram-16E-message $?

refused on-io 'io x 4K memfd' 'RAM backing options'
refused on-container 'container x 4K noreserve' 'RAM backing options'
refused memfd-and-file "ram x 4K memfd file=$tmp/f.img" \
    'memfd or file=PATH, not both'
refused empty-file 'ram x 4K file=' 'a PATH after file='
refused two-files "ram x 4K file=$tmp/f.img file=$tmp/g.img" \
    'one file=PATH, not two'
refused share-anon 'ram x 4K share' 'share only with file=PATH'
refused share-memfd 'ram x 4K memfd share' 'share only with file=PATH'
refused hugepages-file "ram x 2M file=$tmp/f.img hugepages" \
    'hugepages only with anonymous or memfd memory'
refused prealloc-noreserve 'ram x 4K prealloc noreserve' \
    'prealloc or noreserve, not both'
refused max-below 'ram x 2M max=1M' 'a max=SIZE from the region'
refused max-huge 'ram x 2M max=4E' 'a max=SIZE from the region'
refused max-bad 'ram x 2M max=12Q' 'a max=SIZE (decimal'
refused two-max 'ram x 2M max=4M max=8M' 'one max=SIZE, not two'
refused size-with-options 'rom x 4E memfd' 'a SIZE of at most 2E'
refused unknown-flag 'ram x 4K shared' 'a flag (disabled'
[ ! -e "$tmp/f.img" ] && [ ! -e "$tmp/g.img" ]
result refused-make-no-file $?

# What the host refuses is refused by `ram` alone.
board "$tmp/nodir.board" "ram x 4K file=$tmp/no/such/dir/ram.img"
run mtree-nodir 0 mtree "$tmp/nodir.board"
run ram-nodir 2 ram "$tmp/nodir.board"
grep -qF "$tmp/nodir.board:2: expected a region the library accepts:" \
    "$tmp/err" && grep -q 'No such file or directory' "$tmp/err"
result ram-nodir-message $?
board "$tmp/dirfile.board" "ram x 4K file=$tmp/d ir"
sed -i "s|file=$tmp/d ir|\"file=$tmp/d ir\"|" "$tmp/dirfile.board"
run ram-file-is-dir 2 ram "$tmp/dirfile.board"
grep -qF "$tmp/dirfile.board:2: expected a region the library accepts:" \
    "$tmp/err"
result ram-file-is-dir-message $?

# Huge pages: memfd hugepages needs hugetlb pages the host has reserved.
board "$tmp/huge.board" 'ram x 2M memfd hugepages'
free_huge=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
huge_size=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
if [ "${free_huge:-0}" -ge 1 ] && [ "${huge_size:-0}" -eq 2048 ]; then
    listing hugetlb "[{'name': 'x', 'page_size': 2 << 20,
      'backing': 'memfd', 'flags': ['hugepages']}]" "$tmp/huge.board"
else
    run hugetlb-refused 2 ram "$tmp/huge.board"
    grep -qF "$tmp/huge.board:2: expected a region the library accepts:" \
        "$tmp/err" && grep -q 'hugepages: the host must have huge pages' \
        "$tmp/err" && [ ! -s "$tmp/out" ]
    result hugetlb-refused-message $?
fi
# Anonymous memory asks for transparent huge pages (madvise), which a
# kernel built with them accepts whatever the policy.
board "$tmp/thp.board" 'ram x 4M hugepages'
if [ -d /sys/kernel/mm/transparent_hugepage ]; then
    listing thp "[{'name': 'x', 'page_size': 4096, 'backing': 'anon',
      'flags': ['hugepages']}]" "$tmp/thp.board"
else
    run thp-refused 2 ram "$tmp/thp.board"
fi

# Names are bytes: the JSON stays valid, with name_hex.
board "$tmp/names.board" \
    "ram n1 64K \"name=bad$(printf '\xff') \\\"q\\\" $(printf '\xc3\xa9')\"" \
    'ram n2 64K "name=tab	ctl"'
listing names "[
 {'name': 'bad\ufffd \"q\" \u00e9',
  'name_hex': '$(printf 'bad\xff "q" \xc3\xa9' | od -An -tx1 | tr -d ' \n')'},
 {'name': 'tab\tctl'}]" "$tmp/names.board"
grep -qF 'bad\xff "q" é' "$tmp/names.txt" && grep -qF 'tab\x09ctl' \
    "$tmp/names.txt"
result names-text-escaped $?

# A QEMU dump of 64 GiB: noreserve anonymous memory, a RAM device and a
# ROM device among them; nothing is touched, so it costs nothing.
cat >"$tmp/big.txt" <<'DUMP'
address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, container): system
    0000000000000000-0000000fffffffff (prio 0, ram): pc.ram
    0000001000000000-0000001000003fff (prio 0, ramd): vfio-bar
    0000001000010000-000000100001ffff (prio 0, romd): flash
    00000010000f0000-00000010000fffff (prio 0, rom): bios
DUMP
listing dump-64G "[
 {'name': 'pc.ram', 'offset': 0, 'used_length': 64 << 30,
  'backing': 'anon', 'flags': ['noreserve'],
  'dirty': {'vga': 16 << 20, 'code': 16 << 20, 'migration': 16 << 20,
  'snapshot': 16 << 20}},
 {'name': 'vfio-bar', 'used_length': 16 << 10, 'backing': 'anon',
  'flags': ['noreserve']},
 {'name': 'flash', 'used_length': 64 << 10, 'flags': ['noreserve']},
 {'name': 'bios', 'used_length': 64 << 10, 'flags': ['noreserve']}]" \
    "$tmp/big.txt"
# A RAM region no host can back is an error naming its line.
cat >"$tmp/huge.txt" <<'DUMP'
address-space: memory
  0000000000000000-ffffffffffffffff (prio 0, container): system
    0000000000000000-7fffffffffffffff (prio 0, ram): ram-2-63
DUMP
run dump-too-big 2 ram "$tmp/huge.txt"
grep -qF "$tmp/huge.txt:3: expected a region the library accepts:" "$tmp/err"
result dump-too-big-message $?
run dump-too-big-mtree 0 mtree "$tmp/huge.txt"

if [ -w /dev/full ]; then
    "$exe" ram --builtin >/dev/full 2>"$tmp/err"
    [ $? -eq 1 ] && grep -q 'write error' "$tmp/err"
    result write-error $?
fi

case_dir=$corpus/qemu/x86-q35-2G-running
if [ -f "$case_dir/mtree_annotated.txt" ]; then
    listing q35-2G "[
     {'name': 'pc.rom', 'offset': 0, 'used_length': 128 << 10,
      'backing': 'anon', 'flags': ['noreserve']},
     {'name': 'pc.bios', 'used_length': 256 << 10},
     {'name': 'pc.ram', 'used_length': 2 << 30, 'max_length': 2 << 30,
      'dirty': {'vga': 524288, 'code': 524288, 'migration': 524288,
      'snapshot': 524288}}]" "$case_dir/mtree_annotated.txt"
    # Every machine of the corpus: a block for each RAM-backed region
    # that `mtree --json -D` lists, of the same name and size.
    for dir in "$corpus"/qemu/*/; do
        name=corpus-$(basename "$dir")
        "$exe" mtree --json -D "$dir/mtree_annotated.txt" \
            >"$tmp/$name.mtree.json" 2>"$tmp/err"
        result "$name-mtree" $?
        listing "$name" "{'mtree': '$tmp/$name.mtree.json'}" \
            "$dir/mtree_annotated.txt"
    done
else
    echo "# no corpus at $corpus: its machines are not listed"
fi

check_listings

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
