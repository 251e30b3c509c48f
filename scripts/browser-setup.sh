#!/usr/bin/env bash
# What the console's browser test needs, installed once and quietly: Debian's chromium (no browser
# download: playwright-core drives the system one) and browser/node_modules from the lock file.
# Run by crates/autodebit-server/tests/console.rs before the test; safe to run again.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages, installed only when missing (an index update only if the first try fails).
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq "$@" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq "$@" >/dev/null
    fi
}
[ -x /usr/bin/chromium ] || apt_install chromium
command -v npm >/dev/null || apt_install nodejs npm
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    echo "browser-setup: playwright-core needs Node.js 20 or later; this is $(node --version)" >&2
    exit 1
fi

# Installed, and the version pinned in browser/package.json (a bump installs again).
wanted=$(node -p "require('$root/browser/package.json').dependencies['playwright-core']")
have=$(node -p "require('$root/browser/node_modules/playwright-core/package.json').version" 2>/dev/null || echo none)
if [ "$have" != "$wanted" ]; then
    npm ci --prefix "$root/browser" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
fi
