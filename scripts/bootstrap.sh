#!/usr/bin/env bash
# Installs everything edge-chat needs to build, run and test, from the project's
# own pins: the wasm32 target, worker-build at the `worker` crate's version,
# wasm-bindgen-cli at exactly the locked `wasm-bindgen` version, and the npm
# packages (wrangler, binaryen's wasm-opt, esbuild). Idempotent: when all is
# present it only checks versions, in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$cargo_bin:$PATH"

# The version of a crate as Cargo.lock resolves it.
locked() { awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

if [[ ! -f Cargo.lock ]]; then
    cargo generate-lockfile
fi

worker_version=$(locked worker)
if [[ "$(worker-build --version 2>/dev/null)" != "$worker_version" ]]; then
    cargo install --locked "worker-build@$worker_version"
fi

bindgen_version=$(locked wasm-bindgen)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
    cargo install --locked "wasm-bindgen-cli@$bindgen_version"
fi

# npm ci again only when the lockfile changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
fi
