#!/usr/bin/env bash
# Side-by-side Isolation Forest speed: anomaly-kit vs scikit-learn vs isotree on the same data in
# the same run (100 trees, 256 samples per tree; one thread, then two).
#
#   bash bench/speed.sh            # full run: gen 10k/100k/1M x 5, 10_cover, 16_http, 3 rounds
#                                  # of 3 timed runs per library, layout and thread count; ~7 minutes
#   bash bench/speed.sh --quick    # gen 10k and 100k only, 1 round of 2 runs; ~1 minute
#   bash bench/speed.sh --sizes 1000000 --threads 1   # gen 1M x 5, one thread: the headline ratio
#
# Ours runs once per scoring layout this CPU has (ANOMALY_KIT_LAYOUT=portable|avx2|avx512); the
# report names the CPU and says which layouts were skipped and why. Partial runs write
# bench/speed-quick.md and bench/speed-results-quick.jsonl.
#
# Creates bench/.venv (scikit-learn and isotree pinned in bench/requirements.txt) on first use,
# builds the kit in release mode, writes bench/speed.md and bench/speed-results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv
if ! "$venv/bin/python" -c "import sklearn, isotree" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r bench/requirements.txt
fi
cargo build --release --locked --quiet
exec "$venv/bin/python" bench/speed.py --kit target/release/anomaly-kit "$@"
