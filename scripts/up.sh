#!/usr/bin/env bash
# The README's run command: builds the web page when it is missing or older than its sources,
# installs what the Rust build needs besides Rust (scripts/build-deps.sh), then runs every role
# with `onboard up` (arguments are passed on, e.g. --listen).
set -euo pipefail
cd "$(dirname "$0")/.."
index=web/dist/onboard/browser/index.html
if [ ! -f "$index" ] || [ -n "$(find web/src web/public web/angular.json web/package-lock.json -newer "$index" -print -quit)" ]; then
  scripts/web-build.sh || echo "The web page could not be built; starting without it (see above)." >&2
fi
scripts/build-deps.sh
exec cargo run --release -- up "$@"
