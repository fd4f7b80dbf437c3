#!/usr/bin/env bash
# The test command of the README: every unit, behaviour-suite and end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test-deps.sh
cargo test --locked --all-targets "$@"
