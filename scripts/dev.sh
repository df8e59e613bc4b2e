#!/usr/bin/env bash
# Set-up command 1: installs what is missing, builds, and runs the chat on
# http://127.0.0.1:8787 under `wrangler dev`. Open it in two tabs and talk.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export WRANGLER_SEND_METRICS=false
exec node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
