#!/usr/bin/python3
"""bench_ingest.py — end-to-end MLLP ingest benchmark (issue 3).

Starts `artery broker` (topics with enough partitions for the mock's ~5 MiB
per-partition cap) and `artery-mllp-in`, then measures with `artery send`:
messages/s and ACK latency p50/p99 with 1, 8 and 32 connections (one frame
in flight per connection, as interface engines send), 32 connections with a
pipelining window of 8, and the latency at 2,000 messages/s offered. Next to
it, in the same run and on the same broker, the ceiling: bench_produce, a
minimal librdkafka producer sending the same bytes with the same producer
settings and no parsing, mapping, Avro or MLLP. Each row is the median of
RUNS runs. Usage: bench_ingest.py BUILD_DIR
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
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_messages(path, n, start):
    """n ADT^A08 updates for 500 patients, ~470 bytes each (project-written)."""
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


def main():
    work = tempfile.mkdtemp(prefix="artery-bench-")
    port = free_port()
    topo = os.path.join(work, "topology.yaml")
    with open(topo, "w") as fp:
        fp.write("topics:\n")
        for t in ("raw.hl7v2", "canonical.patient", "canonical.result", "canonical.encounter"):
            fp.write("  - {name: %s, partitions: 64}\n" % t)
        fp.write("  - {name: dlq.mllp-in, partitions: 3}\n")
        fp.write("sources:\n  mllp:\n    - {name: bench, port: %d, bind: 127.0.0.1}\n" % port)
        fp.write("processes:\n  mllp-in: {admin_port: -1}\n")
    env = dict(os.environ, ARTERY_SCHEMAS_DIR=os.path.join(ROOT, "schemas"))
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
        rows = []

        def batch(n):
            nonlocal seq
            path = os.path.join(work, "m%d.hl7" % seq)
            write_messages(path, n, seq)
            seq += n
            return path

        send(port, batch(2000), 8)  # warm up
        for label, conns, window, n in (("1 connection", 1, 1, 3000),
                                        ("8 connections", 8, 1, 15000),
                                        ("32 connections", 32, 1, 30000),
                                        ("32 connections, window 8", 32, 8, 40000)):
            res = [send(port, batch(n), conns, window) for _ in range(RUNS)]
            rows.append((label, statistics.median(r["msgs_per_sec"] for r in res),
                         statistics.median(r["latency_ms"]["p50"] for r in res),
                         statistics.median(r["latency_ms"]["p99"] for r in res)))
        res = [send(port, batch(6000), 8, 1, rate=2000) for _ in range(RUNS)]
        lat = ("2,000 msg/s offered, 8 connections", statistics.median(r["msgs_per_sec"] for r in res),
               statistics.median(r["latency_ms"]["p50"] for r in res),
               statistics.median(r["latency_ms"]["p99"] for r in res))
        def produce(*args):
            out = subprocess.run([os.path.join(BUILD, "bench_produce")] + list(args),
                                 capture_output=True, text=True, env=env, timeout=600)
            return json.loads(out.stdout)["rate"]

        ceiling = statistics.median(produce(batch(40000)) for _ in range(RUNS))
        floor32 = statistics.median(produce("--inflight", "32", batch(30000)) for _ in range(RUNS))
    finally:
        mllp.send_signal(signal.SIGTERM)
        mllp.wait(60)
        broker.send_signal(signal.SIGTERM)
        broker.wait(30)

    print("End-to-end MLLP ingest on artery broker (raw + canonical record per message, "
          "commit-before-ACK), median of %d runs" % RUNS)
    print("| %-36s | %10s | %10s | %10s | %9s |" % ("sender", "msgs/s", "p50 ms", "p99 ms", "ceiling"))
    print("|%s|%s|%s|%s|%s|" % ("-" * 38, "-" * 12, "-" * 12, "-" * 12, "-" * 11))
    for label, rate, p50, p99 in rows + [lat]:
        print("| %-36s | %10.0f | %10.2f | %10.2f | %8.0f%% |" % (label, rate, p50, p99, 100 * rate / ceiling))
    print("| %-36s | %10.0f | %10s | %10s | %8.0f%% |" % ("bare producer, 32 in flight", floor32, "-", "-", 100 * floor32 / ceiling))
    print("| %-36s | %10.0f | %10s | %10s | %8s |" % ("ceiling: bare producer, unbounded", ceiling, "-", "-", "100%"))
    best32 = rows[2][1]
    print("32 window-1 connections reach %.0f%% of a bare producer held to 32 messages in flight"
          % (100 * best32 / floor32))
    print("targets: >= 20,000 msg/s with 32 connections: %s (%.0f); >= 50%% of ceiling: %s (%.0f%%); "
          "p99 < 10 ms at 2,000 msg/s: %s (%.2f ms)" % (
              "met" if best32 >= 20000 else "NOT met", best32,
              "met" if best32 >= ceiling / 2 else "NOT met", 100 * best32 / ceiling,
              "met" if lat[3] < 10 else "NOT met", lat[3]))
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
