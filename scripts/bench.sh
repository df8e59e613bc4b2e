#!/usr/bin/env bash
# The benchmark suite, in one command: installs the baselines' dependencies
# (a Python venv with the pinned FastAPI stack), builds the Worker, and runs
# benches/load/ with the load generator on core 0 (each server it starts is
# pinned to core 1). The full suite writes bench-results/, never BENCHMARKS.md;
# a smoke or narrowed run (BENCH_SIZES, BENCH_SERVERS, ...) writes below
# bench-results/tmp/ instead. See the README's Benchmarks section.
#   bash scripts/bench.sh           the full suite (over an hour)
#   bash scripts/bench.sh --smoke   every server and mode at toy sizes (CI)
#   bash scripts/bench.sh silent    sockets that never read, and liars that
#                                   chat, ping or claim receipts: the servers'
#                                   memory over time and how many liars they
#                                   closed; BENCH_SILENT_K, BENCH_SILENT_SECS
#                                   and BENCH_SILENT_LIES shape it
#   bash scripts/bench.sh history   issue 27's room of a million messages
#                                   against rooms of 100 to 100,000: join,
#                                   scrollback, search under load, knees
#                                   and storage (bench-results/bigroom.md);
#                                   BENCH_HISTORY_SIZES, BENCH_HISTORY_REPEATS
#                                   and BENCH_HISTORY_RATE shape it;
#                                   BENCH_HISTORY_KEEP_STATE=1 keeps the
#                                   rooms, BENCH_HISTORY_ROOMS=<dir> reruns
#                                   the knees alone on them
#   bash scripts/bench.sh reactions issue 29's reaction storm: every member
#                                   of a chatting room of 100 and 1,000
#                                   toggles one emoji at once; the chat's
#                                   latency with and without the storm and
#                                   the storm's completion time
#                                   (bench-results/reactions.md);
#                                   BENCH_REACT_SIZES, BENCH_REACT_REPEATS,
#                                   BENCH_REACT_RATE and BENCH_REACT_SECS
#                                   shape it
#   bash scripts/bench.sh relays    issue 26's one object against relays at
#                                   1,000 and 5,000 clients: a quiet step's
#                                   latency (the extra hop) and the knee,
#                                   with server CPU per delivered message
#                                   (bench-results/relays.md);
#                                   BENCH_RELAY_SIZES, BENCH_RELAY_CAPACITY
#                                   and BENCH_RELAY_QUIET_RATE shape it
#   BENCH_COMPARE_BUILD=<other checkout>/build bash scripts/bench.sh
#                                   also runs that build, as edge-chat@base
#                                   (and edge-chat plain@base, plain clients)
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
cargo bench --bench load --no-run
if [[ ${1:-} == silent || ${1:-} == history || ${1:-} == reactions || ${1:-} == relays ]]; then
    exec taskset -c 0 cargo bench --bench load -- "$@"
fi
exec taskset -c 0 cargo bench --bench load -- suite "$@"
