//! Onboard in production shape: one api process, two consumer processes and two gateway nodes,
//! started as separate OS processes, sharing a real PostgreSQL and a real Kafka (issue 4).
//!
//! Needs `DATABASE_URL` and `KAFKA_BROKERS` (scripts/test.sh starts both). Without them the tests
//! say SKIPPED, unless `ONBOARD_REQUIRE_POSTGRES=1` / `ONBOARD_REQUIRE_KAFKA=1` make them fail.

mod harness;

mod node_failure;
mod scale_out;
