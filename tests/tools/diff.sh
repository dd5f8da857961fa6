#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# diff.sh GUESTMEM [CORPUS [DIFF_LISTENER]] - `guestmem diff`.
#
# The options and exit statuses (0 equal, 1 different, 2 trouble); a pair of
# boards with known differences (boards/diff-old.board, diff-new.board)
# whose text output must be exactly boards/diff-old-new.txt, and the same
# pair reversed; the JSON of that pair must list exactly the region_del and
# region_add a listener hears when the change is made through the API
# (DIFF_LISTENER, diff-listener.c); for pairs of the QEMU corpus (before and after firmware,
# different RAM sizes, SMM on and off), the JSON output checked against the
# update pass recomputed from `guestmem mtree -f` (check-diff.py). Ends
# with `N passed, N failed`.
set -u

exe=${1:?usage: diff.sh GUESTMEM [CORPUS]}
case $exe in
/*) ;;
*) exe=$PWD/$exe ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
corpus=${2:-$here/../../../shared/conformance}
listener=${3:-}
boards=$here/boards

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

# cross NAME OLD NEW - the JSON diff agrees with the flat views.
cross() {
    local name=$1 old=$2 new=$3 status=0
    "$exe" mtree -f "$old" >"$tmp/old.flat" 2>"$tmp/err" &&
        "$exe" mtree -f "$new" >"$tmp/new.flat" 2>"$tmp/err" || status=1
    "$exe" diff --json "$old" "$new" >"$tmp/diff.json" 2>"$tmp/err"
    [ $? -le 1 ] && [ $status -eq 0 ] &&
        ! grep -qE 'Sanitizer|runtime error' "$tmp/err" &&
        python3 "$here/check-diff.py" "$tmp/old.flat" "$tmp/new.flat" \
            "$tmp/diff.json" 2>"$tmp/err"
    result "cross-$name" $?
}

run help 0 diff --help
grep -q '^usage: guestmem diff' "$tmp/out"
result help-text $?
run no-files 2 diff
run one-file 2 diff "$boards/diff-old.board"
run three-files 2 diff a b c
run unknown-option 2 diff --frob a b
run missing-old 2 diff "$tmp/none" "$boards/diff-new.board"
run missing-new 2 diff "$boards/diff-old.board" "$tmp/none"
run bad-new 2 diff "$boards/diff-old.board" "$here/diff.sh"

run same-file 0 diff "$boards/diff-old.board" "$boards/diff-old.board"
[ ! -s "$tmp/out" ]
result same-file-silent $?
run same-file-json 0 diff --json "$boards/diff-old.board" \
    "$boards/diff-old.board"
python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["equal"] is True and d["version"] == 1
assert all(s["status"] == "equal" for s in d["address_spaces"])' \
    <"$tmp/out" 2>"$tmp/err"
result same-file-json-equal $?

# Known differences, exactly.
(cd "$boards" && "$exe" diff diff-old.board diff-new.board) \
    >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && diff -u "$boards/diff-old-new.txt" "$tmp/out" >"$tmp/err"
result boards-text $?
# Reversed, every addition is a removal and a change stays a change.
(cd "$boards" && "$exe" diff diff-new.board diff-old.board) \
    >"$tmp/rev" 2>"$tmp/err"
[ $? -eq 1 ] &&
    [ "$(grep -c '^+ ' "$tmp/out")" = "$(grep -c '^- ' "$tmp/rev")" ] &&
    [ "$(grep -c '^- ' "$tmp/out")" = "$(grep -c '^+ ' "$tmp/rev")" ] &&
    [ "$(grep -c '^~ ' "$tmp/out")" = "$(grep -c '^~ ' "$tmp/rev")" ] &&
    grep -q '^@@ e1000 (only in OLD) @@$' "$tmp/rev" &&
    grep -qx '~ 00000000ffe00000-00000000ffefffff (prio 0, romd): flash0  (was: i/o)' \
        "$tmp/rev"
result boards-reversed $?
cross boards "$boards/diff-old.board" "$boards/diff-new.board"
cross boards-reversed "$boards/diff-new.board" "$boards/diff-old.board"
run boards-json 1 diff --json "$boards/diff-old.board" \
    "$boards/diff-new.board"
python3 -c 'import json, sys; d = json.load(sys.stdin)
assert d["equal"] is False
s = {(x["name"], x["index"]): x for x in d["address_spaces"]}
assert s[("bus master container", 0)]["status"] == "changed"
assert len(s[("bus master container", 0)]["added"]) == 7
assert len(s[("bus master container", 1)]["removed"]) == 5
assert s[("e1000", 0)]["status"] == "only_new"
c = {x["new"]["region"]: x["fields"] for x in s[("memory", 0)]["changed"]}
assert c == {"pc.ram": ["size"], "flash0": ["type", "romd"],
             "nvdimm": ["type"]}, c' <"$tmp/out" 2>"$tmp/err"
result boards-json-content $?

# The listener's events of the same change, made through the API.
if [ -n "$listener" ]; then
    "$listener" "$boards/diff-old.board" "$tmp/changed.flat" \
        >"$tmp/events" 2>"$tmp/err" &&
        "$exe" mtree -f "$boards/diff-new.board" >"$tmp/new.flat" \
            2>"$tmp/err" &&
        diff -u "$tmp/new.flat" "$tmp/changed.flat" >"$tmp/err"
    result listener-change-is-old-to-new $?
    "$exe" diff --json "$boards/diff-old.board" "$boards/diff-new.board" \
        >"$tmp/diff.json" 2>"$tmp/err"
    python3 - "$tmp/diff.json" "$tmp/events" 2>"$tmp/err" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
def line(sp, kind, r):
    return "\t".join([sp["name"], str(sp["index"]), kind, r["start"][2:],
                      r["end"][2:], r["region"], r["type"], r["offset"][2:]])
want = []
for sp in doc["address_spaces"]:  # creation order, as the listener hears
    want += [line(sp, "del", r) for r in sp["removed"]]
    want += [line(sp, "del", c["old"]) for c in sp["changed"]]
for sp in doc["address_spaces"]:
    want += [line(sp, "add", r) for r in sp["added"]]
    want += [line(sp, "add", c["new"]) for c in sp["changed"]]
heard = open(sys.argv[2]).read().splitlines()
# Per space and kind, in address order: sort both the same way.
key = lambda l: (l.split("\t")[2] == "add", int(l.split("\t")[3], 16))
group = lambda ls: sorted(ls, key=lambda l: (l.split("\t")[:3], key(l)))
assert heard, "the listener heard nothing"
if group(want) != group(heard):
    print("diff says:", *group(want), "listener heard:", *group(heard),
          sep="\n")
    sys.exit(1)
PY
    result listener-hears-what-diff-says $?
else
    echo "# no diff-listener program: the listener check is not run"
fi

if [ -w /dev/full ]; then
    "$exe" diff "$boards/diff-old.board" "$boards/diff-new.board" \
        >/dev/full 2>"$tmp/err"
    [ $? -eq 2 ] && grep -q 'write error' "$tmp/err"
    result write-error $?
fi

if [ -d "$corpus/qemu" ]; then
    q=$corpus/qemu
    for pair in "x86-q35-2G x86-q35-2G-running" \
        "x86-pc-128M x86-pc-128M-running" "x86-q35-128M x86-q35-2G" \
        "x86-q35-2G x86-q35-smm-off" "x86-pc-2G x86-pc-pflash" \
        "aarch64-virt-a57 aarch64-virt-uefi-running" \
        "x86-q35-2G-running x86-q35-ovmf-running"; do
        set -- $pair
        cross "$1-$2" "$q/$1/mtree_annotated.txt" "$q/$2/mtree_annotated.txt"
    done
    # After the firmware: the q35 MMCONFIG window and the AHCI BAR appear,
    # RAM below the BIOS area is cut up by the PAM registers.
    run q35-firmware 1 diff "$q/x86-q35-2G/mtree_annotated.txt" \
        "$q/x86-q35-2G-running/mtree_annotated.txt"
    grep -qx '@@ cpu-smm-0, cpu-memory-0, memory @@' "$tmp/out" &&
        grep -qx '+ 00000000b0000000-00000000bfffffff (prio 0, i/o): pcie-mmcfg-mmio' "$tmp/out" &&
        grep -qx '+ 00000000febff000-00000000febfffff (prio 1, i/o): ahci' "$tmp/out" &&
        grep -qx '~ 0000000000000000-00000000000c2fff (prio 0, ram): pc.ram  (was: end 00000000000bffff)' "$tmp/out" &&
        grep -qx '@@ ich9-ahci @@' "$tmp/out"
    result q35-firmware-text $?
    run same-machine 0 diff "$q/arm-mps2-an505/mtree_annotated.txt" \
        "$q/arm-mps2-an505/mtree_annotated.txt"
else
    echo "# no corpus at $corpus: its pairs are not compared"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
