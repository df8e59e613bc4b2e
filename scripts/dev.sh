#!/usr/bin/env bash
# Set-up command 1: installs what is missing, builds, and runs the chat on
# http://127.0.0.1:8787 under `wrangler dev`. Open it in two tabs and talk.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export WRANGLER_SEND_METRICS=false
# Open mode (anyone may connect as anyone) for local runs, chosen here and
# never in wrangler.toml, whose [vars] are deployed: a Worker without
# AUTH_SECRET or AUTH_MODE refuses everyone. A .dev.vars or a --var that
# sets either is your own choice (docs/identity.md), and wins.
if ! grep -qsE '^[[:space:]]*AUTH_(SECRET|MODE)[[:space:]]*=' .dev.vars &&
    [[ "$*" != *AUTH_SECRET* && "$*" != *AUTH_MODE* ]]; then
    set -- --var AUTH_MODE:open "$@"
fi
exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
