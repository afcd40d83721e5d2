#!/usr/bin/env bash
# Scale and faults on loopback: the deployed pipeline's shape, with the faults AWS documents,
# checked row by row against offline scoring.
#
#   16 series x 2,000 rows, four writers at once, partition key = series
#     -> Kinesis (kinesalite, 4 shards)
#     -> 4 local-trigger processes, one in-order consumer per shard (as Lambda's mapping)
#          state of each series in DynamoDB (dynalite), saved conditionally
#     -> local-sagemaker: SageMaker's runtime API, round-robin over 3 `anomaly-kit serve`
#          instances, 5 % of calls answered with ThrottlingException (HTTP 400)
#
# During the run: one server instance is killed and restarted; one consumer crashes after
# scoring a batch and before saving its position (it is restarted and reads its shard again from
# the start); poison records (a missing feature, a CSV line) are mixed into three series.
#
# Every good row must be in the sinks exactly once, with the prediction the model gives offline on
# its series; every poison record in the failure files, with its reason; nothing else there.
# The last line printed is the tally as JSON; the exit status is 0 only if all of that holds.
#
# Usage: deploy/local/scale.sh
# Environment:
#   BIN_DIR   where the binaries are (default: build them with cargo --release)
#   DATA_DIR  where model/ is (default: data/, made by the walkthrough if missing)
#   SERIES, ROWS, SHARDS, INSTANCES, THROTTLE   (defaults 16, 2000, 4, 3, 0.05)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/deploy/local"
data_dir=${DATA_DIR:-$root/data}
series_n=${SERIES:-16}
rows=${ROWS:-2000}
shards=${SHARDS:-4}
instances=${INSTANCES:-3}
throttle=${THROTTLE:-0.05}
stream=scale-$$

if [[ -z "${BIN_DIR:-}" ]]; then
    echo "building the binaries (release)..." >&2
    cargo build --release --locked --quiet --manifest-path "$root/Cargo.toml" \
        -p anomaly-kit-cli -p anomaly-kit-stream-writer -p anomaly-kit-lambda -p anomaly-kit-local-runtime
    BIN_DIR="$root/target/release"
fi
for bin in anomaly-kit stream-writer local-trigger local-sagemaker; do
    [[ -x "$BIN_DIR/$bin" ]] || { echo "error: $BIN_DIR/$bin is missing (cargo build --release --workspace)" >&2; exit 2; }
done
command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "error: the local AWS servers need Node.js (20+) and npm" >&2; exit 2; }
if [[ ! -f "$data_dir/model/model.json" ]]; then
    echo "no model in $data_dir yet: running the walkthrough's offline part first" >&2
    "$BIN_DIR/anomaly-kit" walkthrough --out "$data_dir" --no-live --no-compare --no-plots >/dev/null
fi
python=$(bash "$root/tests/clients/boto3-venv.sh")

source "$here/common.sh"

# the series, and their offline predictions (each series scored alone, from an empty past)
mkdir -p "$work/series" "$work/offline"
for ((i = 0; i < series_n; i++)); do
    name=$(printf 's%02d' "$i")
    "$BIN_DIR/anomaly-kit" generate --rows "$rows" --anomalies $((rows / 50)) --seed $((1000 + i)) \
        --out "$work/series" --name "$name" >/dev/null
    "$BIN_DIR/anomaly-kit" evaluate --model "$data_dir/model" --input "$work/series/$name.csv" \
        --scores-out "$work/offline/$name.csv" >/dev/null
done

start_server kinesis
kinesis=$server_url
start_server dynamodb
dynamodb=$server_url

# start_instance K [PORT]: `anomaly-kit serve` instance K, on PORT or a free port
serve_pid=()
start_instance() {
    "$BIN_DIR/anomaly-kit" --log-format json serve --model "$data_dir/model" --host 127.0.0.1 \
        --port "${2:-0}" >"$work/serve-$1.log" 2>&1 &
    serve_pid[$1]=$!
    pids+=($!)
}
instance_urls=()
for ((k = 0; k < instances; k++)); do
    start_instance "$k"
    instance_urls+=(--instance "http://$(wait_for "$work/serve-$k.log" '127\.0\.0\.1:[0-9][0-9]*' | head -1)")
done
"$BIN_DIR/local-sagemaker" "${instance_urls[@]}" --throttle-rate "$throttle" --seed 7 \
    >"$work/runtime.log" 2>"$work/runtime.err" &
runtime_pid=$!
pids+=($runtime_pid)
runtime=$(wait_for "$work/runtime.log" 'http://127\.0\.0\.1:[0-9]*')
echo "scale: Kinesis $kinesis, DynamoDB $dynamodb, SageMaker runtime $runtime over $instances instances" >&2

