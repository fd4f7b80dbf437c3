//! Onboard's Prometheus metrics: the names the roles count under, the process-wide recorder
//! they go to, and its rendering for `/metrics`. Nothing is computed per scrape: each role
//! counts where it also logs (vector's internal events), and a scrape only formats the values.
//!
//! The recorder is global (the `metrics` crate's design), so every application in one process
//! shares it; `deploy/prometheus` and `deploy/grafana` may only name the metrics in [`ALL`].

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// API steps answered, by `step` and `outcome` (`ok`, `replayed`, `rejected`, `error`).
pub const STEPS_TOTAL: &str = "onboard_steps_total";
/// Seconds from a step request's start to its answer.
pub const STEP_DURATION: &str = "onboard_step_duration_seconds";
/// Records the consumers settled (stored, duplicate or dead-lettered), by `topic`.
pub const RECORDS_CONSUMED: &str = "onboard_records_consumed_total";
/// Seconds from a batch's start until one of its records was settled.
pub const RECORD_PROCESSING: &str = "onboard_record_processing_seconds";
/// Seconds from the step's answer (the event's `occurredAt`) to its frame written to a socket.
pub const PUSH_LATENCY: &str = "onboard_push_latency_seconds";
/// WebSocket sessions open on this process's gateway.
pub const WEBSOCKET_CONNECTIONS: &str = "onboard_websocket_connections";
/// Records of the group not yet committed, by `topic` and `partition`, as the consumer last saw.
pub const CONSUMER_LAG: &str = "onboard_consumer_lag";
/// Kafka partitions this process's consumer members own: 1 by `topic` and `partition` while
/// assigned, 0 after a rebalance took it away.
pub const KAFKA_ASSIGNED_PARTITIONS: &str = "onboard_kafka_assigned_partitions";
/// Records moved to a dead-letter topic, by `topic`.
pub const DLQ_RECORDS: &str = "onboard_dlq_records_total";
/// Notification delivery attempts, by `kind` and `outcome` (`delivered`, `retried`, `parked`).
pub const NOTIFICATIONS: &str = "onboard_notifications_total";
/// Outbox rows the relay saw pending at its last look (at most one relay batch).
pub const OUTBOX_PENDING: &str = "onboard_outbox_pending";
/// Applications stuck in one state past their threshold, by `state` (set by each stall check).
pub const STALLED_APPLICATIONS: &str = "onboard_stalled_applications";
/// Sessions closed because their send queue overflowed.
pub const SLOW_DISCONNECTS: &str = "onboard_websocket_slow_disconnects_total";

/// Requests refused with 429 by a limit, by `limit` (`requests`: the per-customer rate;
/// `uploads`: the concurrent uploads; `websockets`: the connections per customer or node).
pub const REQUESTS_LIMITED: &str = "onboard_requests_limited_total";
/// Operator alerts for `workflow-errors` events, by `outcome` (`sent`: e-mailed; `suppressed`:
/// over the per-minute budget, summed up in the next alert).
pub const OPERATOR_ALERTS: &str = "onboard_operator_alerts_total";

/// Rows and records deleted by the data lifecycle, by `kind` (`sent_outbox`,
/// `idempotency_keys`, `expired_connections`, `bus_records`).
pub const PURGED: &str = "onboard_purged_total";

/// Group commits of the embedded store (SQLite): one `COMMIT`, one fsync each.
pub const STORE_GROUP_COMMITS: &str = "onboard_store_group_commits_total";
/// Writers committed by those group commits (writers ÷ commits = fsyncs saved per commit + 1).
pub const STORE_GROUP_WRITERS: &str = "onboard_store_group_writers_total";

/// Every metric Onboard registers, as exposed (histograms add `_bucket`, `_sum`, `_count`).
pub const ALL: &[&str] = &[
    STEPS_TOTAL,
    STEP_DURATION,
    RECORDS_CONSUMED,
    RECORD_PROCESSING,
    PUSH_LATENCY,
    WEBSOCKET_CONNECTIONS,
    CONSUMER_LAG,
    KAFKA_ASSIGNED_PARTITIONS,
    DLQ_RECORDS,
    NOTIFICATIONS,
    OUTBOX_PENDING,
    STALLED_APPLICATIONS,
    SLOW_DISCONNECTS,
    REQUESTS_LIMITED,
    OPERATOR_ALERTS,
    PURGED,
    STORE_GROUP_COMMITS,
    STORE_GROUP_WRITERS,
];

