#!/usr/bin/env bash
# Opens every committed notebook, untrusted, in JupyterLab in headless Chromium and checks that
# every chart output shows an image of non-zero size (notebooks/browser/check.mjs).
#
#   bash notebooks/browser.sh                        all notebooks/*.ipynb, as committed (git HEAD)
#   bash notebooks/browser.sh 02_plots.ipynb         only the notebooks named
#   bash notebooks/browser.sh --worktree             the working tree's notebooks instead of HEAD's
#
# The notebooks come from `git archive HEAD` (what a fresh clone holds) into a temporary folder,
# JupyterLab's root, and are opened as a reader of a fresh clone sees them: fresh Jupyter config,
# data and runtime directories (so no trust database), a trust database that is never written,
# no kernel started. Screenshots go to target/browser/ (NAME.png, NAME--chart-K.png).
#
# What it installs (idempotent; a second run reuses it all), all of it under target/ but Chromium:
#   /usr/bin/chromium                      `apt-get install chromium`, only when it is missing (root)
#   target/notebooks/browser-venv/         JupyterLab 4.6.6, pinned in notebooks/browser/requirements.txt
#   target/notebooks/browser-node/         playwright-core, `npm ci` from notebooks/browser/package-lock.json
#
# Environment: CHROMIUM  the browser (default /usr/bin/chromium); BROWSER_CHECK_TIMEOUT  seconds
#              the whole browser check may take (default 900).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NB_DIR=$ROOT/notebooks
BR_DIR=$NB_DIR/browser
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TOOLS=$TARGET/notebooks
SHOTS=$TARGET/browser
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PYTHON=${PYTHON:-python3}

worktree=0
selected=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --worktree) worktree=1 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "browser.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) selected+=("$(basename "$1")") ;;
    esac
    shift
done

stamp() { date +%s; }
say() { echo "[browser] $*"; }
die() { echo "browser.sh: $*" >&2; exit 1; }
t_start=$(stamp)

for tool in git node npm "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool is needed and not on PATH"
done

# ---- Chromium, from Debian ----
if [[ ! -x $CHROMIUM ]]; then
    [[ $CHROMIUM == /usr/bin/chromium ]] || die "CHROMIUM=$CHROMIUM is not an executable"
    [[ $(id -u) -eq 0 ]] || die "$CHROMIUM is missing; install it (sudo apt-get install chromium) and rerun"
    command -v apt-get >/dev/null || die "$CHROMIUM is missing and there is no apt-get to install it"
    say "installing chromium with apt-get (once)"
    t=$(stamp)
    export DEBIAN_FRONTEND=noninteractive
    updated=0
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        apt-get update -qq
        updated=1
    fi
    if ! apt-get install -y -qq chromium >/dev/null; then
        # the package lists may be stale (a version no longer on the mirror): refresh once
        [[ $updated -eq 1 ]] && die "apt-get install chromium failed"
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    fi
    [[ -x $CHROMIUM ]] || die "apt-get installed chromium but $CHROMIUM is still missing"
    say "chromium installed in $(( $(stamp) - t )) s"
fi

# ---- JupyterLab in a venv, pinned ----
VENV=$TOOLS/browser-venv
REQS=$BR_DIR/requirements.txt
if ! cmp -s "$REQS" "$VENV/requirements.installed" 2>/dev/null; then
    say "creating $VENV with JupyterLab (pinned in notebooks/browser/requirements.txt)"
    t=$(stamp)
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$REQS"
    cp "$REQS" "$VENV/requirements.installed"
    say "venv ready in $(( $(stamp) - t )) s"
fi

