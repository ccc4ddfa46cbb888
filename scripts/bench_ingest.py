#!/usr/bin/python3
"""bench_ingest.py — end-to-end MLLP ingest benchmark (issue 3).

Starts `artery broker` and `artery-mllp-in`, then measures with `artery send`:
messages/s and ACK latency p50/p99 with 1, 8 and 32 connections (one frame
in flight per connection, as interface engines send), 32 connections with a
pipelining window of 8, and the latency at 2,000 messages/s offered.

Next to each row, in the same run and on the same broker, two ceilings at
the SAME concurrency (a window-1 connection is one message in flight), each
a bare librdkafka producer with the same producer settings (bench_produce)
and no MLLP, parsing, mapping or Avro in the timed part:
  * "bytes": the HL7 message bytes alone, one record per message;
  * "records": exactly the records artery-mllp-in writes per message (the
    RawMessage on raw.hl7v2 and the canonical events, with their keys and
    headers), prepared before the clock starts.
The second is what Kafka itself allows a commit-before-ACK pipeline at that
concurrency; the first is the lighter job of storing the bytes only. A last
row gives the unbounded bare producer (no in-flight limit).

Topics have the partition count of topology/topology.yaml (6). The mock
keeps about 5 MiB per partition and drops older records (nothing here reads
them back), so more partitions are not needed; librdkafka 2.0.2 serves every
partition of a topic on each wake-up of its broker thread and sends one
partition per request, so with 64 partitions the pipeline spent most of its
CPU there (measured: ~2x the CPU per message of 6 partitions).

Producer settings are the role defaults of common/kafka.c unless the
environment overrides them (ARTERY_KAFKA_<PROPERTY>, e.g.
ARTERY_KAFKA_COMPRESSION_CODEC=none); they apply to artery-mllp-in and to
bench_produce alike and are printed with the table. Each row is the median
of RUNS runs. Usage: bench_ingest.py BUILD_DIR
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 3
PARTITIONS = 6
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMAS = os.path.join(ROOT, "schemas")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_messages(path, n, start):
    """n ADT^A08 updates for 500 patients, ~250 bytes each (project-written)."""
    with open(path, "wb") as fp:
        for i in range(start, start + n):
            fp.write((
                "MSH|^~\\&|REG|NORTHWING|ARTERY|HOSP|20261122083000||ADT^A08^ADT_A01|B%08d|P|2.5.1\r"
                "EVN|A08|20261122083000\r"
                "PID|1||MRN%05d^^^NORTHWING^MR||QUILL^ADA^M||19800214|F|||12 ELM ST^^SPRINGFIELD^IL^62704||^PRN^PH^^1^217^5550101\r"
                "PV1|1|I|W2^201^A^NWGH|||||||MED\r" % (i, i % 500)).encode())


def send(port, path, conns, window=1, rate=None):
    cmd = [os.path.join(BUILD, "artery"), "send", "--port", str(port), "--connections",
           str(conns), "--window", str(window), "--json"]
    if rate:
        cmd += ["--rate", str(rate)]
    cmd.append(path)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    s = json.loads(out.stdout.strip().splitlines()[-1])
    if s["accepted"] != s["messages"]:
        raise SystemExit("not every message was accepted: %s" % out.stdout)
    return s


def kafka_settings():
    """The producer properties set from the environment, for the title."""
    env = sorted((k, v) for k, v in os.environ.items()
                 if k.startswith("ARTERY_KAFKA_") and k != "ARTERY_KAFKA_BOOTSTRAP")
    if not env:
        return "producer role defaults (idempotent, acks=all, lz4, linger.ms=0)"
    return "role defaults + " + ", ".join(
        "%s=%s" % (k[len("ARTERY_KAFKA_"):].lower().replace("_", "."), v) for k, v in env)


def main():
    work = tempfile.mkdtemp(prefix="artery-bench-")
    port = free_port()
    topo = os.path.join(work, "topology.yaml")
    with open(topo, "w") as fp:
        fp.write("topics:\n")
        for t in ("raw.hl7v2", "canonical.patient", "canonical.result", "canonical.encounter"):
            fp.write("  - {name: %s, partitions: %d}\n" % (t, PARTITIONS))
        fp.write("  - {name: dlq.mllp-in, partitions: 3}\n")
        fp.write("sources:\n  mllp:\n    - {name: bench, port: %d, bind: 127.0.0.1}\n" % port)
        fp.write("processes:\n  mllp-in: {admin_port: -1}\n")
    env = dict(os.environ, ARTERY_SCHEMAS_DIR=SCHEMAS)
    broker = subprocess.Popen([os.path.join(BUILD, "artery"), "broker", "--topology", topo,
                               "--bootstrap-file", os.path.join(work, "bootstrap")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    env["ARTERY_KAFKA_BOOTSTRAP"] = broker.stdout.readline().strip()
    os.environ.update(env)
    mllp = subprocess.Popen([os.path.join(BUILD, "artery-mllp-in"), "--topology", topo],
                            stderr=open(os.path.join(work, "mllp-in.log"), "w"), env=env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        seq = 0

        def batch(n):
            nonlocal seq
            path = os.path.join(work, "m%d.hl7" % seq)
            write_messages(path, n, seq)
            seq += n
            return path

        def produce(n, inflight=None, records=False):
            args = [os.path.join(BUILD, "bench_produce")]
            if inflight:
                args += ["--inflight", str(inflight)]
            if records:
                args += ["--schemas", SCHEMAS]
            out = subprocess.run(args + [batch(n)], capture_output=True, text=True, env=env,
                                 timeout=600)
            return json.loads(out.stdout)["rate"]

        send(port, batch(2000), 8)  # warm up
        rows = []
        for label, conns, window, n in (("1 connection", 1, 1, 3000),
                                        ("8 connections", 8, 1, 15000),
                                        ("32 connections", 32, 1, 30000),
                                        ("32 connections, window 8", 32, 8, 40000)):
            res = [send(port, batch(n), conns, window) for _ in range(RUNS)]
            inflight = conns * window
            rows.append((label, statistics.median(r["msgs_per_sec"] for r in res),
                         statistics.median(r["latency_ms"]["p50"] for r in res),
                         statistics.median(r["latency_ms"]["p99"] for r in res),
                         inflight,
                         statistics.median(produce(n, inflight) for _ in range(RUNS)),
                         statistics.median(produce(n, inflight, True) for _ in range(RUNS))))
        res = [send(port, batch(6000), 8, 1, rate=2000) for _ in range(RUNS)]
        lat = ("2,000 msg/s offered, 8 connections", statistics.median(r["msgs_per_sec"] for r in res),
               statistics.median(r["latency_ms"]["p50"] for r in res),
               statistics.median(r["latency_ms"]["p99"] for r in res))
        unbounded = statistics.median(produce(40000) for _ in range(RUNS))
        unbounded_rec = statistics.median(produce(40000, None, True) for _ in range(RUNS))
    finally:
        mllp.send_signal(signal.SIGTERM)
        mllp.wait(60)
        broker.send_signal(signal.SIGTERM)
        broker.wait(30)

    print("End-to-end MLLP ingest on artery broker (%d partitions per topic; raw + canonical "
          "records per message, commit-before-ACK), median of %d runs" % (PARTITIONS, RUNS))
    print("Kafka: %s" % kafka_settings())
    print("Ceilings: bare librdkafka producer at the SAME number of messages in flight as the row; "
          "'bytes' = the HL7 bytes as one record, 'records' = the same records artery-mllp-in "
          "writes (prepared before timing)")
    print("| %-36s | %8s | %7s | %7s | %9s | %17s | %17s |" % (
        "sender", "msgs/s", "p50 ms", "p99 ms", "in flight", "ceiling: bytes", "ceiling: records"))
    print("|%s|%s|%s|%s|%s|%s|%s|" % ("-" * 38, "-" * 10, "-" * 9, "-" * 9, "-" * 11, "-" * 19,
                                      "-" * 19))
    for label, rate, p50, p99, inflight, cb, cr in rows:
        print("| %-36s | %8.0f | %7.2f | %7.2f | %9d | %7.0f (%4.0f%%) | %7.0f (%4.0f%%) |" % (
            label, rate, p50, p99, inflight, cb, 100 * rate / cb, cr, 100 * rate / cr))
    print("| %-36s | %8.0f | %7.2f | %7.2f | %9s | %17s | %17s |" % (lat + ("-", "-", "-")))
    print("| %-36s | %8s | %7s | %7s | %9s | %17.0f | %17.0f |" % (
        "bare producer, unbounded", "-", "-", "-", "unbounded", unbounded, unbounded_rec))
    best32, ceil32 = rows[2][1], rows[2][5]
    print("targets: >= 20,000 msg/s with 32 connections: %s (%.0f); >= 50%% of the bytes ceiling "
          "at 32 in flight: %s (%.0f%% of %.0f); p99 < 10 ms at 2,000 msg/s: %s (%.2f ms)" % (
              "met" if best32 >= 20000 else "NOT met", best32,
              "met" if best32 >= ceil32 / 2 else "NOT met", 100 * best32 / ceil32, ceil32,
              "met" if lat[3] < 10 else "NOT met", lat[3]))
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
