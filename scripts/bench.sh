#!/usr/bin/env bash
# The benchmark suite, in one command: installs the baselines' dependencies
# (a Python venv with the pinned FastAPI stack), builds the Worker, and runs
# benches/load/ with the load generator on core 0 (each server it starts is
# pinned to core 1). Writes bench-results/ and BENCHMARKS.md.
#   bash scripts/bench.sh           the full suite (about an hour)
#   bash scripts/bench.sh --smoke   every server and mode at toy sizes (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/build-worker.sh

venv=target/bench-venv
if [[ ! -x $venv/bin/uvicorn ]] || [[ benches/baselines/requirements.txt -nt $venv/bin/uvicorn ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r benches/baselines/requirements.txt
    touch "$venv/bin/uvicorn"
fi

# 1,000 clients plus the servers' own sockets need more than the default 1,024.
ulimit -n 65536 2> /dev/null || ulimit -n "$(ulimit -Hn)"
export WRANGLER_SEND_METRICS=false
cargo build --release --bench load
exec taskset -c 0 cargo bench --bench load -- suite "$@"
