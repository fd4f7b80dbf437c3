#!/usr/bin/env bash
# The test command of the README: every unit, behaviour-suite and end-to-end test, then the
# web page's unit and browser tests (scripts/test-web.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets "$@"
scripts/test-web.sh
