#!/bin/sh
# demo.sh — `make demo`: the embedded pipeline end to end on the project's
# example messages (examples/hl7/, fictional patients).
#
#   1. artery broker         the embedded Kafka (librdkafka mock cluster)
#   2. artery-mllp-in        MLLP listener on 127.0.0.1:$DEMO_PORT
#   3. artery send           sends every example, waits for every ACK
#      artery-http-in        a FHIR Patient and a bad body over HTTP
#   4. artery tail           shows what landed: raw bytes, canonical events
#   5. artery-ehr-out        fans the events out as FHIR R4 resources (NDJSON
#                            outbox, one file per resource type)
#   6. everything stops with SIGTERM, as in production
#
# Runs from a scratch directory (.artery/demo) so nothing in the checkout
# changes; DEMO_PORT / DEMO_ADMIN_PORT pick other ports if 2575/9301 are taken.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BUILD:-build}
DEMO_PORT=${DEMO_PORT:-2575}
DEMO_ADMIN_PORT=${DEMO_ADMIN_PORT:-9301}
DEMO_EHR_ADMIN_PORT=${DEMO_EHR_ADMIN_PORT:-9311}
DEMO_HTTP_PORT=${DEMO_HTTP_PORT:-8080}
WORK=$ROOT/.artery/demo
PY=/usr/bin/python3

rm -rf "$WORK"
mkdir -p "$WORK"
BROKER_PID=""
MLLP_PID=""
HTTP_PID=""
EHR_PID=""
cleanup() {
	[ -n "$HTTP_PID" ] && kill -TERM "$HTTP_PID" 2>/dev/null && wait "$HTTP_PID" 2>/dev/null || true
	[ -n "$EHR_PID" ] && kill -TERM "$EHR_PID" 2>/dev/null && wait "$EHR_PID" 2>/dev/null || true
	[ -n "$MLLP_PID" ] && kill -TERM "$MLLP_PID" 2>/dev/null && wait "$MLLP_PID" 2>/dev/null || true
	[ -n "$BROKER_PID" ] && kill -TERM "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The shipped topology, with the demo's ports.
sed -e "s/port: 2575/port: $DEMO_PORT/" -e "s/admin_port: 9301/admin_port: $DEMO_ADMIN_PORT/" \
	-e "s/port: 8080/port: $DEMO_HTTP_PORT/" \
	-e "s|\.artery/fhir-outbox|.artery/demo/fhir-outbox|" \
	-e "s|\.artery/ehr-out.ledger.db|.artery/demo/ehr-out.ledger.db|" \
	-e "s|^processes:\$|processes:\n  ehr-out:\n    admin_port: $DEMO_EHR_ADMIN_PORT\n  http-in:\n    admin_port: -1|" \
	topology/topology.yaml > "$WORK/topology.yaml"

say "1. artery broker: embedded Kafka with the topics of topology.yaml"
"$BIN/artery" broker --topology "$WORK/topology.yaml" --bootstrap-file "$WORK/bootstrap" \
	> "$WORK/broker.out" 2> "$WORK/broker.log" &
BROKER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/bootstrap" ] && break; sleep 0.1; done
[ -s "$WORK/bootstrap" ] || { cat "$WORK/broker.log"; echo "broker did not start" >&2; exit 1; }
ARTERY_KAFKA_BOOTSTRAP=$(cat "$WORK/bootstrap")
export ARTERY_KAFKA_BOOTSTRAP
export ARTERY_SCHEMAS_DIR="$ROOT/schemas"
echo "Kafka bootstrap: $ARTERY_KAFKA_BOOTSTRAP"

say "2. artery-mllp-in: MLLP on 127.0.0.1:$DEMO_PORT, ACK only after Kafka stored the message"
"$BIN/artery-mllp-in" --topology "$WORK/topology.yaml" 2> "$WORK/mllp-in.log" &
MLLP_PID=$!
for _ in $(seq 1 100); do grep -q '"listener.start"' "$WORK/mllp-in.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"listener.start"' "$WORK/mllp-in.log" || { cat "$WORK/mllp-in.log"; exit 1; }
echo "listening (logs: .artery/demo/mllp-in.log, one JSON object per line)"

say "3. artery send examples/hl7/: every message and its ACK"
"$BIN/artery" send --port "$DEMO_PORT" --verbose examples/hl7/ || true
printf '\nand a message whose MSH-2 is broken (the sender gets AR, the bytes a dead letter):\n'
printf 'MSH|^^^^|BADAPP|NWGH|ARTERY|NWGH|20261122101500||ADT^A08|BAD-0001|P|2.5.1\rPID|1||X\r' > "$WORK/broken.hl7"
"$BIN/artery" send --port "$DEMO_PORT" --verbose "$WORK/broken.hl7" || true

say "3b. artery-http-in: the same promise over HTTP (202 only once Kafka stored it)"
"$BIN/artery-http-in" --topology "$WORK/topology.yaml" 2> "$WORK/http-in.log" &
HTTP_PID=$!
for _ in $(seq 1 100); do grep -q '"http.listen"' "$WORK/http-in.log" 2>/dev/null && break; sleep 0.1; done
grep -q '"http.listen"' "$WORK/http-in.log" || { cat "$WORK/http-in.log"; exit 1; }
$PY - "$DEMO_HTTP_PORT" <<'PYEOF'
import json, sys, urllib.request, urllib.error
port = sys.argv[1]
def post(path, body, ctype="application/fhir+json"):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), data=body.encode(),
                                 headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
