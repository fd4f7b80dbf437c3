#!/usr/bin/env bash
# The test command of the README: every unit, behaviour-suite and end-to-end test, first on the
# embedded bus, then the end-to-end suite again on a real Apache Kafka. Kafka (a three-broker
# KRaft cluster on 127.0.0.1, see scripts/kafka.sh) is started here unless one already runs, and
# stopped again at the end if this script started it. Tests that need Kafka fail (not skip)
# without it: ONBOARD_REQUIRE_KAFKA=1.
set -euo pipefail
cd "$(dirname "$0")/.."

started_kafka=0
if scripts/kafka.sh status >/dev/null 2>&1; then
  if [[ "$(cat "${ONBOARD_KAFKA_RUN_DIR:-/tmp/onboard-kafka}/nodes")" != 3 ]]; then
    echo "test.sh: a Kafka cluster without 3 nodes is running; stop it (scripts/kafka.sh stop) so the tests can start theirs" >&2
    exit 1
  fi
else
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  scripts/kafka.sh start --nodes 3
  started_kafka=1
fi
cleanup() {
  if ((started_kafka)); then
    scripts/kafka.sh stop || true
  fi
}
trap cleanup EXIT

eval "$(scripts/kafka.sh env)"
export ONBOARD_REQUIRE_KAFKA=1
# The test apps pick their bus explicitly; a developer's shell settings must not leak in.
unset ONBOARD_BUS ONBOARD_TOPIC_PREFIX ONBOARD_CONSUMER_GROUP

echo "== tests (embedded bus; Kafka tests against the local cluster)"
cargo test --locked --all-targets "$@"
echo "== end-to-end tests on Kafka"
ONBOARD_TEST_BUS=kafka cargo test --locked --test e2e "$@"
