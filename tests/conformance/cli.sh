#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# cli.sh GUESTMEM [MANPAGE] - the command line and the board format.
#
# Checks the top-level and per-command help (`--help`, `-h`, `help CMD`,
# exit statuses documented), usage errors, option parsing (combined short
# options, long forms, options after FILE, `--`), where the input comes
# from (FILE, `-`, standard input when it is not a terminal, the built-in
# board at a terminal and with --builtin), the input limit (--max-size,
# /dev/zero, pipes), directories and unreadable files, every output mode
# on the built-in board (JSON parsed when python3 is present), a write
# error, the board examples under boards/, and that a dump printed with
# `-D --annotate` imports back to the same dump and the same flat views.
# With MANPAGE, also that the man page has a section for every command of
# `guestmem --help`, naming every option and exit status of the command's
# --help, and that groff finds nothing to warn about. Ends with
# `N passed, N failed`.
set -u

exe=${1:?usage: cli.sh GUESTMEM [MANPAGE]}
man=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
case $exe in
*/*) exe=$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe") ;;
esac

tmp=$(mktemp -d)
trap 'chmod -R u+rwx "$tmp"; rm -rf "$tmp"' EXIT

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

skip() {
    echo "ok $1 # skip $2"
}

# run NAME STATUS ARGS... -- expect exit STATUS and no sanitizer report;
# standard input is /dev/null unless redirected by the caller (runin).
run() {
    local name=$1 status=$2 rc
    shift 2
    "$exe" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    ! grep -qE 'Sanitizer|runtime error' "$tmp/err" && [ "$rc" -eq "$status" ]
    result "$name" $?
}

# runin NAME STATUS INPUT ARGS... -- the same with standard input from
# the file INPUT.
runin() {
    local name=$1 status=$2 input=$3 rc
    shift 3
    "$exe" "$@" >"$tmp/out" 2>"$tmp/err" <"$input"
    rc=$?
    ! grep -qE 'Sanitizer|runtime error' "$tmp/err" && [ "$rc" -eq "$status" ]
    result "$name" $?
}

# errmsg NAME PATTERN -- the last command's stderr contains PATTERN and it
# printed nothing on stdout.
errmsg() {
    grep -qF -- "$2" "$tmp/err" && [ ! -s "$tmp/out" ]
    result "$1" $?
}

#
# Help and usage errors.
#
run help 0 --help
grep -q '^usage: guestmem COMMAND' "$tmp/out" &&
    grep -q '^  mtree ' "$tmp/out" && grep -q '^Exit status' "$tmp/out"
result help-text $?
run help-short 0 -h
run help-command 0 help
grep -q '^usage: guestmem COMMAND' "$tmp/out"
result help-command-text $?
run version 0 --version
grep -q '^guestmem [0-9]' "$tmp/out"
result version-text $?
for how in "mtree --help" "mtree -h" "help mtree" "mtree -f --help FILE"; do
    # shellcheck disable=SC2086 # the words of $how, on purpose
    run "mtree-help ($how)" 0 $how
    grep -q '^usage: guestmem mtree' "$tmp/out" &&
        grep -q '^Exit status:' "$tmp/out" &&
        grep -q '^  0  ' "$tmp/out" && grep -q '^  1  ' "$tmp/out" &&
        grep -q '^  2  ' "$tmp/out"
    result "mtree-help-text ($how)" $?
done
run help-unknown 2 help frobnicate
run no-command 2
grep -q '^usage: guestmem COMMAND' "$tmp/err"
result no-command-usage $?
run unknown-command 2 frobnicate
errmsg unknown-command-text "unknown command \`frobnicate\`"
run unknown-top-option 2 --frob
errmsg unknown-top-option-text "unknown option \`--frob\`"
run unknown-option 2 mtree --frob
errmsg unknown-option-text "guestmem mtree: unknown option \`--frob\`"
run unknown-short 2 mtree -fX
errmsg unknown-short-text "unknown option \`-X\`"
run two-files 2 mtree a.txt b.txt
errmsg two-files-text "expected one FILE"
run builtin-and-file 2 mtree --builtin a.txt
errmsg builtin-and-file-text "not both"
run max-size-missing 2 mtree --max-size
errmsg max-size-missing-text "option \`--max-size\` needs a value"
for bad in abc 12Q -1 1KB 99999999999999999999 99999999T ''; do
    run "max-size-bad ($bad)" 2 mtree --builtin "--max-size=$bad"
    errmsg "max-size-bad-text ($bad)" "--max-size: expected a size"
done

#
# The built-in board in every mode.
#
run default-tree 0 mtree --builtin
grep -q '^address-space: memory$' "$tmp/out" &&
    grep -q '^memory-region: pc.ram$' "$tmp/out"
result default-tree-text $?
cp "$tmp/out" "$tmp/tree"
run default-disabled 0 mtree -D --builtin
grep -q 'alias pam-ram @pc.ram .* \[disabled\]$' "$tmp/out"
result default-disabled-text $?
cp "$tmp/out" "$tmp/tree-D"
run default-flat 0 mtree -f --builtin
grep -q '^  No rendered FlatView$' "$tmp/out" &&
    grep -q '(prio 0, romd): pflash0$' "$tmp/out" &&
    grep -q '(prio 1, ramd): vfio-bar0$' "$tmp/out" &&
    grep -q '(prio 0, nv-ram): nvdimm0$' "$tmp/out" &&
    grep -q '(prio 0, rom): pc.bios @0000000000020000$' "$tmp/out"
result default-flat-text $?
cp "$tmp/out" "$tmp/flat"

# Option spellings: combined, long, in any order, after the operand.
same() {
    local name=$1 ref=$2
    shift 2
    "$exe" "$@" >"$tmp/same" 2>"$tmp/err" </dev/null &&
        cmp -s "$ref" "$tmp/same"
    result "$name" $?
}
same combined-fD "$tmp/flat" mtree -fD --builtin
same combined-Df "$tmp/flat" mtree -Df --builtin
same long-flat "$tmp/flat" mtree --flat --builtin
same long-disabled "$tmp/tree-D" mtree --disabled --builtin
same long-abbreviated "$tmp/tree-D" mtree --dis --builtin
same option-last "$tmp/tree-D" mtree --builtin -D
# The built-in board as a dump, and what it prints (its spaces come back
# in another order).
"$exe" mtree -D --annotate --builtin >"$tmp/board.txt" 2>"$tmp/err"
"$exe" mtree "$tmp/board.txt" >"$tmp/ftree" 2>>"$tmp/err" &&
    "$exe" mtree -f "$tmp/board.txt" >"$tmp/fflat" 2>>"$tmp/err"
result board-dump $?
same after-file "$tmp/fflat" mtree "$tmp/board.txt" -f
mkdir "$tmp/dash" && cp "$tmp/board.txt" "$tmp/dash/-f"
(cd "$tmp/dash" && "$exe" mtree -- -f) >"$tmp/same" 2>"$tmp/err" &&
    cmp -s "$tmp/ftree" "$tmp/same"
result double-dash $?

if command -v python3 >/dev/null; then
    for flags in "" "-D" "-f" "-fD"; do
        # shellcheck disable=SC2086 # no flags is no word
        run "default-json ($flags)" 0 mtree --json $flags --builtin
        case $flags in
        *f*) want='d["view"] == "flat" and d["flat_views"]' ;;
        -D) want='d["view"] == "tree" and d["disabled"] is True' ;;
        *) want='d["view"] == "tree" and d["disabled"] is False' ;;
        esac
        python3 -c "import json, sys; d = json.load(sys.stdin);
assert d['format'] == 'guestmem-mtree' and d['version'] == 1 and $want" \
            <"$tmp/out" 2>"$tmp/err"
        result "default-json-parses ($flags)" $?
    done
else
    skip default-json-parses "no python3"
fi

# A write error is reported (gm_mtree_print returns -EIO): status 1.
if [ -w /dev/full ]; then
    "$exe" mtree -f --builtin >/dev/full 2>"$tmp/err" </dev/null
    [ $? -eq 1 ] && grep -q 'write error' "$tmp/err"
    result write-error $?
    "$exe" mtree --help >/dev/full 2>"$tmp/err"
    [ $? -eq 1 ]
    result help-write-error $?
else
    skip write-error "no /dev/full"
fi

#
# Where the input comes from.
#
runin stdin-dash 0 "$tmp/board.txt" mtree -f -
cmp -s "$tmp/fflat" "$tmp/out"
result stdin-dash-same $?
runin stdin-implicit 0 "$tmp/board.txt" mtree -f
cmp -s "$tmp/fflat" "$tmp/out"
result stdin-implicit-same $?
"$exe" mtree -f <"$tmp/board.txt" 2>"$tmp/err" | cmp -s "$tmp/fflat" -
result stdin-file-redirect $?
cat "$tmp/board.txt" | "$exe" mtree -f 2>"$tmp/err" | cmp -s "$tmp/fflat" -
result stdin-pipe $?
runin stdin-builtin 0 "$tmp/board.txt" mtree -f --builtin
cmp -s "$tmp/flat" "$tmp/out"
result stdin-builtin-same $?
run stdin-empty 2 mtree -f
errmsg stdin-empty-text "<stdin>:1: expected"
grep -q -- '--builtin' "$tmp/err"
result stdin-empty-hint $?
runin stdin-board 0 "$here/boards/example.board" mtree -f -
cmp -s "$here/boards/example.flat" "$tmp/out"
result stdin-board-same $?
printf 'address-space: memory\n  0000000000000000-zz (prio 0, i/o): x\n' \
    >"$tmp/bad.txt"
runin stdin-bad 2 "$tmp/bad.txt" mtree -
errmsg stdin-bad-text "<stdin>:2: expected"
# At a terminal, no FILE is the built-in board (and nothing is read).
if command -v python3 >/dev/null; then
    python3 - "$exe" >"$tmp/out" 2>"$tmp/err" <<'EOF'
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.run([sys.argv[1], "mtree", "-f"], stdin=slave,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
os.close(slave)
os.close(master)
sys.stdout.buffer.write(p.stdout)
sys.stderr.buffer.write(p.stderr)
sys.exit(p.returncode)
EOF
    [ $? -eq 0 ] && cmp -s "$tmp/flat" "$tmp/out"
    result stdin-terminal-builtin $?
else
    skip stdin-terminal-builtin "no python3"
fi

#
# Input limits and files that are not.
#
run missing 2 mtree "$tmp/no-such-file.txt"
errmsg missing-text "no-such-file.txt: expected a readable file: No such file"
run not-a-dir 2 mtree "$tmp/board.txt/x"
errmsg not-a-dir-text "expected a readable file: Not a directory"
run directory 2 mtree "$tmp"
errmsg directory-text "$tmp: expected a file, not a directory"
runin stdin-directory 2 "$tmp" mtree -
errmsg stdin-directory-text "<stdin>: expected a file, not a directory"
cp "$tmp/board.txt" "$tmp/unreadable.txt" && chmod 000 "$tmp/unreadable.txt"
if [ -r "$tmp/unreadable.txt" ]; then
    skip unreadable "running as root: every file is readable"
else
    run unreadable 2 mtree "$tmp/unreadable.txt"
    errmsg unreadable-text \
        "unreadable.txt: expected a readable file: Permission denied"
fi
# The default limit reads 256 MiB first: seconds under the sanitizers, whose
# builds set CLI_TEST_SANITIZED.
if [ -r /dev/zero ] && [ -n "${CLI_TEST_SANITIZED:-}" ]; then
    skip dev-zero "256 MiB under the sanitizers (the 1 MiB case runs)"
elif [ -r /dev/zero ]; then
    run dev-zero 2 mtree /dev/zero
    errmsg dev-zero-text "/dev/zero: expected at most 256 MiB of input, \
the limit (--max-size=SIZE raises it)"
fi
if [ -r /dev/zero ]; then
    run dev-zero-1M 2 mtree --max-size=1M /dev/zero
    errmsg dev-zero-1M-text "/dev/zero: expected at most 1 MiB of input"
    runin dev-zero-stdin 2 /dev/zero mtree --max-size 64k
    errmsg dev-zero-stdin-text "<stdin>: expected at most 64 KiB of input"
fi
size=$(wc -c <"$tmp/board.txt")
run max-size-file 2 mtree --max-size=$((size - 1)) "$tmp/board.txt"
errmsg max-size-file-text "board.txt: expected at most"
run max-size-exact 0 mtree --max-size=$size -f "$tmp/board.txt"
cmp -s "$tmp/fflat" "$tmp/out"
result max-size-exact-same $?
run max-size-unlimited 0 mtree --max-size=0 -f "$tmp/board.txt"
head -c $((size + 1000)) /dev/zero | "$exe" mtree --max-size=$size - \
    >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ]
errmsg max-size-pipe "<stdin>: expected at most"
printf '\n\n' | "$exe" mtree --max-size=1 >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ]
errmsg max-size-pipe-small "<stdin>: expected at most 1 byte of input"

#
# Our own annotated dump imports back to the same dump and flat views.
#
"$exe" mtree -D --annotate --builtin >"$tmp/d1" 2>"$tmp/err"
result annotate $?
"$exe" mtree -D --annotate "$tmp/d1" >"$tmp/d2" 2>"$tmp/err" &&
    cmp -s "$tmp/d1" "$tmp/d2"
result annotate-roundtrip $?
"$exe" mtree -f "$tmp/d1" >"$tmp/f2" 2>>"$tmp/err" &&
    diff <(grep -v '^ AS ' "$tmp/flat") <(grep -v '^ AS ' "$tmp/f2") \
        >"$tmp/diff" && [ "$(grep -c '^ AS ' "$tmp/flat")" = \
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
"$exe" mtree -D --builtin >"$tmp/plain.txt" 2>"$tmp/err"
result plain-dump $?
run plain-dump-import 0 mtree -f "$tmp/plain.txt"

#
# The man page has, for every command `guestmem --help` lists, a
# subsection under COMMANDS that names every option of the command's
# --help (the shared ones may be under OPTIONS instead) and one under
# EXIT STATUS with every status its --help gives.
#
# subsection SECTION NAME -- the lines of `.SS NAME` under `.SH SECTION`.
subsection() {
    awk -v sh=".SH $1" -v ss="$2" '
        /^\.SH / { insh = ($0 == sh); inss = 0; next }
        /^\.SS / { inss = insh && substr($0, 5) == ss; next }
        inss' "$man"
}
# section SECTION -- the lines of `.SH SECTION`, subsections included.
section() {
    awk -v sh=".SH $1" '/^\.SH / { insh = ($0 == sh); next } insh' "$man"
}
if [ -n "$man" ]; then
    "$exe" --help >"$tmp/help" 2>"$tmp/err"
    commands=$(sed -n '/^Commands:$/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p' \
        "$tmp/help")
    [ -n "$commands" ]
    result man-commands-listed $?
    section OPTIONS >"$tmp/man-shared"
    for cmd in $commands; do
        subsection COMMANDS "$cmd" >"$tmp/man-cmd"
        [ -s "$tmp/man-cmd" ] ||
            echo "no \`.SS $cmd\` under COMMANDS in $man" >"$tmp/err"
        [ -s "$tmp/man-cmd" ]
        result "man-section-$cmd" $?
        "$exe" help "$cmd" >"$tmp/help" 2>"$tmp/err"
        missing=
        for opt in $(grep -oE -- '--[a-z][a-z-]+' "$tmp/help" | sort -u) \
            $(grep -oE -- '^  -[A-Za-z]\>' "$tmp/help" | sort -u); do
            grep -qF -- "${opt//-/\\-}" "$tmp/man-cmd" ||
                grep -qF -- "${opt//-/\\-}" "$tmp/man-shared" ||
                missing="$missing $opt"
        done
        [ -z "$missing" ] ||
            echo "missing from the man page's $cmd:$missing" >"$tmp/err"
        [ -z "$missing" ]
        result "man-options-$cmd" $?
        subsection "EXIT STATUS" "$cmd" >"$tmp/man-exit"
        missing=
        for st in $(sed -n '/^Exit status/,$p' "$tmp/help" |
            grep -oE '\<[0-9]\>' | sort -u); do
            grep -qx "\.B $st" "$tmp/man-exit" || missing="$missing $st"
        done
        [ -s "$tmp/man-exit" ] && [ -z "$missing" ] ||
            echo "exit statuses of $cmd missing from the man page:" \
                "${missing:- all}" >"$tmp/err"
        [ -s "$tmp/man-exit" ] && [ -z "$missing" ]
        result "man-exit-$cmd" $?
    done
    grep -q '^\.SH EXIT STATUS' "$man" &&
        grep -q "^\.TH GUESTMEM 1 .*guestmem $("$exe" --version |
            cut -d' ' -f2)\"" "$man"
    result man-header $?
    # groff's warnings (-ww) about the page, if groff is installed.
    if command -v groff >/dev/null; then
        groff -man -ww -z -Tutf8 "$man" >"$tmp/out" 2>"$tmp/err" &&
            [ ! -s "$tmp/err" ]
        result man-groff $?
    else
        skip man-groff "no groff"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
