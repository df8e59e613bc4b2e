#!/usr/bin/env bash
# Set-up command 2: installs what is missing (toolchain pieces, npm packages,
# Debian's Chromium), builds the Worker, and runs every test: the pure core's
# unit tests natively, then the integration and browser tests, each binary of
# which starts the real runtime (`wrangler dev`) on a free loopback port and
# stops it when done. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The page's pure state and socket helpers first: seconds, no build needed.
node --test tests/page/*.test.mjs
bash scripts/bootstrap.sh
bash scripts/install-browser.sh
bash scripts/build-worker.sh
export WRANGLER_SEND_METRICS=false
cargo test "$@"