/// Histogram buckets in seconds: from a fast local step to a push that waited on a retry.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Without an HTTP listener of its own the exporter needs its upkeep run by us; it only bounds
/// the memory of histogram samples between scrapes, so a slow cadence is enough.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same handle) and
/// registers the gauges at 0 so a dashboard sees them before the first event.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("Another metrics recorder is installed; /metrics stays empty.");
        }
        describe();
        metrics::gauge!(WEBSOCKET_CONNECTIONS).set(0.0);
        metrics::gauge!(OUTBOX_PENDING).set(0.0);
        for status in crate::domain::workflow::ApplicationStatus::IN_PROGRESS {
            metrics::gauge!(STALLED_APPLICATIONS, "state" => status.as_str()).set(0.0);
        }
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            })
            .expect("a thread for the metrics upkeep");
        handle
    })
}

/// The Prometheus text of every metric.
pub fn render() -> String {
    install().render()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        STORE_GROUP_COMMITS,
        "Group commits of the embedded SQLite store (one fsync each)."
    );
    describe_counter!(
        STORE_GROUP_WRITERS,
        "Write transactions committed by the embedded store's group commits."
    );
    describe_counter!(STEPS_TOTAL, "API steps answered, by step and outcome.");
    describe_histogram!(STEP_DURATION, Unit::Seconds, "Time to answer an API step.");
    describe_counter!(
        RECORDS_CONSUMED,
        "Records settled by the consumers, by topic."
    );
    describe_histogram!(
        RECORD_PROCESSING,
        Unit::Seconds,
        "Time from a batch's start until its record was settled."
    );
    describe_histogram!(
        PUSH_LATENCY,
        Unit::Seconds,
        "Time from the step's answer to the event's frame written to a WebSocket."
    );
    describe_gauge!(
        WEBSOCKET_CONNECTIONS,
        "WebSocket sessions open on this process."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records not yet committed by the consumer group, as its members last saw."
    );
    describe_gauge!(
        KAFKA_ASSIGNED_PARTITIONS,
        "Kafka partitions owned by this process's consumer members (1 while assigned)."
    );
    describe_counter!(DLQ_RECORDS, "Records moved to a dead-letter topic.");
    describe_counter!(
        NOTIFICATIONS,
        "Notification delivery attempts, by kind and outcome."
    );
    describe_gauge!(
        OUTBOX_PENDING,
        "Outbox rows pending at the relay's last look."
    );
    describe_gauge!(
        STALLED_APPLICATIONS,
        "Applications stuck in one state past their threshold."
    );
    describe_counter!(SLOW_DISCONNECTS, "WebSocket sessions closed as too slow.");
    describe_counter!(
        PURGED,
        "Rows and bus records deleted by the data lifecycle, by kind."
    );
    describe_counter!(
        REQUESTS_LIMITED,
        "Requests refused with 429 by a limit, by limit."
    );
    describe_counter!(
        OPERATOR_ALERTS,
        "Operator alerts for workflow errors, by outcome (sent or suppressed)."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `onboard_…` name in `text`, with a histogram's `_bucket`/`_sum`/`_count` removed.
    fn metric_names(text: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find("onboard_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name);
            names.push(base.to_string());
        }
        names
    }

    #[test]
    fn the_alert_rules_and_the_dashboard_name_only_metrics_the_code_registers() {
        for (file, text) in [
            (
                "deploy/prometheus/onboard-alerts.yml",
                include_str!("../deploy/prometheus/onboard-alerts.yml"),
            ),
            (
                "deploy/grafana/onboard-dashboard.json",
                include_str!("../deploy/grafana/onboard-dashboard.json"),
            ),
        ] {
            let names = metric_names(text);
            assert!(names.len() >= 5, "{file} names too few metrics: {names:?}");
            for name in names {
                assert!(
                    ALL.contains(&name.as_str()),
                    "{file} names {name}, which Onboard does not register"
                );
            }
        }
    }

    #[test]
    fn the_dashboard_shows_every_metric_onboard_registers() {
        let names = metric_names(include_str!("../deploy/grafana/onboard-dashboard.json"));
        for metric in ALL {
            assert!(names.iter().any(|n| n == metric), "no panel shows {metric}");
        }
    }

    #[test]
    fn the_suffix_of_a_histogram_series_is_not_part_of_its_name() {
        assert_eq!(
            metric_names("rate(onboard_push_latency_seconds_bucket[5m]) + onboard_outbox_pending"),
            ["onboard_push_latency_seconds", "onboard_outbox_pending"]
        );
    }
}
