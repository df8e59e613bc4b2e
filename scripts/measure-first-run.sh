#!/usr/bin/env bash
# Measures what a newcomer waits for: a fresh clone and a fresh Cargo home
# (crates.io's download cache and npm's are kept, as on a machine that has
# built any Rust before) run `bash scripts/dev.sh` until the page answers,
# then the same command again. Prints both times in seconds.
#   bash scripts/measure-first-run.sh
# Run it on an otherwise idle machine: it is a timing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
dev_pid=
cleanup() {
    if [[ -n $dev_pid ]]; then
        kill -- "-$dev_pid" 2> /dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

git clone -q "$repo" "$work/edge-chat"
export CARGO_HOME=$work/cargo
mkdir -p "$CARGO_HOME/bin"
cp -r "${HOME}/.cargo/registry" "$CARGO_HOME/" 2> /dev/null || true
# Only the toolchain itself on PATH: no build tool a previous run installed.
for tool in cargo rustc rustup rustdoc; do
    ln -s "$(command -v "$tool")" "$CARGO_HOME/bin/$tool"
done
export PATH="$CARGO_HOME/bin:/usr/local/bin:/usr/bin:/bin"
port=$((20000 + RANDOM % 10000))

# Starts dev.sh in its own process group and waits for the page.
serve() {
    local started=$SECONDS
    # setsid makes dev.sh (wrangler, workerd) one process group to stop.
    PORT=$port setsid bash "$work/edge-chat/scripts/dev.sh" > "$work/dev-$1.log" 2>&1 &
    dev_pid=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$port/"; do
        if ! kill -0 "$dev_pid" 2> /dev/null; then
            echo "dev.sh exited; its log:" >&2
            tail -n 40 "$work/dev-$1.log" >&2
            exit 1
        fi
        sleep 1
    done
    echo "$1 run: page served after $((SECONDS - started)) s"
    kill -- "-$dev_pid" 2> /dev/null || kill "$dev_pid"
    wait "$dev_pid" 2> /dev/null || true
    dev_pid=
}

serve first
serve second
