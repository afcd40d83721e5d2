#!/usr/bin/env bash
# Side-by-side speed of streaming (learn-as-data-flows) detectors, in one run on the same inputs:
#   ours   anomaly-kit's online detector  (cargo run --release --example online_speed -- --input FILE)
#   krcf   AWS's Random Cut Forest in Rust (krcflib, bench/online-peers/krcf)
#   river  River's HalfSpaceTrees          (bench/online-peers/peers.py --lib river)
#   rrcf   rrcf, robust random cut forest  (bench/online-peers/peers.py --lib rrcf)
#
#   bash bench/online.sh                  # 5 rounds; ~8 minutes on 2 cores
#   bash bench/online.sh --quick          # smoke test: 1 round, small caps for the Python peers
#   bash bench/online.sh --rounds 3 --river-records 5000 --rrcf-records 1000
#
# Inputs: NAB's nyc_taxi (10,320 x 1; shingle 8 for the RCFs) and a generated 20,000 x 5 table
# (target/online-bench/gen.csv, made once by `anomaly-kit generate`; delete it to remake it).
# Every round runs ours, krcf, river, rrcf in turn on each input, so a slow minute on a shared
# machine slows all of them alike; the table reports the median over rounds and ours/peer.
# Each program prints one JSON line {"library","records","seconds","records_per_s","checksum"}:
# one thread, score then learn each record, the timer around the streaming loop only (rows
# already in memory, model fresh). The Python peers run ~10^2-10^3 records/s, so they take only
# the first --river-records / --rrcf-records records; the Rust programs take the whole file.
# Writes bench/online.md and bench/online-results.jsonl (--quick: bench/online-quick.*).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=5 river_records=all rrcf_records=2000 quick=0
while (($#)); do
  case "$1" in
    --quick) quick=1 rounds=1 river_records=1000 rrcf_records=300 ;;
    --rounds) rounds="$2"; shift ;;
    --river-records) river_records="$2"; shift ;;
    --rrcf-records) rrcf_records="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "online.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
suffix=$([[ $quick == 1 ]] && echo "-quick" || true)
work=target/online-bench
mkdir -p "$work"

nab=../shared/datasets/nab/data/realKnownCause/nyc_taxi.csv
[[ -f $nab ]] || { echo "online.sh: $nab not found (the shared NAB corpus)" >&2; exit 1; }
gen=$work/gen.csv
if [[ ! -f $gen ]]; then
  echo "online.sh: generating $gen (anomaly-kit generate --rows 20000)" >&2
  cargo run --release --locked --quiet -- generate --rows 20000 --out "$work" --name gen >/dev/null
fi

echo "online.sh: preparing the peers" >&2
python="$(bash bench/online-peers/venv.sh | tail -n 1)"
cargo build --release --locked --quiet --manifest-path bench/online-peers/krcf/Cargo.toml --target-dir target/online-peers
krcf=target/online-peers/release/online-peer-krcf

ours_skip=""
if [[ -f examples/online_speed.rs || -f examples/online_speed/main.rs ]]; then
  echo "online.sh: building ours (cargo build --release --example online_speed)" >&2
  cargo build --release --locked --quiet --example online_speed
else
  ours_skip="examples/online_speed.rs does not exist yet: anomaly-kit online was skipped"
  echo "online.sh: SKIPPING ours: $ours_skip" >&2
fi

cap() { [[ $1 == all ]] || echo "--records $1"; }
# run NAME INPUT CMD...: runs CMD, keeps its last JSON line tagged with the round and input
run() {
  local lib=$1 input=$2 out line
  shift 2
  out="$("$@")" || { echo "online.sh: $lib failed on $input: $*" >&2; exit 1; }
  line="$(grep '^{' <<<"$out" | tail -n 1)"
  [[ -n $line ]] || { echo "online.sh: $lib printed no JSON line: $out" >&2; exit 1; }
  echo "{\"round\":$round,\"input\":\"$input\",\"peer\":\"$lib\",\"result\":$line}" >>"$results"
  echo "  round $round  $(basename "$input")  $line" >&2
}

results=$work/results$suffix.jsonl
: >"$results"
for ((round = 1; round <= rounds; round++)); do
  for input in "$nab" "$gen"; do
    [[ -n $ours_skip ]] || run ours "$input" cargo run --release --locked --quiet --example online_speed -- --input "$input"
    run krcf "$input" "$krcf" --input "$input"
    # shellcheck disable=SC2046
    run river "$input" "$python" bench/online-peers/peers.py --lib river --input "$input" $(cap "$river_records")
    # shellcheck disable=SC2046
    run rrcf "$input" "$python" bench/online-peers/peers.py --lib rrcf --input "$input" $(cap "$rrcf_records")
  done
