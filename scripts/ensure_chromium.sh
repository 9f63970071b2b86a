#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
# Install it when missing and we are allowed to; otherwise say how, and let the tests decide.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "warning: /usr/bin/chromium is missing and cannot be installed here (need root and apt-get);" >&2
echo "         browser tests will be skipped outside CI. Install it with: sudo apt-get install -y chromium" >&2
