#!/usr/bin/env bash
# The local cloud: the tutorial's whole real-time pipeline on one machine, on loopback only.
#
#   Kinesis-compatible server (kinesalite, 127.0.0.1, in memory)
#     <- stream-writer        puts the test set's rows with PutRecords (the real AWS SDK)
#     -> local-trigger        reads the shards like Lambda's event-source mapping and calls the
#                             Lambda handler in-process; each series' state (its last rows and
#                             position) in memory, failed records to a failure file
#     -> anomaly-kit serve    the stateless model behind /invocations, reached through the real
#                             SageMaker runtime SDK with its endpoint URL pointed at loopback
#
# deploy/local/scale.sh runs the same pipeline at scale, with DynamoDB for state, several
# server instances, several shards and injected faults.
#
# It installs what it needs (npm, once), starts everything, streams, prints a tally against the
# offline predictions of the same model, and stops everything on the way out, whatever happened.
#
# Usage: deploy/local/run.sh [stream-writer flags...]
#   deploy/local/run.sh                      # the full test set, as fast as the server takes it
#   deploy/local/run.sh --rate 10 --limit 100  # the tutorial's pace, for a demonstration
#   ONLINE_FEATURES=feature_1,feature_2,feature_3,feature_4,feature_5 deploy/local/run.sh
#                                            # an online detector per series in the trigger
#                                            # instead of the served model
# Environment:
#   DATA_DIR   where test.csv and model/ are (default: data/, made by the walkthrough if missing)
#   SINK       JSON lines, one per scored record (default: $DATA_DIR/stream-sink.jsonl)
#   FAILURES   JSON lines, one per failed record (default: $DATA_DIR/stream-failures.jsonl)
#   BIN_DIR    where the binaries are (default: build them with cargo --release)
#   STREAM     the stream's name (default: anomaly-kit-local)
#   IDLE_EXIT  the trigger stops after this long without records (default: 30s)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/deploy/local"
data_dir=${DATA_DIR:-$root/data}
stream=${STREAM:-anomaly-kit-local}
sink=${SINK:-$data_dir/stream-sink.jsonl}
failures=${FAILURES:-$data_dir/stream-failures.jsonl}
idle_exit=${IDLE_EXIT:-30s}

if [[ -z "${BIN_DIR:-}" ]]; then
    echo "building the binaries (release)..." >&2
    cargo build --release --locked --quiet -p anomaly-kit-cli -p anomaly-kit-stream-writer -p anomaly-kit-lambda \
        --manifest-path "$root/Cargo.toml"
    BIN_DIR="$root/target/release"
fi
for bin in anomaly-kit stream-writer local-trigger; do
    [[ -x "$BIN_DIR/$bin" ]] || { echo "error: $BIN_DIR/$bin is missing (cargo build --bins)" >&2; exit 2; }
done
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "error: the local AWS servers need Node.js (20+) and npm" >&2
    exit 2
fi

if [[ ! -f "$data_dir/test.csv" || ! -f "$data_dir/model/model.json" ]]; then
    echo "no model in $data_dir yet: running the walkthrough's offline part first" >&2
    "$BIN_DIR/anomaly-kit" walkthrough --out "$data_dir" --no-live --no-compare --no-plots >/dev/null
fi

source "$here/common.sh"

start_server kinesis
kinesis=$server_url

"$BIN_DIR/anomaly-kit" --log-format json serve --model "$data_dir/model" --host 127.0.0.1 --port 0 \
    >"$work/serve.log" 2>&1 &
pids+=($!)
addr=$(wait_for "$work/serve.log" '127\.0\.0\.1:[0-9][0-9]*' | head -1)
echo "local cloud: Kinesis at $kinesis, model server at http://$addr" >&2

# These processes talk to loopback only, so they get placeholder keys and never see real ones.
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE

"$BIN_DIR/stream-writer" --stream-name "$stream" --endpoint-url "$kinesis" --create-stream 1 \
    --csv "$data_dir/test.csv" --limit 0 >/dev/null

total=$(($(wc -l <"$data_dir/test.csv") - 1))
rows=$total
for ((i = 1; i <= $#; i++)); do
    if [[ "${!i}" == "--limit" ]]; then j=$((i + 1)); rows=$(( ${!j} < rows ? ${!j} : rows )); fi
done

# the trigger appends: start from empty files
rm -f "$sink" "$failures"
"$BIN_DIR/local-trigger" --stream-name "$stream" --endpoint-url "$kinesis" \
    --sagemaker-endpoint-url "http://$addr" --expect "$rows" --idle-exit "$idle_exit" \
    --sink "$sink" --failures "$failures" --json >"$work/trigger.json" &
trigger=$!
pids+=("$trigger")

"$BIN_DIR/stream-writer" --stream-name "$stream" --endpoint-url "$kinesis" \
    --csv "$data_dir/test.csv" --batch-size 500 --interval 0 "$@"

wait "$trigger"
summary=$(cat "$work/trigger.json")
field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$summary"; }
offline=$("$BIN_DIR/anomaly-kit" evaluate --model "$data_dir/model" --input "$data_dir/test.csv" --json |
    sed -n 's/.*"flagged": \([0-9]*\).*/\1/p')
echo "local trigger: $summary"
echo "tally: $rows rows sent, $(field scored) scored ($(field warming_up) warming up), $(field failed_records) failed, $(field discarded) discarded, $(field anomalies) anomalies (offline on all $total rows: $offline); records in $sink"
if [[ "$(field scored)" != "$rows" ]]; then
    echo "error: $rows rows were sent but $(field scored) were scored" >&2
    exit 1
fi
if [[ -n "${ONLINE_FEATURES:-}" ]]; then
    # the trigger ran an online detector per series (local-trigger reads ONLINE_FEATURES): the
    # served model's offline count does not apply; deploy/lambda/tests/local_cloud.rs checks the
    # online path against one uninterrupted detector, bit for bit
    echo "online detector: $(field anomalies) alerts (the offline figure above is the served model's)"
elif [[ "$rows" == "$total" && "$(field anomalies)" != "$offline" ]]; then
    echo "error: the stream found $(field anomalies) anomalies, offline scoring $offline" >&2
    exit 1
fi
