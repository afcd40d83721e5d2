# Shared by run.sh and scale.sh (sourced, not run): the local servers' install, a work folder,
# background processes stopped on the way out whatever happens, and waiting for a log line.
# Expects $here (deploy/local); sets $work and the array $pids.

# npm ci only when a server is missing: idempotent, and pinned by package-lock.json
[[ -f "$here/node_modules/kinesalite/package.json" && -f "$here/node_modules/dynalite/package.json" ]] ||
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

work=$(mktemp -d)
pids=()
# Stops every process in $pids; the work folder goes too, unless the run failed (it is kept and
# named, to look into) or KEEP_WORK is set.
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ $status -ne 0 || -n "${KEEP_WORK:-}" ]]; then
        echo "$(basename "$0"): work files kept in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for FILE PATTERN: prints the first match of PATTERN in FILE, waiting up to 30 s for it
wait_for() {
    for _ in $(seq 300); do
        if grep -m1 -o "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "error: timed out waiting for '$2' in $1:" >&2
    cat "$1" >&2
    return 1
}

# start_server KIND: starts the local Kinesis (kinesis) or DynamoDB (dynamodb) server on a free
# loopback port and sets $server_url (not a subshell: $pids must learn the server's pid)
start_server() {
    node "$here/aws-server.js" "$1" 0 >"$work/$1.log" 2>&1 &
    pids+=($!)
    server_url=$(wait_for "$work/$1.log" 'http://127\.0\.0\.1:[0-9]*')
}