# Loopback only: placeholder keys, never real ones.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE

"$BIN_DIR/stream-writer" --stream-name "$stream" --endpoint-url "$kinesis" --create-stream "$shards" \
    --csv "$work/series/s00.csv" --limit 0 >/dev/null
# each shard with the number of series Kinesis routes to it (MD5 of the partition key)
mapfile -t shard_load < <("$python" -c '
import boto3, hashlib, sys
c = boto3.client("kinesis", endpoint_url=sys.argv[1], region_name="us-east-1")
keys = ["s%02d" % i for i in range(int(sys.argv[3]))]
for s in c.list_shards(StreamName=sys.argv[2])["Shards"]:
    lo, hi = int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"])
    n = sum(lo <= int(hashlib.md5(k.encode()).hexdigest(), 16) <= hi for k in keys)
    print(s["ShardId"], n)' "$kinesis" "$stream" "$series_n")
shard_ids=()
crashed=-1
for line in "${shard_load[@]}"; do
    read -r id n <<<"$line"
    # the consumer that crashes: the first whose shard carries at least two series
    ((crashed < 0 && n >= 2)) && crashed=${#shard_ids[@]}
    shard_ids+=("$id")
done
echo "scale: shards (series): ${shard_load[*]}" >&2

# consume K [FLAGS...]: the consumer of shard K
consume() {
    local k=$1
    shift
    "$BIN_DIR/local-trigger" --stream-name "$stream" --endpoint-url "$kinesis" --shard "${shard_ids[$k]}" \
        --sagemaker-endpoint-url "$runtime" --state-table "series-state-$$" --dynamodb-endpoint-url "$dynamodb" \
        --batch-size 100 --poll-interval 50ms --idle-exit 4s --max-retries 20 \
        --sink "$work/sink-$k.jsonl" --failures "$work/failures-$k.jsonl" --json "$@" \
        >>"$work/trigger-$k.json" 2>>"$work/trigger-$k.err"
}
started=$(date +%s.%N)
consumer_pid=()
for ((k = 0; k < ${#shard_ids[@]}; k++)); do
    if ((k == crashed)); then
        # after scoring, before saving: the 3rd save of this consumer never happens
        (consume "$k" --crash-before-save 3 || consume "$k") &
    else
        consume "$k" &
    fi
    consumer_pid[$k]=$!
    pids+=($!)
done

# four writers at once, each with its share of the series, one entry per series per call
writer_pid=()
for ((w = 0; w < 4; w++)); do
    files=()
    for ((i = w; i < series_n; i += 4)); do files+=(--csv "$work/series/$(printf 's%02d' "$i").csv"); done
    "$BIN_DIR/stream-writer" --stream-name "$stream" --endpoint-url "$kinesis" "${files[@]}" \
        --batch-size 100 --interval 0 --json >"$work/writer-$w.json" 2>"$work/writer-$w.err" &
    writer_pid+=($!)
    pids+=($!)
done

# faults while the rows flow: poison records, and one instance killed and brought back
sleep 1
poison=$("$python" "$here/put_poison.py" "$kinesis" "$stream" s03 s07 s12)
port=$(grep -m1 -o '127\.0\.0\.1:[0-9][0-9]*' "$work/serve-1.log" | head -1 | cut -d: -f2)
{ kill -9 "${serve_pid[1]}"; wait "${serve_pid[1]}"; } 2>/dev/null || true
sleep 0.5
start_instance 1 "$port"
wait_for "$work/serve-1.log" '127\.0\.0\.1:[0-9][0-9]*' >/dev/null

for pid in "${writer_pid[@]}"; do wait "$pid"; done
for pid in "${consumer_pid[@]}"; do wait "$pid"; done
kill -TERM "$runtime_pid"
wait "$runtime_pid" 2>/dev/null || true

crashes=$(grep -c 'simulated crash' "$work/trigger-$crashed.err" || true)
echo "writers: $(cat "$work"/writer-*.json | tr '\n' ' ')" >&2
echo "consumers: $(cat "$work"/trigger-*.json | tr '\n' ' ')" >&2
echo "runtime: $(tail -1 "$work/runtime.log"), consumer crashes: $crashes, instance restarts: 1" >&2
if [[ "$crashes" != 1 ]]; then
    echo "error: the consumer of shard $crashed was meant to crash once, crashed $crashes times" >&2
    exit 1
fi
# the wait for idle shards is not part of the pipeline's speed: rows/s is up to the last sink write
python3 "$here/scale_check.py" "$work" "$started" "$poison"
