#!/bin/sh
# test.sh — everything `make test` runs, in order, stopping at the first
# failure:
#   1. lint: banned C calls (STYLE.md) in project sources
#   2. every ctest suite of the normal build (unit, then integration)
#   3. the unit tests again under AddressSanitizer + UBSan
#   4. a short bounded run of every libFuzzer target (clang)
# Usage: scripts/test.sh [BUILD_DIR]   (FUZZ_SECONDS=N to change step 4)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
start=$(date +%s)

step() { printf '\n== %s\n' "$*"; }

step "lint: banned calls"
if grep -nE '\<(sprintf|vsprintf|strcpy|strcat|strtok|atoi|gets)[[:space:]]*\(' \
	common/*.[ch] tools/artery/*.[ch] producers/*/*.[ch] consumers/*/*.[ch] \
	tests/*/*.[ch] bench/*.[ch] 2>/dev/null; then
	echo "banned calls found (STYLE.md: use snprintf, art_buf, strtol/art_parse_int)" >&2
	exit 1
fi
echo "ok"

step "unit tests"
ctest --test-dir "$BUILD" -L unit -j "$JOBS" --output-on-failure

step "integration tests"
ctest --test-dir "$BUILD" -L integration --output-on-failure

step "unit tests under ASan + UBSan"
cmake -S . -B build-asan -DART_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j "$JOBS" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan -L unit -j "$JOBS" --output-on-failure

step "fuzz targets, ${FUZZ_SECONDS}s each"
CC=clang cmake -S . -B build-fuzz -DART_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$JOBS" >/dev/null
scripts/fuzz.sh build-fuzz "$FUZZ_SECONDS"

printf '\nall tests passed in %ss\n' "$(($(date +%s) - start))"
