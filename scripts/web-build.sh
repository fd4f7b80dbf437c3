#!/usr/bin/env bash
# Builds the web page (web/ -> web/dist/onboard/browser): installs the npm packages when
# package-lock.json changed since the last install, then `ng build`. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../web"
export NG_CLI_ANALYTICS=false

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "Node.js (20.19 or newer) with npm is needed to build the web page." >&2
  exit 1
fi

# `npm ci` wipes node_modules and is slow: only when the lock file differs from the last install.
stamp=node_modules/.onboard-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "== web: npm ci"
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

echo "== web: ng build"
npx ng build
