#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/fuzz.sh - the long runs `make check` has no time for.
#
#   1. libFuzzer: each target of fuzz/ built with clang, ASan and UBSan
#      (BUILD_FUZZ, default "build-fuzz") runs for FUZZ_TIME seconds
#      (default 300) from its seed corpus; new inputs that reach new code
#      are kept in BUILD_FUZZ/corpus/TARGET, crashes in
#      BUILD_FUZZ/artifacts/ (replay one with
#      `BUILD_FUZZ/fuzz/TARGET FILE`).
#   2. Soak: the access model and the flat-view property test over
#      SOAK_SEEDS seeds (default 200) from SOAK_SEED in the ASan build, the
#      latter with GM_DEBUG_VERIFY=1; the ThreadSanitizer concurrency test
#      SOAK_RUNS times (default 10).
#
# Seeds: this script is the one place where the property tests get random
# seeds (`make check` passes fixed ones). SOAK_SEED defaults to a random
# number, printed before the runs; each failing seed is printed too, and
# SOAK_SEED=N replays a whole soak (or pass `--seed S` to one program).
# libFuzzer picks and prints its own seed ("INFO: Seed: N"; replay with
# -seed=N).
#
# Closes with "N passed, N failed" (one per run) and exits non-zero when
# anything failed. Run through `make fuzz`, which installs clang first.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
BUILD_ASAN=${BUILD_ASAN:-build-asan}
BUILD_TSAN=${BUILD_TSAN:-build-tsan}
FUZZ_TIME=${FUZZ_TIME:-300}
SOAK_SEEDS=${SOAK_SEEDS:-200}
# 31 random bits: far from the small fixed seeds of `make check`.
SOAK_SEED=${SOAK_SEED:-$(( $(od -An -N4 -tu4 /dev/urandom) & 0x7fffffff ))}
SOAK_RUNS=${SOAK_RUNS:-10}

pass=0
fail=0

result() { # result NAME STATUS
    if [ "$2" -eq 0 ]; then
        pass=$((pass + 1))
        echo "fuzz: ok   $1"
    else
        fail=$((fail + 1))
        echo "fuzz: FAIL $1 (exit $2)"
    fi
}

setup() { # setup DIR ARGS... (as scripts/check.sh)
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        return 0
    fi
    if [ -d "$dir" ]; then
        meson setup --wipe "$dir" "$@" || meson setup "$dir" "$@"
    else
        meson setup "$dir" "$@"
    fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# 1. libFuzzer.
if CC=clang setup "$BUILD_FUZZ" -Dfuzz=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false &&
    ninja -C "$BUILD_FUZZ"; then
    mkdir -p "$BUILD_FUZZ/artifacts"
    for t in fuzz-import fuzz-ops; do
        work="$BUILD_FUZZ/corpus/$t"
        mkdir -p "$work"
        case $t in
        fuzz-import) seeds=(fuzz/corpus/import tests/conformance/boards
                            tests/conformance/malformed) ;;
        *) seeds=(fuzz/corpus/ops) ;;
        esac
        echo "fuzz: $t for ${FUZZ_TIME} s"
        "$BUILD_FUZZ/fuzz/$t" -max_total_time="$FUZZ_TIME" \
            -print_final_stats=1 -timeout=20 -rss_limit_mb=4096 \
            -artifact_prefix="$BUILD_FUZZ/artifacts/$t-" \
            "$work" "${seeds[@]}"
        result "libFuzzer $t" $?
    done
else
    result "libFuzzer build ($BUILD_FUZZ)" 1
fi

# 2. Soak runs.
if setup "$BUILD_ASAN" -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false &&
    ninja -C "$BUILD_ASAN"; then
    last=$((SOAK_SEED + SOAK_SEEDS - 1))
    echo "fuzz: soak seeds $SOAK_SEED..$last (replay: SOAK_SEED=$SOAK_SEED)"
    "$BUILD_ASAN/tests/access/model-access" --seed "$SOAK_SEED" \
        --seeds "$SOAK_SEEDS" --ops 20000
    result "model-access, seeds $SOAK_SEED..$last" $?
    st=0
    for ((s = SOAK_SEED; s <= last; s++)); do
        if ! GM_DEBUG_VERIFY=1 "$BUILD_ASAN/tests/model/prop-flatview" \
            --seed "$s" --ops 5000 >/dev/null; then
            st=1
            echo "fuzz: prop-flatview failed with --seed $s --ops 5000"
        fi
    done
    result "prop-flatview with GM_DEBUG_VERIFY, seeds $SOAK_SEED..$last" $st
else
    result "sanitizer build ($BUILD_ASAN)" 1
fi
if setup "$BUILD_TSAN" -Dbuildtype=debugoptimized -Db_sanitize=thread \
        -Db_lundef=false && ninja -C "$BUILD_TSAN"; then
    st=0
    for ((i = 0; i < SOAK_RUNS; i++)); do
        "$BUILD_TSAN/tests/unit/test-concurrency" >/dev/null || st=1
    done
    result "test-concurrency under TSan, $SOAK_RUNS runs" $st
else
    result "ThreadSanitizer build ($BUILD_TSAN)" 1
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
