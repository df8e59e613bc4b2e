#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser tests, only
# when missing: quick and silent when they are already there.
set -euo pipefail
if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-browser: run as root, or install chromium and chromium-driver yourself" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver > /dev/null
