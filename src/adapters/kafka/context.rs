//! The librdkafka client context: routes librdkafka's logs to `tracing`, remembers the last
//! client error (so a failed connect can say *why*: refused, TLS, wrong password), commits
//! acknowledged offsets before partitions are revoked in a rebalance, and reports the partitions
//! a member owns after each rebalance (`onboard_kafka_assigned_partitions`), and tells a
//! consumer's passing authentication failure from one that persists.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long authentication failures must keep coming while consuming before a consumer gives
/// up: longer than a few of librdkafka's reconnect attempts (at most 2 s apart here).
pub const AUTH_PATIENCE: Duration = Duration::from_secs(10);
/// A failure after this long without one starts a new count.
pub const AUTH_QUIET: Duration = Duration::from_secs(30);

/// Authentication failures a consumer saw. librdkafka reports a connection that dropped during
/// its SASL handshake (seen in CI on a three-broker cluster over SCRAM) as an authentication
/// failure too, and the next attempt succeeds; wrong or revoked credentials
/// fail every attempt. So only failures that keep coming for [`AUTH_PATIENCE`] count.
#[derive(Debug, Default)]
pub struct AuthFailures {
    /// The first and the last failure of the current run.
    run: Option<(Instant, Instant)>,
}

impl AuthFailures {
    /// Notes a failure at `now`; true once failures have kept coming for [`AUTH_PATIENCE`]
    /// without a gap of [`AUTH_QUIET`].
    pub fn persist(&mut self, now: Instant) -> bool {
        let first = match self.run {
            Some((first, last)) if now.saturating_duration_since(last) < AUTH_QUIET => first,
            _ => now,
        };
        self.run = Some((first, now));
        now.saturating_duration_since(first) >= AUTH_PATIENCE
    }
}

/// The last error librdkafka reported on a client.
#[derive(Debug, Clone)]
pub struct ClientIssue {
    pub code: Option<RDKafkaErrorCode>,
    pub message: String,
}

impl ClientIssue {
    pub fn is_auth(&self) -> bool {
        matches!(
            self.code,
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
            )
        )
    }
}

/// Shared by the clients of one bus (clones see the same last issue).
#[derive(Debug, Default, Clone)]
pub struct OnboardContext {
    last_issue: Arc<Mutex<Option<ClientIssue>>>,
    /// Set once a consumer received its first assignment (possibly empty).
    assigned: Arc<AtomicBool>,
    /// The partitions (topic, partition) the member owned after the last rebalance.
    owned: Arc<Mutex<BTreeSet<(String, i32)>>>,
    auth_failures: Arc<Mutex<AuthFailures>>,
}

impl OnboardContext {
    pub fn last_issue(&self) -> Option<ClientIssue> {
        self.last_issue.lock().ok().and_then(|guard| guard.clone())
    }

    pub fn assigned(&self) -> bool {
        self.assigned.load(Ordering::Acquire)
    }

    /// Notes an authentication failure seen while consuming; true once they persist (see
    /// [`AuthFailures`]).
    pub fn note_auth_failure(&self) -> bool {
        self.auth_failures
            .lock()
            .map_or(true, |mut failures| failures.persist(Instant::now()))
    }

    pub fn clear_issue(&self) {
        if let Ok(mut guard) = self.last_issue.lock() {
            *guard = None;
        }
    }
}

impl ClientContext for OnboardContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::warn!(target: "librdkafka", facility = fac, "{message}")
            }
            // Retries during broker start-up or leader moves pass by themselves.
            RDKafkaLogLevel::Warning
            | RDKafkaLogLevel::Notice
            | RDKafkaLogLevel::Info
            | RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let issue = ClientIssue {
            code: error.rdkafka_error_code(),
            message: reason.to_string(),
        };
        // Connection failures repeat every reconnect; they are reported where they matter
        // (a publish or a connect that fails), so only authentication problems are loud here.
        if issue.is_auth() {
            tracing::error!(target: "librdkafka", error = %error, "{reason}");
        } else {
            tracing::debug!(target: "librdkafka", error = %error, "{reason}");
        }
        if let Ok(mut guard) = self.last_issue.lock() {
            *guard = Some(issue);
        }
    }
}

/// Sets the gauge to 1 for the partitions owned `now` and to 0 for those owned `before` only.
fn report_ownership(before: &BTreeSet<(String, i32)>, now: &BTreeSet<(String, i32)>) {
    let gauge = |(topic, partition): &(String, i32)| {
        metrics::gauge!(crate::telemetry::KAFKA_ASSIGNED_PARTITIONS,
            "topic" => topic.clone(), "partition" => partition.to_string())
    };
    before.difference(now).for_each(|p| gauge(p).set(0.0));
    now.iter().for_each(|p| gauge(p).set(1.0));
}

impl ConsumerContext for OnboardContext {
    /// Marks the member joined once it got an assignment, and reports what it owns now.
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            self.assigned.store(true, Ordering::Release);
        }
        // Incremental protocols (KIP-848) hand over only what changed: read the whole assignment.
        let now: BTreeSet<(String, i32)> = match consumer.assignment() {
            Ok(list) => list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect(),
            Err(_) => return,
        };
        if let Ok(mut owned) = self.owned.lock() {
            report_ownership(&owned, &now);
            *owned = now;
        }
    }

    /// Before partitions move to another member, commit what this member acknowledged, so the
    /// next owner starts right after it (nothing acknowledged is delivered twice needlessly).
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            if partitions.count() == 0 {
                return;
            }
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => tracing::debug!("Committed acknowledged offsets before a rebalance."),
                Err(error) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => {}
                Err(error) => tracing::warn!(
                    error = %error,
                    "Committing before a rebalance failed; the next owner may see some records again."
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn failures_that_stop_within_the_patience_are_passing() {
        let start = Instant::now();
        let mut failures = AuthFailures::default();
        for second in [0, 1, 3, 5, 9] {
            assert!(!failures.persist(at(start, second)), "at {second} s");
        }
    }

    #[test]
    fn failures_that_keep_coming_for_the_patience_persist() {
        let start = Instant::now();
        let mut failures = AuthFailures::default();
        for second in (0..10).step_by(2) {
            assert!(!failures.persist(at(start, second)), "at {second} s");
        }
        assert!(failures.persist(at(start, AUTH_PATIENCE.as_secs())));
    }

    #[test]
    fn a_failure_after_a_quiet_gap_starts_a_new_count() {
        let start = Instant::now();
        let mut failures = AuthFailures::default();
        assert!(!failures.persist(start));
        let later = at(start, AUTH_QUIET.as_secs() + 5);
        assert!(!failures.persist(later));
        assert!(!failures.persist(later + Duration::from_secs(1)));
    }
}
