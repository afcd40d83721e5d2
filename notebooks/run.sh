#!/usr/bin/env bash
# Executes every notebook in notebooks/ headlessly, in order, with the evcxr (Rust) kernel, then
# checks the outputs against the committed ones (notebooks/check_outputs.py).
#
#   bash notebooks/run.sh                  execute and check (crates/cli/tests/notebooks.rs runs this in CI)
#   bash notebooks/run.sh --update         execute and write the outputs back into the notebooks
#   bash notebooks/run.sh --out DIR        keep the executed copies in DIR (default: a temp dir)
#   bash notebooks/run.sh 03_training_and_evaluation.ipynb   only the notebooks named (in order)
#
# Everything it installs or caches stays under target/ (idempotent; a second run reuses it all):
#   target/notebooks/evcxr/bin/evcxr_jupyter   the kernel, `cargo install --locked`, opt-level 1
#   target/notebooks/venv/                     nbconvert, pinned in notebooks/requirements.txt
#   target/notebooks/jupyter/kernels/rust/     the kernelspec (JUPYTER_PATH points here)
#   target/notebooks/cache/evcxr/              evcxr's `:cache` of compiled crates (XDG_CACHE_HOME)
#   target/package/notebooks-evcxr/            EVCXR_TMPDIR: the crate evcxr compiles cells in
#
# EVCXR_TMPDIR is under target/package/ because cargo stops looking for an enclosing workspace
# there: anywhere else under the repository, the root's [workspace] would claim evcxr's crate
# and cargo would refuse to build it.
#
# Environment: ANOMALY_KIT_BIN  the anomaly-kit binary notebook 04 serves with (default: built
#              here with `cargo build --locked --bin anomaly-kit`); NOTEBOOK_TIMEOUT  seconds a
#              cell may take (default 1800: the first cell compiles the kit and polars cold).
set -euo pipefail

EVCXR_VERSION=0.22.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NB_DIR=$ROOT/notebooks
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TOOLS=$TARGET/notebooks
CARGO=${CARGO:-cargo}
PYTHON=${PYTHON:-python3}

update=0
out=""
selected=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --update) update=1 ;;
        --out) out=$2; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) selected+=("$(basename "$1")") ;;
    esac
    shift
done

stamp() { date +%s; }
say() { echo "[notebooks] $*"; }
t_start=$(stamp)

# ---- the kernel: evcxr_jupyter, built once into target/notebooks/evcxr ----
EVCXR=$TOOLS/evcxr/bin/evcxr_jupyter
if [[ ! -x $EVCXR ]] || ! grep -q "evcxr_jupyter $EVCXR_VERSION " "$TOOLS/evcxr/.crates.toml" 2>/dev/null; then
    say "installing evcxr_jupyter $EVCXR_VERSION into $TOOLS/evcxr (about 6 minutes on 2 cores, once)"
    t=$(stamp)
    CARGO_PROFILE_RELEASE_OPT_LEVEL=1 "$CARGO" install --locked --root "$TOOLS/evcxr" \
        "evcxr_jupyter@$EVCXR_VERSION"
    say "evcxr_jupyter installed in $(( $(stamp) - t )) s"
fi

# ---- nbconvert in a venv, pinned ----
VENV=$TOOLS/venv
REQS=$NB_DIR/requirements.txt
if ! cmp -s "$REQS" "$VENV/requirements.installed" 2>/dev/null; then
    say "creating $VENV with nbconvert (pinned in notebooks/requirements.txt)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir -r "$REQS"
    cp "$REQS" "$VENV/requirements.installed"
fi

