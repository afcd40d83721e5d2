#!/usr/bin/env bash
# Load test: our server beside the tutorial's Flask + gunicorn container, on the same 10-row
# JSON body, in the same run, on loopback only.
#
#   bash bench/load.sh                 # 60 s per run (the acceptance length); about 5 minutes
#   DURATION=10 bash bench/load.sh     # shorter runs
#
# Installs what it needs on first use (wrk from Debian's packages; a venv with the tutorial
# container's pinned requirements), builds the kit in release mode, trains the walkthrough's
# model if data/model is missing, and writes bench/load.md. The tutorial container is run from
# ../shared/reference/seed-container/ (its serve.sh), with two gunicorn workers: its best case.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-60}
seed=../shared/reference/seed-container
ours_port=${OURS_PORT:-18080}
seed_port=${SEED_PORT:-18081}
out=bench/load.md

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null
venv=bench/.venv-seed
if ! "$venv/bin/python" -c "import flask, sklearn, pandas" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$seed/requirements.txt"
fi
cargo build --release --locked --quiet
kit=target/release/anomaly-kit
[ -f data/model/model.json ] || "$kit" walkthrough --no-plots --no-compare >/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# wrk posts the tutorial's own 10-row sample body
body=$(python3 -c "import json,sys; print(json.dumps(json.dumps(json.load(open(sys.argv[1])))))" "$seed/sample_records.json")
cat > "$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = $body
EOF

wait_ready() { # url seconds: waits for the first 200
  for _ in $(seq 1 $(( $2 * 100 ))); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.01
  done
  echo "timed out waiting for $1" >&2
  return 1
}

# cold start: process start to first 200 on /ping, median of several starts (bench/coldstart.py)
ours_cold_ms=$(python3 bench/coldstart.py "http://127.0.0.1:$ours_port/ping" 5 -- \
  env RUST_LOG=warn "$kit" serve --model data/model --host 127.0.0.1 --port "$ours_port" | cut -d' ' -f1)
seed_cold_ms=$(python3 bench/coldstart.py "http://127.0.0.1:$seed_port/ping" 3 -- \
  env VENV="$PWD/$venv" PORT="$seed_port" GUNICORN_CMD_ARGS="--workers 2" bash "$seed/serve.sh" | cut -d' ' -f1)

RUST_LOG=warn "$kit" serve --model data/model --host 127.0.0.1 --port "$ours_port" &
pids+=($!)
ours_pid=$!
wait_ready "http://127.0.0.1:$ours_port/ping" 10
(cd "$seed" && VENV="$OLDPWD/$venv" PORT="$seed_port" GUNICORN_CMD_ARGS="--workers 2" exec bash serve.sh) >"$work/seed.log" 2>&1 &
pids+=($!)
wait_ready "http://127.0.0.1:$seed_port/ping" 60

run() { # name url conns
  local log="$work/$1-$3.txt"
  wrk -t2 -c"$3" -d"${duration}s" --latency -s "$work/post.lua" "$2" >"$log" 2>&1
  python3 - "$log" "$1" "$3" <<'PY'
import re, sys, json
text = open(sys.argv[1]).read()
def lat(p):
    m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
total = int(re.search(r"(\d+) requests in", text).group(1))
non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text)) if "Socket errors" in text else 0
print(json.dumps({"server": sys.argv[2], "connections": int(sys.argv[3]), "requests_per_second": rps, "requests": total,
                  "p50_ms": lat(50), "p99_ms": lat(99), "errors": non2xx + sock}))
PY
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

ours_rss_before=$(rss_kib "$ours_pid")
results=()
for conns in 16 64; do
  results+=("$(run seed "http://127.0.0.1:$seed_port/invocations" "$conns")")
  results+=("$(run ours "http://127.0.0.1:$ours_port/invocations" "$conns")")
done
ours_rss_after=$(rss_kib "$ours_pid")
ours_peak=$(hwm_kib "$ours_pid")
# the two answers to the same body, for the record
ours_answer=$(curl -s -H 'Content-Type: application/json' --data @"$seed/sample_records.json" "http://127.0.0.1:$ours_port/invocations")
seed_answer=$(curl -s -H 'Content-Type: application/json' --data @"$seed/sample_records.json" "http://127.0.0.1:$seed_port/invocations")

printf '%s\n' "${results[@]}" > bench/load-results.jsonl
python3 - "$duration" "$ours_cold_ms" "$seed_cold_ms" "$ours_rss_before" "$ours_rss_after" "$ours_peak" "$ours_answer" "$seed_answer" <<'PY' > "$out"
import json, sys, time, os
duration, ours_cold, seed_cold, rss0, rss1, peak, ours_answer, seed_answer = sys.argv[1:9]
rows = [json.loads(l) for l in open("bench/load-results.jsonl")]
print("# Inference server load: anomaly-kit beside the tutorial's Flask + gunicorn container\n")
print(f"Made by `bash bench/load.sh` (DURATION={duration}) on {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, loopback; wrk -t2, "
      f"{duration} s per run, body = the tutorial's 10-row sample (`sample_records.json`), `POST /invocations`.")
print("Ours serves the walkthrough's model (`data/model`, improved recipe, a stateless server windowing each request from an empty past); the tutorial's container")
print("serves its own pickle under gunicorn with 2 workers (its best case on 2 cores). wrk shares the same 2 cores.\n")
print("| server | connections | requests/s | p50 ms | p99 ms | errors | ours ÷ tutorial |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    other = next(q for q in rows if q["connections"] == r["connections"] and q["server"] != r["server"])
    ratio = f"{r['requests_per_second'] / other['requests_per_second']:.0f}x" if r["server"] == "ours" else ""
    name = "anomaly-kit" if r["server"] == "ours" else "tutorial (gunicorn, 2 workers)"
    print(f"| {name} | {r['connections']} | {r['requests_per_second']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {ratio} |")
print(f"\nCold start (process start to first 200 on /ping, median of 5 and 3 starts, `bench/coldstart.py`): ours {ours_cold} ms, tutorial's {seed_cold} ms.")
print(f"Our server's memory: RSS {int(rss0) / 1024:.1f} MiB before the runs, {int(rss1) / 1024:.1f} MiB after, peak {int(peak) / 1024:.1f} MiB.\n")
print(f"Answers to the sample body: ours `{ours_answer}`; the tutorial's `{seed_answer}`.")
PY
cat "$out"
