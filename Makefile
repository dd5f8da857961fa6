# SPDX-License-Identifier: MIT
#
# Top-level Makefile: a thin wrapper around Meson.
#
#   make            install missing packages, configure and build (build/)
#   make run        build, then print the CLI's default board (mtree, mtree -f)
#   make check      build and test build/ and build-asan/ (ASan + UBSan)
#   make bench      release build (build-release/) and run the benchmarks
#   make fuzz       libFuzzer on each fuzz target (clang, build-fuzz/), then
#                   soak runs of the model and concurrency tests; FUZZ_TIME
#                   (seconds per target, default 300), SOAK_SEEDS, SOAK_RUNS,
#                   SOAK_SEED (first seed; random and printed by default)
#   make install    meson install from build/
#   make clean      remove the build directories
#
# The build directories can be overridden, e.g. `make BUILD=b check`.

MESON ?= meson
NINJA ?= ninja
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_RELEASE ?= build-release
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
JOBS ?= 2

.PHONY: all deps build run check bench fuzz install clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@if [ ! -f $(BUILD)/build.ninja ]; then \
	    $(MESON) setup $(BUILD) -Dbuildtype=debugoptimized; \
	fi
	$(NINJA) -C $(BUILD)

# The mini VMM on the built-in board: the guest on KVM where /dev/kvm
# works, else the same accesses made from the host (it says which).
run: build
	$(BUILD)/tools/guestmem run

check: deps
	@BUILD=$(BUILD) BUILD_ASAN=$(BUILD_ASAN) BUILD_TSAN=$(BUILD_TSAN) JOBS=$(JOBS) \
	    bash scripts/check.sh

bench: deps
	@if [ ! -f $(BUILD_RELEASE)/build.ninja ]; then \
	    $(MESON) setup $(BUILD_RELEASE) -Dbuildtype=release \
	        -Db_ndebug=true; \
	fi
	$(NINJA) -C $(BUILD_RELEASE)
	$(MESON) test -C $(BUILD_RELEASE) --benchmark --verbose \
	    --num-processes 1

fuzz:
	@bash scripts/deps.sh --fuzz
	@BUILD_FUZZ=$(BUILD_FUZZ) BUILD_ASAN=$(BUILD_ASAN) BUILD_TSAN=$(BUILD_TSAN) \
	    bash scripts/fuzz.sh

install: build
	$(MESON) install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_RELEASE) $(BUILD_FUZZ)
