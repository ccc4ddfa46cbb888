#!/bin/sh
# bench.sh — `make bench`: every benchmark table, each next to a peer or a
# ceiling measured in the same run. Never part of `make test`. The machine
# is shared and noisy: rows are medians, compare ratios, not absolutes.
#   1. HL7 v2 parse vs memchr floor vs python-hl7     (bench/bench_parse.c)
#   2. HL7 -> canonical Avro vs parse-only             (bench/bench_map.c)
#   3. end-to-end MLLP ingest vs a bare producer        (scripts/bench_ingest.py)
#   4. consumer fan-out vs a plain librdkafka consumer  (bench/bench_consumer.c)
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CORPUS=../shared/corpus/hl7v2

if [ -d "$CORPUS" ]; then
	printf '\n== 1. parse\n'
	"$BUILD/bench_parse" "$CORPUS"
	printf '\n== 2. map + encode\n'
	"$BUILD/bench_map" "$CORPUS" schemas
else
	echo "bench: $CORPUS not found: parse and map benchmarks skipped"
fi
printf '\n== 3. end-to-end ingest\n'
/usr/bin/python3 scripts/bench_ingest.py "$BUILD"
printf '\n== 4. consumer fan-out\n'
"$BUILD/bench_consumer" "$BUILD/artery" schemas
