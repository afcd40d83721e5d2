#!/usr/bin/env bash
# Creates (once) the venv of the Python peers of bench/online.sh: target/online-peers-venv with
# the pins of bench/online-peers/requirements.txt. Idempotent: a stamp holding the requirements'
# hash skips the install when nothing changed; a flock keeps two concurrent runs from racing.
# Progress goes to stderr; the last line on stdout is the venv's python.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/online-peers-venv"
req="$here/requirements.txt"
mkdir -p "$root/target"
exec 9>"$root/target/online-peers-venv.lock"
flock 9
want="$(sha256sum "$req" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.requirements-stamp" 2>/dev/null)" != "$want" ]]; then
  echo "venv.sh: creating $venv from $req" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir -r "$req" >&2
  "$venv/bin/python" -c 'import river, rrcf, numpy' >&2
  echo "$want" >"$venv/.requirements-stamp"
fi
echo "$venv/bin/python"
