#!/usr/bin/python3
"""demo_show.py — summarise the topic dumps `make demo` took with `artery tail`.

One line per record: topic, partition/offset, key, and what a downstream team
would look at (event type, patient, results, dead-letter reason).
"""
import json
import os
import sys


def load(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def patient_label(p):
    if not p:
        return "-"
    names = p.get("names") or []
    ids = p.get("identifiers") or []
    name = ""
    if names:
        n = names[0]
        name = "%s, %s" % (n.get("family") or "", " ".join(n.get("given") or []))
    ident = ids[0].get("value") if ids else ""
    return "%s (%s)" % (name, ident)


def main(work):
    for topic in ("raw.hl7v2", "raw.fhir", "canonical.patient", "canonical.encounter",
                  "canonical.result", "dlq.mllp-in", "dlq.http-in"):
        recs = load(os.path.join(work, topic + ".jsonl"))
        print("\n%s: %d record(s)" % (topic, len(recs)))
        for r in recs:
            v = r.get("value") or {}
            h = r.get("headers") or {}
            where = "p%s@%s" % (r.get("partition"), r.get("offset"))
            if topic == "raw.fhir":
                print("  %-8s %-10s id %-20s %5d bytes, key %s" % (
                    where, v.get("message_type"), v.get("control_id"),
                    len(v.get("payload") or ""), r.get("key")))
            elif topic == "raw.hl7v2":
                print("  %-8s %-10s control id %-20s %5d bytes, key %s" % (
                    where, v.get("message_type"), v.get("control_id"),
                    len(v.get("payload") or ""), r.get("key")))
            elif topic.startswith("dlq."):
                print("  %-8s %s" % (where, h.get("artery.error")))
            else:
                line = "  %-8s %-20s %-28s key %s" % (
                    where, v.get("event_type"), patient_label(v.get("patient")), r.get("key"))
                print(line)
                for rep in v.get("reports") or []:
                    for o in rep.get("observations") or []:
                        code = (o.get("code") or {}).get("display") or (o.get("code") or {}).get("code")
                        val = o.get("value_number")
                        if o.get("value_coding"):
                            val = o["value_coding"].get("display") or o["value_coding"].get("code")
                        elif val is None:
                            val = (o.get("value_text") or "").split("\n")[0]
                        flags = ",".join(o.get("abnormal_flags") or [])
                        print("             %-30s %s %s %s" % (
                            code, val, o.get("units") and o["units"].get("code") or "",
                            ("[" + flags + "]") if flags else ""))


if __name__ == "__main__":
    main(sys.argv[1])
