#!/usr/bin/env bash
# What each part of the online detector is worth on NAB: the detector with its defaults, then
# with one part switched off at a time (anomaly-kit nab --params). Prints a markdown table.
#
#   bash bench/nab-ablation.sh [NAB_DIR]      (default ../shared/datasets/nab; ~1 minute)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets/nab}
cargo build --release --locked --quiet --bin anomaly-kit
kit=target/release/anomaly-kit
echo "| online detector | standard | low FP | low FN |"
echo "|---|---:|---:|---:|"
while IFS='|' read -r name params; do
    line=$("$kit" nab --data "$data" --detector online --json --params "$params")
    python3 - "$name" "$line" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"| {sys.argv[1]} | {r['standard']:.1f} | {r['reward_low_FP_rate']:.1f} | {r['reward_low_FN_rate']:.1f} |")
PY
done <<'ROWS'
defaults|{}
forest only (no z-scores)|{"zscore": false}
z-scores only (no forest)|{"forest": false}
either signal may raise the score (max, not mean)|{"combine": "max"}
forest on values alone (no change)|{"lags": []}
no novelty rule|{"range_tolerance": -1}
no cooldown|{"cooldown": 0}
raw likelihood, no short average|{"short_span": 1}
not silent at the start|{"silent_records": 0}
ROWS
