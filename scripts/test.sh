#!/usr/bin/env bash
# Set-up command 2: installs what is missing (toolchain pieces, npm packages,
# Debian's Chromium), builds the Worker, and runs every test: the client
# library's and the page's pure parts under node, the library's declarations
# and package, the pure core's unit tests natively, then the integration and
# browser tests (the library's own in tests/client_library.rs), each binary
# of which starts the real runtime (`wrangler dev`) on a free loopback port
# and stops it when done. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The client library's and the page's pure parts first: seconds, no build
# needed.
node --test client/test/*.test.mjs tests/page/*.test.mjs
bash scripts/bootstrap.sh
# The library's hand-written declarations, with its examples checked against
# them, and what `npm publish` would ship.
node_modules/.bin/tsc --noEmit -p client
(cd client && npm pack --dry-run --json 2> /dev/null) | node client/test/pack.mjs
bash scripts/install-browser.sh
bash scripts/build-worker.sh
export WRANGLER_SEND_METRICS=false
cargo test "$@"
