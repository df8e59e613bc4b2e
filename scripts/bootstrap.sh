#!/usr/bin/env bash
# Installs everything edge-chat needs to build, run and test, from the project's
# own pins: the wasm32 target, worker-build at the `worker` crate's version,
# wasm-bindgen-cli at exactly the locked `wasm-bindgen` version, and the npm
# packages (wrangler, binaryen's wasm-opt, esbuild). Idempotent: when all is
# present it only checks versions, in well under a second.
#
# A first run is mostly compiling the two build tools. They only orchestrate
# a build, so they are compiled without optimisation or debug info (the
# `.wasm` they produce is byte-for-byte the same as with release-built tools;
# see the README), and everything that can overlap does: both tools, the npm
# install and the Worker's own first compile run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$cargo_bin:$PATH"
logs=target/bootstrap
started=$SECONDS

# The version of a crate as Cargo.lock resolves it.
locked() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock; }

say() { echo "bootstrap: $*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding Rust's wasm32 target"
    rustup target add wasm32-unknown-unknown
fi

if [[ ! -f Cargo.lock ]]; then
    cargo generate-lockfile
fi

pids=() names=()
# Runs a step in the background, its output in $logs/<name>.log.
start() {
    local name=$1
    shift
    mkdir -p "$logs"
    "$@" > "$logs/$name.log" 2>&1 &
    pids+=($!) names+=("$name")
}

# Build tools: unoptimised and without debug info, which halves their
# compile time; `--locked` keeps their dependencies at the published pins.
install_tool() {
    CARGO_PROFILE_DEV_DEBUG=0 cargo install --debug --locked "$1@$2"
}

worker_version=$(locked worker)
if [[ "$(worker-build --version 2>/dev/null)" != "$worker_version" ]]; then
    say "compiling worker-build $worker_version (a build tool, once per machine: about 2 minutes)"
    start worker-build install_tool worker-build "$worker_version"
fi

bindgen_version=$(locked wasm-bindgen)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
    say "compiling wasm-bindgen-cli $bindgen_version (a build tool, once per machine: about 2 minutes)"
    start wasm-bindgen install_tool wasm-bindgen-cli "$bindgen_version"
fi

# npm ci again only when the lockfile changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    say "installing wrangler, wasm-opt and esbuild from package-lock.json"
    start npm npm ci --no-audit --no-fund
fi

# While tools compile, compile the Worker too, exactly as worker-build will
# (same command and environment as build-worker.sh gives it), so its own
# build finds the work done.
if ((${#pids[@]} > 1)) && [[ ! -f build/.built ]]; then
    say "compiling the Worker meanwhile"
    start worker env WASM_BINDGEN_USE_JS_SYS=1 CARGO_PROFILE_RELEASE_PANIC=abort \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='--cfg sha2_backend_soft="compact"' \
        cargo build --lib --release --target wasm32-unknown-unknown
fi

failed=0
for i in "${!pids[@]}"; do
    # Say every 20 s what is still running, so a first run does not look hung.
    while kill -0 "${pids[i]}" 2> /dev/null; do
        running=()
        for j in "${!pids[@]}"; do
            kill -0 "${pids[j]}" 2> /dev/null && running+=("${names[j]}")
        done
        say "$((SECONDS - started)) s: still compiling or installing: ${running[*]}"
        for _ in {1..20}; do
            kill -0 "${pids[i]}" 2> /dev/null || break
            sleep 1
        done
    done
    if wait "${pids[i]}"; then
        say "${names[i]} done after $((SECONDS - started)) s"
    else
        failed=1
        say "${names[i]} failed; the end of $logs/${names[i]}.log:"
        tail -n 30 "$logs/${names[i]}.log" >&2
    fi
done
exit "$failed"
