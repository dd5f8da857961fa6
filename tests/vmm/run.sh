#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh GUESTMEM - `guestmem run`, the mini VMM.
#
# The built-in board without KVM (--no-kvm: the guest's accesses made from
# the host through the API) must print the memory tree, the flat views, the
# memslot table, the console, the doorbell count and the dirty framebuffer
# pages, and exit 0. Bad boards, device types, guest files and options exit
# 2 with a message naming the file and line. Where /dev/kvm works, the
# built-in guest runs on 1 and 2 vCPUs and must halt as expected, with
# memslots listed; otherwise a visible SKIP line says those checks did not
# run. Ends with `N passed, N failed`.
set -u

exe=${1:?usage: run.sh GUESTMEM}

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
        [ -s "$tmp/out" ] && sed 's/^/# out: /' "$tmp/out" | tail -10
        failed=$((failed + 1))
    fi
}

# run NAME STATUS ARGS... - expect exit STATUS and no sanitizer report.
run() {
    local name=$1 status=$2 rc
    shift 2
    "$exe" run "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    [ "$rc" -eq "$status" ] && ! grep -qE 'Sanitizer|runtime error' "$tmp/err"
    result "$name (exit $rc, want $status)" $?
}

# expect NAME PATTERN FILE - FILE has a line matching PATTERN.
expect() {
    grep -qE "$2" "$3"
    result "$1" $?
}

run help 0 --help
expect help-usage '^usage: guestmem run' "$tmp/out"

run host-only 0 --no-kvm
for want in '^== memory tree' '^== flat views' '^== KVM memslots' \
    'no slot' '^== console' 'guest: done' 'doorbell: 3 rings' \
    'dirty framebuffer pages \(VGA client\): 8 of 32' \
    'guest halted as expected'; do
    expect "host-only-prints $want" "$want" "$tmp/out"
done
run host-only-quiet 0 --no-kvm --quiet
! grep -q '^== memory tree' "$tmp/out" && grep -q 'doorbell' "$tmp/out"
result host-only-quiet-report $?

# A board from a file: the built-in guest needs the built-in board's
# addresses (RAM from 0 to 16 MiB, the framebuffer at 0xa0000, the BIOS at
# 0xf0000 and 0xffff0000, the flash at 0xfe000000, the doorbell at
# 0xfeb00000, the UART and exit ports), here without the RAM hole.
cat >"$tmp/board.txt" <<'BOARD'
container sysmem 16E name=system
ram       ram    16M  name=ram
ram       fb     128K dev=framebuffer name=vga.vram
rom       bios   64K  dev=bios name=pc.bios
alias     bios-hi 64K bios 0 name=pc.bios.alias
romdev    flash  64K  dev=flash name=flash
io        bell   4K   dev=doorbell name=doorbell
io        bar    4K   dev=bar name=bar
map sysmem 0          ram
map sysmem 0xa0000    fb prio 1
map sysmem 0xf0000    bios prio 1
map sysmem 0xe0000000 bar
map sysmem 0xfe000000 flash
map sysmem 0xfeb00000 bell
map sysmem 0xffff0000 bios-hi
container ioroot 64K name=io
io        uart   8    dev=uart name=serial
io        exit   2    dev=exit name=debug-exit
map ioroot 0x3f8 uart
map ioroot 0x501 exit
space memory sysmem
space io     ioroot
BOARD
run board-file 0 --no-kvm "$tmp/board.txt"
expect board-file-done 'guest halted as expected' "$tmp/out"
# `guestmem mtree` reads the same board (dev= is a stub there).
"$exe" mtree -f "$tmp/board.txt" >"$tmp/out" 2>"$tmp/err" &&
    grep -q 'vga.vram' "$tmp/out"
result mtree-reads-dev-flags $?

# Bad input: exit 2 and a message naming the file and line.
printf 'ram r 1M dev=teapot\nspace memory r\n' >"$tmp/bad-dev.txt"
run unknown-device 2 --no-kvm "$tmp/bad-dev.txt"
expect unknown-device-message "bad-dev.txt:1: expected a device the program knows: .*teapot" "$tmp/err"
printf 'io u 8 dev=framebuffer\nspace memory u\n' >"$tmp/bad-kind.txt"
run device-on-wrong-kind 2 --no-kvm "$tmp/bad-kind.txt"
expect device-on-wrong-kind-message 'bad-kind.txt:1: expected' "$tmp/err"
printf 'ram r 16M\nspace other r\n' >"$tmp/no-memory.txt"
run no-memory-space 2 --no-kvm "$tmp/no-memory.txt"
expect no-memory-space-message 'space named `memory`' "$tmp/err"
printf 'ram r 16M\nmap r 0 r\n' >"$tmp/bad-syntax.txt"
run bad-board 2 --no-kvm "$tmp/bad-syntax.txt"
expect bad-board-message 'bad-syntax.txt:2: expected' "$tmp/err"
printf 'container c 1M\nspace memory c\n' >"$tmp/no-ram.txt"
run no-ram-for-guest 2 --no-kvm "$tmp/no-ram.txt"
run missing-board 2 --no-kvm "$tmp/no-such-board"
run missing-guest 2 --guest "$tmp/no-such-guest"
head -c 100 /dev/zero >"$tmp/guest.bin"
run two-boards 2 a b
run vcpus-zero 2 --vcpus 0
run vcpus-many 2 --vcpus 17
run vcpus-junk 2 --vcpus 2x
run unknown-option 2 --frobnicate

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    for n in 1 2; do
        run "kvm-vcpus-$n" 0 --vcpus "$n"
        expect "kvm-vcpus-$n-slots" '^  slot ' "$tmp/out"
        expect "kvm-vcpus-$n-halted" 'guest halted as expected' "$tmp/out"
    done
    # A guest file that exits at once with status 0 on the exit port.
    printf '\x66\xb8\x00\x00\x66\xba\x01\x05\x66\xef\xeb\xfe' >"$tmp/guest.bin"
    run kvm-guest-file 0 --guest "$tmp/guest.bin"
else
    echo "SKIP: /dev/kvm not available: the built-in guest was run from the host only"
    run guest-file-needs-kvm 2 --guest "$tmp/guest.bin"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
