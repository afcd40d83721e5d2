#!/usr/bin/env bash
# Makes target/client-venv with boto3 (the tutorial's AWS client) once, and prints its python.
# Used by tests/sagemaker_clients.rs and deploy/lambda/tests/local_cloud.rs.
set -euo pipefail
venv="$(cd "$(dirname "$0")/../.." && pwd)/target/client-venv"
if ! "$venv/bin/python" -c "import boto3" >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "boto3==1.43.*" >&2
fi
echo "$venv/bin/python"
