#!/usr/bin/env bash
# The local cloud: the tutorial's whole real-time pipeline on one machine, on loopback only.
#
#   Kinesis-compatible server (kinesalite, 127.0.0.1, in memory)      <- started here
#     <- stream-writer        puts the test set's rows with PutRecords (the real AWS SDK)
#     -> local-trigger        reads the shards like Lambda's event-source mapping and calls the
#                             Lambda handler in-process; each series' state (its last rows and
#                             position) in memory, failed records to a failure file
#     -> the kit's server     the stateless model behind /invocations, reached through the real
#                             SageMaker runtime SDK with its endpoint URL pointed at loopback
#
# This script only starts the local Kinesis server; everything else is the CLI's Kinesis path,
# `anomaly-kit walkthrough --kinesis-endpoint URL` (crates/cli/src/kinesis.rs), the same one
# that streams on AWS with `--kinesis-endpoint aws`: one orchestration, not a Rust copy and a
# shell copy. It trains the model, streams the test set, compares every streamed prediction
# with the offline one (and exits non-zero if one differs or a record failed), and stops
# everything on the way out.
#
# deploy/local/scale.sh runs the same pipeline at scale, with DynamoDB for state, several
# server instances, several shards and injected faults.
#
# Usage: deploy/local/run.sh [walkthrough flags...]
#   deploy/local/run.sh                           # the full test set, as fast as the server takes it
#   deploy/local/run.sh --rate 10 --limit 100     # the tutorial's pace, for a demonstration
#   deploy/local/run.sh --live-detector online    # an online detector per series in the trigger
# Environment:
#   DATA_DIR   where the walkthrough writes the data, the model and the stream's sink
#              (stream-sink.jsonl) and failures (stream-failures.jsonl); default: data/
#   BIN_DIR    where the binaries are (default: build them with cargo --release)
#   STREAM     the stream's name (default: anomaly-kit-local)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/deploy/local"
data_dir=${DATA_DIR:-$root/data}
stream=${STREAM:-anomaly-kit-local}

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

source "$here/common.sh"

start_server kinesis
echo "local cloud: Kinesis at $server_url" >&2

# the CLI finds stream-writer and local-trigger beside itself, and gives them placeholder keys
# for a loopback endpoint (real ones are never sent there)
"$BIN_DIR/anomaly-kit" walkthrough --out "$data_dir" --no-compare --no-plots \
    --kinesis-endpoint "$server_url" --kinesis-stream "$stream" "$@"