patient = {"resourceType": "Patient", "id": "demo-7",
           "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN20417"}],
           "name": [{"family": "Fenwick", "given": ["Iris"]}], "gender": "female",
           "birthDate": "1974-09-03"}
st, body = post("/fhir/Patient", json.dumps(patient))
print("POST /fhir/Patient -> %d, stored: %s" % (st, ", ".join(s["topic"] for s in body.get("stored", []))))
st, body = post("/fhir/Patient", '{"resourceType": "Patient", ')
print("POST /fhir/Patient (truncated JSON) -> %d: %s" % (st, body["issue"][0]["diagnostics"]))
PYEOF

say "4. what landed in Kafka"
for t in raw.hl7v2 raw.fhir canonical.patient canonical.encounter canonical.result dlq.mllp-in dlq.http-in; do
	"$BIN/artery" tail --timeout-ms 5000 "$t" > "$WORK/$t.jsonl" 2>/dev/null || true
done
$PY scripts/demo_show.py "$WORK"

say "5. artery-ehr-out: the events fanned out as FHIR R4 resources (NDJSON outbox)"
"$BIN/artery-ehr-out" --topology "$WORK/topology.yaml" 2> "$WORK/ehr-out.log" &
EHR_PID=$!
# Wait until the outbox stops growing (every event delivered).
last=-1
for _ in $(seq 1 100); do
	n=$(cat "$WORK"/fhir-outbox/*.ndjson 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] && [ "$n" = "$last" ] && break
	last=$n
	sleep 0.3
done
for f in "$WORK"/fhir-outbox/*.ndjson; do
	printf '  %-28s %3d resource(s)\n' "$(basename "$f")" "$(wc -l < "$f")"
done
printf '\nthe critical potassium result, as FHIR (Observation.ndjson):\n'
grep -h '"2823-3"' "$WORK/fhir-outbox/Observation.ndjson" | head -1 | $PY -m json.tool | head -40
kill -TERM "$EHR_PID"; wait "$EHR_PID" && echo "artery-ehr-out exited 0 (offsets committed, group left)"; EHR_PID=""

say "6. metrics (curl http://127.0.0.1:$DEMO_ADMIN_PORT/metrics)"
$PY - "$DEMO_ADMIN_PORT" <<'PYEOF'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for line in body.splitlines():
    if line.startswith(("artery_mllp_acks_total", "artery_mllp_messages_total",
                        "artery_kafka_records_delivered_total", "artery_mllp_ack_latency_seconds_count")):
        print("  " + line)
PYEOF

say "7. SIGTERM: each ingest process answers what is in flight, flushes, exits 0"
kill -TERM "$MLLP_PID"; wait "$MLLP_PID" && echo "artery-mllp-in exited 0"; MLLP_PID=""
kill -TERM "$HTTP_PID"; wait "$HTTP_PID" && echo "artery-http-in exited 0"; HTTP_PID=""
kill -TERM "$BROKER_PID"; wait "$BROKER_PID" && echo "artery broker exited 0"; BROKER_PID=""
printf '\nEverything the demo wrote is under .artery/demo/ (topic dumps as JSON lines).\n'
