#!/usr/bin/env bash
# The web page's tests: unit tests (vitest, `ng test`) and end-to-end tests (playwright-core
# driving Debian's Chromium against the real `onboard up` binary). Installs Chromium and sqlite3
# if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium for the browser, sqlite3 for the dead-letter test (it breaks and mends the store).
# shellcheck source=lib/debian-packages.sh
source scripts/lib/debian-packages.sh
ensure_debian_packages test-web.sh "the browser tests" chromium sqlite3
export CHROME_BIN="${CHROME_BIN:-$(command -v chromium)}"

scripts/web-build.sh

echo "== web: unit tests"
(cd web && NG_CLI_ANALYTICS=false npx ng test --watch=false)

echo "== web: end-to-end tests"
cargo build --locked --bin onboard
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
# A private copy: another build sharing the target directory cannot swap it mid-test.
bin_dir=$(mktemp -d)
trap 'rm -rf "$bin_dir"' EXIT
cp "$target_dir/debug/onboard" "$bin_dir/onboard"
# The sign-in test's identity provider (a real one, with a sign-in page).
ONBOARD_OIDC_MOCK_BIN=$(scripts/oidc-mock.sh path)
export ONBOARD_OIDC_MOCK_BIN
(cd web && ONBOARD_BIN="$bin_dir/onboard" node --test --test-concurrency=1 e2e/)
