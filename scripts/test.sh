#!/usr/bin/env bash
# The test command of the README: every unit, behaviour-suite and end-to-end test (on SQLite and
# the embedded bus), the end-to-end suite again on PostgreSQL, again on Apache Kafka, then the
# web page's unit and browser tests (scripts/test-web.sh). Extra arguments go to the first
# `cargo test`. The services are started here and stopped at the end; tests that need them fail
# (not skip) without them (ONBOARD_REQUIRE_POSTGRES=1, ONBOARD_REQUIRE_KAFKA=1).
set -euo pipefail
cd "$(dirname "$0")/.."
# The C toolchain and headers the Rust build needs (librdkafka).
scripts/build-deps.sh

# ---- PostgreSQL: a throwaway cluster of this checkout's own (so runs from other checkouts do
# not share or stop it), removed when the tests end.
# Its port, and moto's below, lie under Linux's ephemeral range (32768-60999) and above the
# tests' own picks (src/testing/ports.rs, 20000-31999): a port in the ephemeral range can be
# held by any outgoing connection when the server starts ("pg_ctl: could not start server" on
# 56090 was seen once; its log was gone, so that cause is likely, not proven).
pg_key=$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)
export ONBOARD_PG_DIR=/tmp/onboard-pg-test-$pg_key
export ONBOARD_PG_PORT=$((32000 + pg_key % 350))

# ---- Kafka: a three-broker KRaft cluster on 127.0.0.1 (scripts/kafka.sh; its ports are fixed,
# so a cluster that already runs is reused and left running).
started_kafka=0
cleanup() {
  scripts/postgres.sh stop || true
  scripts/moto.sh stop || true
  if ((started_kafka)); then
    scripts/kafka.sh stop || true
  fi
}
trap cleanup EXIT

scripts/postgres.sh start
eval "$(scripts/postgres.sh env)"
export ONBOARD_REQUIRE_POSTGRES=1

# ---- A local AWS (moto in server mode) for the DynamoDB, SNS, S3, Cognito and API Gateway
# management tests: its own port and directory per checkout, like PostgreSQL.
export ONBOARD_MOTO_DIR=/tmp/onboard-moto-test-$pg_key
export ONBOARD_MOTO_PORT=$((32400 + pg_key % 350))
scripts/moto.sh start
eval "$(scripts/moto.sh env)"
export ONBOARD_REQUIRE_AWS=1

scripts/test-deps.sh
if scripts/kafka.sh status >/dev/null 2>&1; then
  if [[ "$(cat "${ONBOARD_KAFKA_RUN_DIR:-/tmp/onboard-kafka}/nodes")" != 3 ]]; then
    echo "test.sh: a Kafka cluster without 3 nodes is running; stop it (scripts/kafka.sh stop) so the tests can start theirs" >&2
    exit 1
  fi
else
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  started_kafka=1
  scripts/kafka.sh start --nodes 3
fi
eval "$(scripts/kafka.sh env)"
export ONBOARD_REQUIRE_KAFKA=1
# The test apps pick their bus explicitly; a developer's shell settings must not leak in.
unset ONBOARD_BUS ONBOARD_TOPIC_PREFIX ONBOARD_CONSUMER_GROUP

echo "== the alert rules and dashboard (deploy/)"
scripts/check-deploy.sh

cargo test --locked --all-targets "$@"

echo "== a few seconds of onboard bench against onboard up (smoke: fails on any loss)"
scripts/bench-smoke.sh

echo "== the end-to-end suite again, on PostgreSQL"
ONBOARD_TEST_STORE=postgres cargo test --locked --test e2e

echo "== the end-to-end suite again, on DynamoDB (moto)"
ONBOARD_TEST_STORE=dynamodb cargo test --locked --test e2e

echo "== the end-to-end suite again, on Kafka"
ONBOARD_TEST_BUS=kafka cargo test --locked --test e2e

echo "== onboard trace and the request id in the logs, on Kafka + PostgreSQL"
ONBOARD_TEST_BUS=kafka ONBOARD_TEST_STORE=postgres cargo test --locked --test trace_cli
ONBOARD_TEST_STORE=dynamodb cargo test --locked --test trace_cli

echo "== the web page"
scripts/test-web.sh
