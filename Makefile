# Thin wrapper over CMake/ctest. The two commands a new user needs:
#   make demo   — install deps, build, run the embedded pipeline on examples
#   make test   — install deps, build, run every test (plus ASan/UBSan unit
#                 tests and short fuzz runs)
# Others: make build, make bench, make fuzz, make asan, make format, make clean
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
FUZZ_SECONDS ?= 20

.PHONY: all deps build demo test test-main test-asan test-fuzz asan fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@scripts/demo.sh

test: build
	@scripts/test.sh $(BUILD)

asan: deps
	@cmake -S . -B build-asan -DART_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build-asan -j $(JOBS)

fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DART_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	@scripts/bench.sh $(BUILD)

format:
	@clang-format -i common/*.[ch] tools/artery/*.c producers/*/*.c consumers/*/*.c tests/*/*.c bench/*.c 2>/dev/null || true

clean:
	rm -rf build build-asan build-fuzz .artery