done
cp "$results" "bench/online-results$suffix.jsonl"

OURS_SKIP="$ours_skip" ROUNDS="$rounds" QUICK="$quick" MD="bench/online$suffix.md" \
  RUSTC="$(rustc --version)" PYVER="$("$python" -c 'import platform; print(platform.python_version())')" \
  python3 - "$results" <<'EOF'
import collections, json, os, statistics, sys, time

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
order = ["ours", "krcf", "river", "rrcf"]
by = collections.defaultdict(list)
for r in rows:
    by[(r["input"], r["peer"])].append(r["result"])
inputs = list(dict.fromkeys(r["input"] for r in rows))
libs = {r["peer"]: r["result"]["library"] for r in rows}

def shape(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
        first = f.readline().strip().split(",")
        n = 1 + sum(1 for l in f if l.strip())
    def num(c):
        try:
            float(c); return True
        except ValueError:
            return False
    d = sum(1 for h, c in zip(header, first) if h.strip().lower() != "timestamp" and num(c))
    return n, d

cmd = "bash bench/online.sh" + (" --quick" if os.environ["QUICK"] == "1" else "")
out = [
    "# Streaming detectors: speed side by side",
    "",
    f"Made by `{cmd}` on {time.strftime('%Y-%m-%d', time.gmtime())}: {os.environ['ROUNDS']} round(s), each running "
    "ours, krcf, river and rrcf in turn on each input; medians over rounds.",
    f"CPU: {cpu} ({os.cpu_count()} cores). {os.environ['RUSTC']}; Python {os.environ['PYVER']}. "
    "Libraries: " + "; ".join(f"{p} = {libs[p]}" for p in order if p in libs) + ".",
    "",
    "Protocol: one thread; each record is scored, then learnt; the timer covers the streaming loop "
    "from a fresh model over rows already in memory (not the CSV parse or process start). "
    "RCFs (krcf, rrcf): 50 trees of 256 points, shingle 8 on univariate input, 1 on multivariate. "
    "River: MinMaxScaler | HalfSpaceTrees(n_trees=25, height=15, window_size=250), which builds its "
    "trees in the first learn_one (the 'first record' column; 'after the first' leaves it out). rrcf follows its README "
    "(forget the oldest point, insert, then codisp). The Python peers run the first *records* "
    "records only; the Rust programs run the whole input. ours / peer divides the median records/s.",
    "",
]
if os.environ["OURS_SKIP"]:
    out += [f"**Ours not measured**: {os.environ['OURS_SKIP']}.", ""]
for inp in inputs:
    n, d = shape(inp)
    out += [f"## {os.path.basename(inp)} ({n:,} x {d})", "",
            "| library | records | records/s (median) | min - max | first record | records/s after the first | checksum | ours / peer |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ours = by.get((inp, "ours"))
    ours_rate = statistics.median(r["records_per_s"] for r in ours) if ours else None
    for p in order:
        rs = by.get((inp, p))
        if not rs:
            continue
        rates = [r["records_per_s"] for r in rs]
        med = statistics.median(rates)
        firsts = [r["first_record_seconds"] for r in rs if "first_record_seconds" in r]
        first = f"{statistics.median(firsts) * 1e3:,.1f} ms" if firsts else "-"
        steady = [(r["records"] - 1) / (r["seconds"] - r["first_record_seconds"]) for r in rs if "first_record_seconds" in r]
        steady = f"{statistics.median(steady):,.0f}" if steady else "-"
        sums = {round(r["checksum"], 3) for r in rs}
        checksum = f"{rs[0]['checksum']:,.3f}" + ("" if len(sums) == 1 else " (varies)")
        ratio = "-" if ours_rate is None or p == "ours" else f"{ours_rate / med:,.2f}x"
        out.append(f"| {rs[0]['library']} | {rs[0]['records']:,} | {med:,.0f} | {min(rates):,.0f} - {max(rates):,.0f} "
                   f"| {first} | {steady} | {checksum} | {ratio} |")
    out.append("")
text = "\n".join(out)
open(os.environ["MD"], "w").write(text)
print(text)
print(f"(written to {os.environ['MD']})", file=sys.stderr)
EOF
