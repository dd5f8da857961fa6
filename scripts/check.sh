#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/check.sh - build and test guestmem in two configurations.
#
#   1. BUILD       (default "build"): buildtype=debugoptimized
#   2. BUILD_ASAN  (default "build-asan"): the same with AddressSanitizer and
#      UndefinedBehaviorSanitizer, leak detection on, halting on the first
#      UB report
#   3. BUILD_TSAN  (default "build-tsan"): ThreadSanitizer, the concurrency
#      suite only
#
# Each configuration is set up when it is not yet, built with ninja and
# tested with `meson test --print-errorlogs`. The counts are read from
# meson-logs/testlog.json of both runs and summed into one closing line,
#
#   N passed, N failed
#
# (a configuration that fails to build counts as one failure). The exit
# status is non-zero when anything failed.
#
# Environment: BUILD, BUILD_ASAN, JOBS (test processes, default 2),
# MESON_TEST_ARGS (extra arguments for both `meson test` runs).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
BUILD_TSAN=${BUILD_TSAN:-build-tsan}
JOBS=${JOBS:-2}
MESON_TEST_ARGS=${MESON_TEST_ARGS:-}

total_pass=0
total_fail=0
total_skip=0

# setup DIR ARGS... - configure DIR unless it already is; re-create it when
# it is left half-configured (no build.ninja) or was made by another meson.
setup() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ] && [ -f "$dir/meson-private/coredata.dat" ]
    then
        return 0
    fi
    if [ -d "$dir" ]; then
        meson setup --wipe "$dir" "$@" || meson setup "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

# count DIR - add the results of DIR's last test run to the totals.
count() {
    local log=$1/meson-logs/testlog.json counts
    if [ ! -f "$log" ]; then
        echo "check: $1: no test log" >&2
        return 1
    fi
    counts=$(python3 - "$log" <<'EOF'
import json, sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        result = json.loads(line).get("result", "ERROR")
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS, INTERRUPT
            failed += 1
print(passed, failed, skipped)
EOF
    ) || return 1
    # shellcheck disable=SC2086 # three numbers, split on purpose
    set -- $counts
    total_pass=$((total_pass + $1))
    total_fail=$((total_fail + $2))
    total_skip=$((total_skip + $3))
    echo "check: $1 ok, $2 failing, $3 skipped in $log"
}

# run_config LABEL DIR TIMEOUT_MULTIPLIER SETUP_ARGS... - build and test one
# configuration, accumulating its counts.
run_config() {
    local label=$1 dir=$2 mult=$3
    shift 3
    echo "=== check: $label ($dir) ==="
    if ! setup "$dir" "$@" || ! ninja -C "$dir"; then
        echo "check: $label: build FAILED" >&2
        total_fail=$((total_fail + 1))
        return
    fi
    rm -f "$dir/meson-logs/testlog.json"
    # shellcheck disable=SC2086
    meson test -C "$dir" --num-processes "$JOBS" --print-errorlogs \
        --timeout-multiplier "$mult" $MESON_TEST_ARGS
    local rc=$?
    local before=$total_fail
    if ! count "$dir"; then
        total_fail=$((total_fail + 1))
    elif [ $rc -ne 0 ] && [ $total_fail -eq "$before" ]; then
        # meson failed without a failing test (e.g. a bad argument).
        echo "check: $label: meson test exited with $rc" >&2
        total_fail=$((total_fail + 1))
    fi
}

run_config "normal" "$BUILD" 1 -Dbuildtype=debugoptimized

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
run_config "sanitizers" "$BUILD_ASAN" 3 -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false

# ThreadSanitizer: only the concurrency suite (readers against a committing
# writer; dirty-bit writers against a snapshotting consumer); building the
# rest under TSan would add minutes for nothing. The programs to build are
# read from meson's list of the suite's tests.
concurrency_targets() {
    meson introspect --tests "$1" | python3 -c '
import json, os, sys
build = os.path.realpath(sys.argv[1])
for t in json.load(sys.stdin):
    if "concurrency" in t["suite"] or any(s.endswith(":concurrency") for s in t["suite"]):
        print(os.path.relpath(os.path.realpath(t["cmd"][0]), build))
' "$1" | sort -u
}
echo "=== check: threads ($BUILD_TSAN) ==="
if setup "$BUILD_TSAN" -Dbuildtype=debugoptimized -Db_sanitize=thread \
        -Db_lundef=false &&
    targets=$(concurrency_targets "$BUILD_TSAN") && [ -n "$targets" ] &&
    ninja -C "$BUILD_TSAN" $targets; then
    rm -f "$BUILD_TSAN/meson-logs/testlog.json"
    TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} \
        meson test -C "$BUILD_TSAN" --no-rebuild --suite concurrency \
        --print-errorlogs --timeout-multiplier 4
    count "$BUILD_TSAN" || total_fail=$((total_fail + 1))
else
    echo "check: threads: build FAILED" >&2
    total_fail=$((total_fail + 1))
fi

if [ $total_skip -gt 0 ]; then
    echo "($total_skip skipped)"
fi
echo "$total_pass passed, $total_fail failed"
[ $total_fail -eq 0 ]