# ---- Jupyter, project-local: the kernelspec, runtime files and config stay under target/ ----
export JUPYTER_PATH=$TOOLS/jupyter
export JUPYTER_DATA_DIR=$TOOLS/jupyter
export JUPYTER_RUNTIME_DIR=$TOOLS/jupyter/runtime
export JUPYTER_CONFIG_DIR=$TOOLS/jupyter/config
export JUPYTER_PLATFORM_DIRS=1
if ! grep -qF "\"$EVCXR\"" "$JUPYTER_PATH/kernels/rust/kernel.json" 2>/dev/null; then
    "$EVCXR" --install >/dev/null   # writes $JUPYTER_PATH/kernels/rust/kernel.json
fi

# ---- evcxr: a persistent crate directory, its cache, and the kit's Cargo.lock ----
export EVCXR_TMPDIR=${EVCXR_TMPDIR:-$TARGET/package/notebooks-evcxr}
export XDG_CACHE_HOME=$TOOLS/cache
mkdir -p "$EVCXR_TMPDIR" "$XDG_CACHE_HOME"
# evcxr resolves the notebooks' dependencies itself; starting from the kit's lock file gives the
# notebooks the kit's pinned versions (re-seeded whenever the kit's lock file changes).
if ! cmp -s "$ROOT/Cargo.lock" "$EVCXR_TMPDIR/Cargo.lock.seed" 2>/dev/null; then
    cp "$ROOT/Cargo.lock" "$EVCXR_TMPDIR/Cargo.lock"
    cp "$ROOT/Cargo.lock" "$EVCXR_TMPDIR/Cargo.lock.seed"
fi

# ---- the server binary notebook 04 starts ----
if [[ -z ${ANOMALY_KIT_BIN:-} ]]; then
    say "building the anomaly-kit binary (debug) for the inference-container notebook"
    (cd "$ROOT" && "$CARGO" build --locked --quiet --bin anomaly-kit)
    ANOMALY_KIT_BIN=$TARGET/debug/anomaly-kit
fi
export ANOMALY_KIT_BIN

# ---- execute, in order ----
cleanup() {
    # notebook 04 writes the id of the server it starts; stop it if a failure left it running
    local pidfile=$ROOT/data/notebooks/server.pid pid
    if [[ -f $pidfile ]]; then
        pid=$(cat "$pidfile")
        if [[ $pid =~ ^[0-9]+$ ]] && grep -q anomaly-kit "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    fi
    [[ -n ${tmp_out:-} ]] && rm -rf "$tmp_out"
    return 0
}
trap cleanup EXIT
if [[ -z $out ]]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/anomaly-kit-notebooks.XXXXXX")
    tmp_out=$out
fi
mkdir -p "$out"
notebooks=()
for nb in "$NB_DIR"/[0-9][0-9]_*.ipynb; do
    name=$(basename "$nb")
    if [[ ${#selected[@]} -eq 0 ]] || [[ " ${selected[*]} " == *" $name "* ]]; then
        notebooks+=("$nb")
    fi
done
if [[ ${#notebooks[@]} -eq 0 ]]; then
    echo "run.sh: no notebooks matched ${selected[*]}" >&2
    exit 2
fi

# execute.py stops at the first cell that fails (a compile error, a panic, an assert) and
# prints the notebook, the cell and the error.
"$VENV/bin/python" "$NB_DIR/execute.py" --out "$out" --timeout "${NOTEBOOK_TIMEOUT:-1800}" \
    "${notebooks[@]}"

# ---- check, or write back ----
executed=()
for nb in "${notebooks[@]}"; do executed+=("$out/$(basename "$nb")"); done
if [[ $update -eq 1 ]]; then
    for nb in "${notebooks[@]}"; do cp "$out/$(basename "$nb")" "$nb"; done
    say "wrote the outputs back into ${#notebooks[@]} notebook(s); checking the figures the prose cites"
    "$VENV/bin/python" "$NB_DIR/check_outputs.py" --prose-only "${notebooks[@]}"
else
    "$VENV/bin/python" "$NB_DIR/check_outputs.py" --committed-dir "$NB_DIR" "${executed[@]}"
fi
say "all done in $(( $(stamp) - t_start )) s"
