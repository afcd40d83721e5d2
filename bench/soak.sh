#!/usr/bin/env bash
# Soak test: `anomaly-kit serve` under hostile and careless clients for 60 s, on loopback only.
#
#   bash bench/soak.sh                  # 60 s + 20 s (the acceptance lengths)
#   DURATION=15 FAIR=5 bash bench/soak.sh   # shorter
#
# Phase 1 (DURATION s): 64 connections cycle through valid and invalid requests (JSON, CSV,
# values at the edge of f64, malformed JSON and CSV, a lone surrogate, a wrong content type, a
# bad query, 404, 405, the SageMaker runtime path); 4 clients send 6 MB CSV bodies in a loop;
# 500 sockets sit open and silent (the server's header timeout is set past the run so they stay);
# a pinger calls /ping every 10 ms; the server's resident memory is sampled every 0.5 s.
# Phase 2 (FAIR s): the 64 connections stop; the 6 MB clients and the idle sockets go on beside
# the pinger. Writes bench/soak.md with the counts and the verdicts: no panic, no 5xx, RSS flat
# within 10 % after the warm-up (the last third's peak against the middle third's), /ping p99
# under 5 ms in phase 2.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-60}
fair=${FAIR:-20}
port=${SOAK_PORT:-18090}
out=bench/soak.md

cargo build --release --locked --quiet -p anomaly-kit-cli -p anomaly-kit-server --bin anomaly-kit --example soak
target=${CARGO_TARGET_DIR:-target}
kit=$target/release/anomaly-kit
[ -f data/model/model.json ] || "$kit" walkthrough --no-plots --no-compare >/dev/null

# 500 idle sockets plus the busy ones, on both sides: raise the soft open-file limit
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$kit" --log-format json serve --model data/model --host 127.0.0.1 --port "$port" \
  --header-timeout-secs $((duration + fair + 60)) 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/ping" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/ping" >/dev/null || { cat "$work/server.log"; exit 1; }

echo "[soak] $duration s + $fair s against 127.0.0.1:$port (server pid $server_pid)"
"$target"/release/examples/soak "127.0.0.1:$port" "$server_pid" "$duration" 64 500 4 "$fair" >"$work/soak.json"
alive=yes
kill -0 "$server_pid" 2>/dev/null || alive=no
kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=

python3 - "$work/soak.json" "$work/server.log" "$alive" "$out" <<'PY'
import json, sys
soak = json.load(open(sys.argv[1]))
log = open(sys.argv[2], errors="replace").read()
alive, out = sys.argv[3], sys.argv[4]
requests = soak["requests"]
total = sum(requests.values())
fives = sum(v for k, v in requests.items() if k[:1] == "5")
transport = sum(v for k, v in requests.items() if k.startswith("transport"))
panics = log.count("panicked")
rss = soak["rss_kib"]
third = soak["seconds"] / 3
middle = [kib for t, kib in rss if third < t <= 2 * third]
last = [kib for t, kib in rss if t > 2 * third]
base, peak = max(middle), max(last)
ping, fair = soak["ping"], soak["ping_beside_large_bodies"]
def ms(p):
    return f"p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms, max {p['max_ms']:.1f} ms over {p['count']} pings, {p['failures']} failed"
checks = [
    ("no panic in the server log, server alive at the end", panics == 0 and alive == "yes", f"{panics} panic(s), alive: {alive}"),
    ("no 5xx answer", fives == 0, f"{fives}"),
    ("RSS flat within 10 % after the warm-up", peak <= 1.10 * base, f"peak in the last third {peak/1024:.0f} MiB vs {base/1024:.0f} MiB in the middle third ({peak/base:.2f}x)"),
    (f"/ping p99 under 5 ms beside {soak['large_clients']} clients sending 6 MB bodies and {soak['idle_sockets']} idle sockets (phase 2)", fair["p99_ms"] < 5.0 and fair["failures"] == 0, ms(fair)),
]
lines = [
    "# Soak: hostile and careless clients",
    "",
    f"`bash bench/soak.sh`: {soak['seconds']} s; {soak['connections']} connections cycling through the mix below; "
    f"{soak['large_clients']} clients sending 6 MB CSV bodies; {soak['idle_sockets']} idle sockets held open; "
    f"/ping every 10 ms on its own connection; then {soak['fair_seconds']} s with only the 6 MB clients and the idle sockets beside the pinger. "
    "Server: `anomaly-kit serve` with its defaults (header timeout raised past the run), release build, loopback.",
    "",
    f"{total:,} requests answered ({total / (soak['seconds'] + soak['fair_seconds']):,.0f}/s), {transport} transport error(s). "
    f"/ping during phase 1, beside the 64 busy connections (for information): {ms(ping)}.",
    "",
    "| status | request | count |",
    "|---|---|---:|",
]
for k, v in sorted(requests.items()):
    status, _, label = k.partition(" ")
    lines.append(f"| {status} | {label} | {v:,} |")
lines += ["", "| check | result | measured |", "|---|---|---|"]
for name, ok, measured in checks:
    lines.append(f"| {name} | {'pass' if ok else 'FAIL'} | {measured} |")
lines += ["", "Resident memory (MiB) every 5 s: " + ", ".join(f"{kib/1024:.0f}" for t, kib in rss[::10])]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if all(ok for _, ok, _ in checks) else 1)
PY
