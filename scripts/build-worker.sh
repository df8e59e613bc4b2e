#!/usr/bin/env bash
# Builds the Worker (release, wasm-opt'd) into build/ without any download:
# worker-build would fetch wasm-bindgen, wasm-opt and esbuild from GitHub, so
# point it at the copies scripts/bootstrap.sh installed. Skips the build when
# build/ is newer than every input, so repeated test runs and `wrangler dev`
# restarts cost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=build/.built
if [[ -f $stamp && -z "${FORCE_BUILD:-}" ]] &&
    [[ -z $(find src Cargo.toml Cargo.lock -newer "$stamp" -print -quit) ]]; then
    exit 0
fi

# Each tool may be overridden, e.g. to check that release-built tools give
# the same .wasm as the unoptimised ones bootstrap.sh installs (README).
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$cargo_bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
# Abort on panic in the Worker (smaller, and the room never unwinds); set
# here rather than in Cargo.toml so native release builds keep unwinding.
export CARGO_PROFILE_RELEASE_PANIC=abort
# SHA-256 (token and webhook signatures) in its compact form: it signs a
# few hundred bytes per request, and the unrolled rounds cost the .wasm
# 1.3 KB gzip. scripts/bootstrap.sh prebuilds with the same flags.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='--cfg sha2_backend_soft="compact"'
"${WORKER_BUILD_BIN:-$cargo_bin/worker-build}" --release

# worker-build keeps the names section (--debuginfo) for stack traces; they
# only ever reach our own logs, and the section is a fifth of the .wasm that
# every edge location loads, so strip it. Same features as worker-build.
# KEEP_NAMES=1 keeps them, for CPU profiles (benches/profile.mjs). Without
# the names, one more -Oz finds another 2 KB gzip to fold.
features=(mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue
    reference-types exception-handling)
if [[ -z "${KEEP_NAMES:-}" ]]; then
    "$WASM_OPT_BIN" build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers -Oz \
        "${features[@]/#/--enable-}"
fi
touch "$stamp"

wasm=build/index_bg.wasm
if [[ -f $wasm ]]; then
    echo "wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) bytes gzip"
fi
