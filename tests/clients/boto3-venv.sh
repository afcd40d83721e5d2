#!/usr/bin/env bash
# Makes target/client-venv once, with boto3 (the tutorial's AWS client) and moto's server (an
# SQS-compatible server on loopback for the failure destination's test), and prints its python.
# Used by tests/sagemaker_clients.rs, deploy/lambda/tests/local_cloud.rs and deploy/local/scale.sh.
# Tests call it concurrently: a lock makes the first one install and the others wait.
set -euo pipefail
target="$(cd "$(dirname "$0")/../.." && pwd)/target"
venv="$target/client-venv"
mkdir -p "$target"
exec 9>"$target/client-venv.lock"
flock 9
if ! "$venv/bin/python" -c "import boto3, moto.server" >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir \
        "boto3==1.43.*" "moto[server]==5.2.5" >&2
fi
echo "$venv/bin/python"
