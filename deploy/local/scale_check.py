"""Tallies a scale run: every good row in the sinks exactly once with its offline prediction,
every poison record in the failure files, nothing else there.

Usage: scale_check.py WORK_DIR STARTED_AT(unix seconds) POISON_JSON
WORK_DIR holds series/<name>.csv with offline/<name>.csv (row,score,anomaly per row, from
`anomaly-kit evaluate --scores-out`), sink-*.jsonl and failures-*.jsonl.
Prints the tally as one JSON line; exits 1 if any row is lost, doubled or mispredicted, or the
failure destination holds anything but the poison records.
"""
import base64
import csv
import glob
import json
import os
import sys

work, started, poison = sys.argv[1], float(sys.argv[2]), set(json.loads(sys.argv[3])["poison"])

offline = {}
for path in sorted(glob.glob(os.path.join(work, "offline", "*.csv"))):
    name = os.path.splitext(os.path.basename(path))[0]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    offline[name] = [-1 if r["anomaly"] == "1" else 1 for r in rows]

seen, mismatches, unknown, last = {}, 0, 0, started
for path in glob.glob(os.path.join(work, "sink-*.jsonl")):
    last = max(last, os.path.getmtime(path))
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            key = (r["series"], r["row"])
            if r["series"] not in offline or r["row"] is None or r["row"] >= len(offline[r["series"]]):
                unknown += 1
                continue
            seen[key] = seen.get(key, 0) + 1
            if seen[key] == 1 and r["prediction"] != offline[r["series"]][r["row"]]:
                mismatches += 1

good = sum(len(v) for v in offline.values())
scored_once = sum(1 for n in seen.values() if n == 1)
duplicates = sum(n - 1 for n in seen.values() if n > 1)
lost = good - len(seen)

found, other, failure_lines = set(), 0, 0
for path in glob.glob(os.path.join(work, "failures-*.jsonl")):
    with open(path) as f:
        for line in f:
            failure_lines += 1
            m = json.loads(line)
            data = base64.b64decode(m["data_base64"]).decode("utf-8", "replace")
            markers = [p for p in poison if p in data]
            if markers and m.get("reason"):
                found.update(markers)
            else:
                other += 1

tally = {
    "good_rows": good,
    "scored_once": scored_once,
    "duplicates": duplicates,
    "lost": lost,
    "mismatches": mismatches,
    "unknown_in_sink": unknown,
    "poison_sent": len(poison),
    "poison_reported": len(found),
    "failure_lines": failure_lines,
    "other_in_failures": other,
    "rows_per_s": round(good / max(last - started, 1e-9)),
}
print(json.dumps(tally))
ok = (scored_once == good and duplicates == 0 and lost == 0 and mismatches == 0 and unknown == 0
      and found == poison and other == 0)
sys.exit(0 if ok else 1)
