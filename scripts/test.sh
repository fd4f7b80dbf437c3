#!/usr/bin/env bash
# The test command of the README: every unit, behaviour-suite and end-to-end test (on SQLite),
# the end-to-end suite again on PostgreSQL, then the web page's unit and browser tests
# (scripts/test-web.sh). Extra arguments go to the first `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- PostgreSQL: a throwaway cluster of this checkout's own (so runs from other checkouts do
# not share or stop it), removed when the tests end.
pg_key=$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)
export ONBOARD_PG_DIR=/tmp/onboard-pg-test-$pg_key
export ONBOARD_PG_PORT=$((56000 + pg_key % 1000))
trap 'scripts/postgres.sh stop' EXIT
scripts/postgres.sh start
eval "$(scripts/postgres.sh env)"
# PostgreSQL tests fail rather than skip if the server is missing.
export ONBOARD_REQUIRE_POSTGRES=1

scripts/test-deps.sh
cargo test --locked --all-targets "$@"

echo "== the end-to-end suite again, on PostgreSQL"
ONBOARD_TEST_STORE=postgres cargo test --locked --test e2e

echo "== the web page"
scripts/test-web.sh
