#!/usr/bin/python3
"""peer_python_hl7.py -- the python-hl7 peer for bench/bench_parse.c.

Parses the same HL7 v2 messages with python-hl7 (Debian's python3-hl7) and
prints one row in bench_parse's table format: median MB/s and msgs/s over
several timed runs of at least --min-seconds each.

Input: --messages FILE, the exact messages bench_parse measured (written by
it, terminators normalised to CR, separated by 0x1C); or a corpus directory,
whose files are read and cut at lines starting with "MSH" (messages that
python-hl7 rejects are left out).
"""
import argparse
import os
import statistics
import sys
import time

import hl7


def messages_from_file(path):
    with open(path, "rb") as f:
        data = f.read()
    return [m.decode("utf-8", "surrogateescape") for m in data.split(b"\x1c") if m]


def messages_from_dir(root):
    out = []
    for dirpath, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            with open(os.path.join(dirpath, name), "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
            text = text.replace("\r\n", "\r").replace("\n", "\r")
            cur = []
            for line in text.split("\r"):
                if line.startswith("MSH") and cur:
                    out.append("\r".join(cur) + "\r")
                    cur = []
                if line.startswith("MSH") or cur:
                    if line.strip():
                        cur.append(line)
            if cur:
                out.append("\r".join(cur) + "\r")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source", help="messages file (--messages) or corpus directory")
    ap.add_argument("--messages", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--min-seconds", type=float, default=0.5)
    args = ap.parse_args()

    msgs = messages_from_file(args.source) if args.messages else messages_from_dir(args.source)
    ok = []
    for m in msgs:
        try:
            hl7.parse(m)
            ok.append(m)
        except Exception:
            pass
    nbytes = sum(len(m.encode("utf-8", "surrogateescape")) for m in ok)
    if not ok:
        print("python-hl7: no messages", file=sys.stderr)
        return 1
    mbs, mps = [], []
    for _ in range(args.runs):
        n = 0
        t0 = time.perf_counter()
        while True:
            for m in ok:
                hl7.parse(m)
            n += 1
            dt = time.perf_counter() - t0
            if dt >= args.min_seconds:
                break
        mbs.append(n * nbytes / dt / 1e6)
        mps.append(n * len(ok) / dt)
    print("| %-34s | %10.1f | %12.0f | %s |" % (
        "python-hl7 %s hl7.parse" % getattr(hl7, "__version__", "?"),
        statistics.median(mbs), statistics.median(mps),
        "%d msgs, %d bytes, %d runs" % (len(ok), nbytes, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
