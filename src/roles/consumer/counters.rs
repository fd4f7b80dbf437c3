//! The consumers' own metrics: records settled per topic, their processing time, and the
//! group's lag as a member last saw it (refreshed by the member on a slow cadence, so a scrape
//! never asks the bus).

use super::{BatchReport, RecordResult};
use crate::domain::event::Topic;
use crate::ports::bus::EventBus;
use crate::telemetry;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a member asks the bus for its group's offsets: often enough for a lag alert that
/// looks at minutes, rarely enough that six members cost a broker nothing.
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

/// `onboard_consumer_lag` of one member's topic.
pub struct LagGauge {
    bus: Arc<dyn EventBus>,
    group: String,
    topic: String,
    last: Option<Instant>,
}

impl LagGauge {
    pub fn new(bus: Arc<dyn EventBus>, group: &str, topic: &str) -> Self {
        Self {
            bus,
            group: group.to_string(),
            topic: topic.to_string(),
            last: None,
        }
    }

    /// Sets the gauge per partition from the group's committed offsets, at most every
    /// [`LAG_REFRESH`]; a failure leaves the last values (the poll loop reports bus trouble).
    pub async fn refresh_if_due(&mut self) {
        if self.last.is_some_and(|at| at.elapsed() < LAG_REFRESH) {
            return;
        }
        self.last = Some(Instant::now());
        let Ok(lags) = self
            .bus
            .describe_group(&self.group, std::slice::from_ref(&self.topic))
            .await
        else {
            return;
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
