#!/usr/bin/env bash
# Installs cargo-lambda (pinned, from PyPI) once into target/cargo-lambda-venv and prints the path
# of its binary. Only the local runtime emulator (`cargo lambda watch`) is used here, so ziglang,
# which cargo-lambda needs only to cross-compile, is not installed (--no-deps).
set -euo pipefail
target="$(cd "$(dirname "$0")/../../.." && pwd)/target"
venv="$target/cargo-lambda-venv"
mkdir -p "$target"
exec 9>"$target/cargo-lambda-venv.lock"
flock 9
if [[ ! -x "$venv/bin/cargo-lambda" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-deps \
        "cargo-lambda==1.9.2" >&2
fi
echo "$venv/bin/cargo-lambda"