# ---- playwright-core, from the committed lock file ----
NODE_DIR=$TOOLS/browser-node
if ! cmp -s "$BR_DIR/package-lock.json" "$NODE_DIR/package-lock.installed" 2>/dev/null \
    || [[ ! -f $NODE_DIR/node_modules/playwright-core/package.json ]]; then
    say "installing playwright-core into $NODE_DIR (npm ci, pinned in notebooks/browser/package-lock.json)"
    t=$(stamp)
    rm -rf "$NODE_DIR"
    mkdir -p "$NODE_DIR"
    cp "$BR_DIR/package.json" "$BR_DIR/package-lock.json" "$NODE_DIR/"
    # playwright-core downloads no browser; --ignore-scripts makes sure nothing else runs either
    (cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    cp "$BR_DIR/package-lock.json" "$NODE_DIR/package-lock.installed"
    say "playwright-core installed in $(( $(stamp) - t )) s"
fi

# ---- the notebooks, as a fresh clone has them ----
work=$(mktemp -d "${TMPDIR:-/tmp}/anomaly-kit-browser.XXXXXX")
server_pid=""
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

lab_root=$work/root
mkdir -p "$lab_root/notebooks"
if [[ $worktree -eq 1 ]]; then
    say "notebooks from the working tree (--worktree)"
    cp "$NB_DIR"/*.ipynb "$lab_root/notebooks/"
else
    git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 \
        || die "$ROOT is not a git repository: the check opens the committed notebooks (or pass --worktree)"
    commit=$(git -C "$ROOT" rev-parse --short HEAD)
    git -C "$ROOT" archive --format=tar HEAD notebooks \
        | tar -x -C "$lab_root" --wildcards 'notebooks/*.ipynb' \
        || die "could not take the notebooks from git HEAD ($commit)"
    say "notebooks as committed at $commit (git archive HEAD)"
    if [[ -n $(git -C "$ROOT" status --porcelain -- 'notebooks/*.ipynb') ]]; then
        say "note: notebooks in the working tree differ from HEAD; they are not what is checked (--worktree checks them)"
    fi
fi
notebooks=()
for nb in "$lab_root"/notebooks/*.ipynb; do
    [[ -e $nb ]] || continue
    name=$(basename "$nb")
    if [[ ${#selected[@]} -eq 0 ]] || [[ " ${selected[*]} " == *" $name "* ]]; then
        notebooks+=("notebooks/$name")
    fi
done
for name in "${selected[@]}"; do
    [[ -f $lab_root/notebooks/$name ]] || die "no notebook $name in notebooks/ at ${commit:-the working tree}"
done
[[ ${#notebooks[@]} -gt 0 ]] || die "no notebooks to check"

# The control: the same kind of <img> chart next to an inline <svg>. Untrusted, JupyterLab must
# show the first and strip the second; check.mjs fails if the <svg> appears (the notebooks would
# then be trusted and the check would prove nothing).
mkdir -p "$lab_root/control"
"$PYTHON" - "$lab_root/control/untrusted-control.ipynb" <<'PY'
import json, sys, urllib.parse
svg = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#4a90d9"/></svg>'
html = ('<img alt="control chart: a blue box" width="120" src="data:image/svg+xml,' + urllib.parse.quote(svg) + '">'
        + '<div>' + svg + '</div>')
nb = {"nbformat": 4, "nbformat_minor": 5,
      "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
      "cells": [{"cell_type": "code", "id": "control", "execution_count": 1, "metadata": {}, "source": "// control",
                 "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"text/html": html, "text/plain": "control"}}]}]}
json.dump(nb, open(sys.argv[1], "w"))
PY

# ---- JupyterLab on 127.0.0.1, with fresh Jupyter directories ----
jdir=$work/jupyter
export JUPYTER_CONFIG_DIR=$jdir/config
export JUPYTER_DATA_DIR=$jdir/data          # holds the trust database: fresh, so nothing is trusted
export JUPYTER_RUNTIME_DIR=$jdir/runtime
export JUPYTERLAB_SETTINGS_DIR=$jdir/lab-settings
export JUPYTERLAB_WORKSPACES_DIR=$jdir/lab-workspaces
export IPYTHONDIR=$jdir/ipython
unset JUPYTER_PATH JUPYTER_CONFIG_PATH
mkdir -p "$JUPYTER_CONFIG_DIR" "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" \
    "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/notebook-extension" \
    "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/apputils-extension" "$JUPYTERLAB_WORKSPACES_DIR"
# every cell rendered (JupyterLab 4 otherwise leaves off-screen cells unrendered), no news
echo '{ "windowingMode": "none" }' \
    > "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
echo '{ "fetchNews": "false", "checkForUpdates": false }' \
    > "$JUPYTERLAB_SETTINGS_DIR/@jupyterlab/apputils-extension/notification.jupyterlab-settings"

token=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(24))')
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$work/jupyterlab.log
"$VENV/bin/jupyter-lab" --no-browser --ip=127.0.0.1 --port="$port" --ServerApp.port_retries=0 \
    --IdentityProvider.token="$token" --ServerApp.root_dir="$lab_root" \
    --LabApp.user_settings_dir="$JUPYTERLAB_SETTINGS_DIR" --LabApp.workspaces_dir="$JUPYTERLAB_WORKSPACES_DIR" \
    --NotebookNotary.db_file=:memory: --LabApp.notebook_starts_kernel=False \
    --LabApp.expose_app_in_browser=True --LabApp.news_url=None \
    --LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate \
    --LabApp.extension_manager=readonly --ServerApp.terminals_enabled=False \
    --ServerApp.allow_root=True \
    >"$log" 2>&1 </dev/null &
server_pid=$!
base=http://127.0.0.1:$port
deadline=$(( $(stamp) + 90 ))
answers() {
    "$VENV/bin/python" -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1] + "/api/status", headers={"Authorization": "token " + sys.argv[2]}), timeout=5)' \
        "$base" "$token" 2>/dev/null
}
until answers; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$log" >&2
        die "JupyterLab exited before it answered on $base (its log is above)"
    fi
    if [[ $(stamp) -ge $deadline ]]; then
        tail -n 30 "$log" >&2
        die "JupyterLab did not answer on $base within 90 s (the end of its log is above)"
    fi
    sleep 0.5
done
say "JupyterLab $("$VENV/bin/jupyter-lab" --version) on $base (root $lab_root), ${#notebooks[@]} notebook(s)"

# ---- the browser check ----
mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
status=0
JUPYTER_TOKEN=$token PLAYWRIGHT_NODE_DIR=$NODE_DIR \
    timeout --kill-after=15 "${BROWSER_CHECK_TIMEOUT:-900}" \
    node "$BR_DIR/check.mjs" --base "$base" --root "$lab_root" --out "$SHOTS" \
    --chromium "$CHROMIUM" --control control/untrusted-control.ipynb "${notebooks[@]}" || status=$?
if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "browser.sh: the browser check took longer than ${BROWSER_CHECK_TIMEOUT:-900} s and was stopped" >&2
fi
if [[ $status -ne 0 ]]; then
    echo "--- the end of JupyterLab's log ---" >&2
    tail -n 20 "$log" >&2
    exit "$status"
fi
say "all done in $(( $(stamp) - t_start )) s"
