#!/usr/bin/python3
"""python_reader.py — decode Artery records with nothing but standard tools.

The proof that Artery's records are readable outside Artery: this reader
uses only Debian's python3-confluent-kafka and python3-avro, the .avsc
files and the schema id in each record. It shares no code with Artery.

For every record of TOPIC (all partitions, from the beginning, until the
end of each partition): check byte 0 is 0x00, read the 4-byte big-endian
schema id, find the .avsc for that id in SCHEMAS/registry.json (or use
--avsc/--id), decode the rest with avro.io.DatumReader + BinaryDecoder and
print one JSON line:

  {"topic", "partition", "offset", "key", "headers", "schema_id", "value"}

Rendering: timestamp-micros values (datetime) as integer microseconds,
bytes as text when valid UTF-8 else {"base64": ...} — the same mapping as
`artery tail`, so the two can be compared. A record that cannot be decoded
is printed with "error" and makes the exit status 1.

Usage: python_reader.py --bootstrap HOST:PORT --topic TOPIC
                        (--schemas DIR | --avsc FILE --id N) [--timeout S]
Exit: 0 all decoded, 1 a record failed, 2 usage/connection problem,
      3 python3-avro or python3-confluent-kafka missing.
"""
import argparse
import base64
import datetime
import io
import json
import os
import struct
import sys
import time

try:
    import avro.io
    import avro.schema
    from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING
except ImportError as e:  # the C test skips on this exit code
    print("python_reader: missing module: %s" % e, file=sys.stderr)
    sys.exit(3)

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def plain(v):
    """Avro datum -> JSON-ready value."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        return (v - EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(v, datetime.date):
        return (v - EPOCH.date()).days
    return v


class Schemas:
    """Writer schemas by id, from registry.json or one --avsc/--id pair."""

    def __init__(self, schemas_dir=None, avsc=None, schema_id=None):
        self.files = {}
        self.parsed = {}
        if avsc:
            self.files[schema_id] = avsc
        else:
            with open(os.path.join(schemas_dir, "registry.json")) as f:
                for e in json.load(f)["schemas"]:
                    self.files[e["id"]] = os.path.join(schemas_dir, e["file"])

    def get(self, schema_id):
        if schema_id not in self.parsed:
            if schema_id not in self.files:
                raise ValueError("unknown schema id %d" % schema_id)
            with open(self.files[schema_id]) as f:
                self.parsed[schema_id] = avro.schema.parse(f.read())
        return self.parsed[schema_id]


def decode(schemas, value):
    """Confluent wire format -> (schema id, datum)."""
    if value is None or len(value) < 5:
        raise ValueError("not wire format: shorter than 5 bytes")
    if value[0] != 0:
        raise ValueError("not wire format: first byte 0x%02x" % value[0])
    (schema_id,) = struct.unpack(">I", value[1:5])
    body = io.BytesIO(value[5:])
    datum = avro.io.DatumReader(schemas.get(schema_id)).read(avro.io.BinaryDecoder(body))
    if body.tell() != len(value) - 5:
        raise ValueError("%d trailing bytes" % (len(value) - 5 - body.tell()))
    return schema_id, datum


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--schemas", help="directory with registry.json")
    ap.add_argument("--avsc", help="writer schema file (with --id)")
    ap.add_argument("--id", type=int, help="the id records written with --avsc carry")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds to reach the end")
    args = ap.parse_args()
    if not args.schemas and not (args.avsc and args.id is not None):
        ap.error("give --schemas DIR, or --avsc FILE and --id N")
    schemas = Schemas(args.schemas, args.avsc, args.id)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "python-reader",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    md = consumer.list_topics(args.topic, timeout=10)
    topic = md.topics.get(args.topic)
    if topic is None or topic.error is not None or not topic.partitions:
        print("python_reader: no topic %s" % args.topic, file=sys.stderr)
        return 2
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in topic.partitions])
    at_end = set()
    failed = 0
    deadline = time.monotonic() + args.timeout
    while len(at_end) < len(topic.partitions):
        if time.monotonic() > deadline:
            print("python_reader: end of topic not reached in time", file=sys.stderr)
            return 2
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
                continue
            print("python_reader: %s" % msg.error(), file=sys.stderr)
            return 2
        line = {
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": plain(msg.key()) if msg.key() is not None else None,
            "headers": {k: plain(v) if v is not None else None for k, v in (msg.headers() or [])},
        }
        try:
            line["schema_id"], datum = decode(schemas, msg.value())
            line["value"] = plain(datum)
        except Exception as e:  # report and go on, like artery tail
            line["error"] = str(e)
            failed += 1
        print(json.dumps(line, sort_keys=False), flush=True)
    consumer.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
