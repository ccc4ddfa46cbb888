#!/bin/sh
# fuzz.sh — run every libFuzzer target in BUILD_DIR for SECONDS each, seeded
# from ../shared/corpus/hl7v2 (fuzz_fhir*: ../shared/corpus/fhir) when
# present (read in place, never copied).
# A crash leaves its reproducer in build-fuzz/crashes/ and fails the run.
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
cd "$(dirname "$0")/.."
BUILD=$1
SECONDS_EACH=$2
SEEDS=../shared/corpus/hl7v2
mkdir -p "$BUILD/crashes"
found=0
for f in "$BUILD"/fuzz_*; do
	[ -x "$f" ] || continue
	found=1
	name=$(basename "$f")
	work="$BUILD/corpus-$name"
	mkdir -p "$work"
	seeds=""
	dir=$SEEDS
	case $name in fuzz_fhir*) dir=../shared/corpus/fhir ;; esac
	[ -d "$dir" ] && seeds=$(find "$dir" -type d | tr '\n' ' ')
	echo "fuzz: $name for ${SECONDS_EACH}s"
	# shellcheck disable=SC2086
	if ! "$f" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 \
		-artifact_prefix="$BUILD/crashes/$name-" -print_final_stats=1 \
		"$work" $seeds >"$BUILD/$name.log" 2>&1; then
		tail -40 "$BUILD/$name.log"
		echo "fuzz: $name FAILED (reproducer in $BUILD/crashes/)" >&2
		exit 1
	fi
	grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$BUILD/$name.log" | tail -1
done
[ "$found" = 1 ] || { echo "fuzz: no fuzz targets built" >&2; exit 1; }
