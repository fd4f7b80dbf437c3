//! The consumers' own metrics: records settled per topic, their processing time, and the
//! group's lag as the process last read it (on a slow cadence, beside the members, so neither
//! a scrape nor a member's poll loop waits for the bus).

use super::{BatchReport, RecordResult};
use crate::domain::event::Topic;
use crate::ports::bus::EventBus;
use crate::telemetry;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How often a consumer process asks the bus for its group's offsets: often enough for a lag
/// alert that looks at minutes, rarely enough to cost a broker nothing.
const LAG_REFRESH: Duration = Duration::from_secs(5);

/// Counts the settled records of a processed batch (failed ones are retried, and counted then).
pub fn count_settled(topic: Topic, report: &BatchReport, took: Duration) {
    let settled = report
        .results
        .iter()
        .filter(|r| !matches!(r, RecordResult::Failed { .. }))
        .count();
    if settled == 0 {
        return;
    }
    metrics::counter!(telemetry::RECORDS_CONSUMED, "topic" => topic.as_str())
        .increment(settled as u64);
    let histogram = metrics::histogram!(telemetry::RECORD_PROCESSING);
    for _ in 0..settled {
        histogram.record(took.as_secs_f64());
    }
}

/// Keeps `onboard_consumer_lag` of `topics` current until `shutdown`: the group's committed
/// offsets against the partitions' ends, read every [`LAG_REFRESH`] in one call for all of
/// them. It runs beside the members, never inside a member's poll loop: with Kafka one read is
/// topic metadata, the partitions' watermarks and the group's offsets through a client of its
/// own, 100-200 ms during which a member reading it inline stored and pushed nothing (all six
/// at once, every 5 s: BENCHMARKS.md). A failed read leaves the last values; the members
/// report bus trouble themselves.
pub async fn report_lag(
    bus: Arc<dyn EventBus>,
    group: String,
    topics: Vec<String>,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(LAG_REFRESH);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let lags = tokio::select! {
            _ = shutdown.cancelled() => return,
            lags = bus.describe_group(&group, &topics) => lags,
        };
        let Ok(lags) = lags else {
            continue;
        };
        for lag in lags {
            metrics::gauge!(
                telemetry::CONSUMER_LAG,
                "topic" => lag.topic.clone(),
                "partition" => lag.partition.to_string()
            )
            .set(lag.lag() as f64);
        }
    }
}
