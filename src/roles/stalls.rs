//! Stall detection: an application that stays in one in-progress status longer than its
//! threshold (per status, `stalls.after` by default) is stalled. Each check round sets the
//! gauge `onboard_stalled_applications{state}` and sends one operator alert per stall, claimed
//! in the store with the alert (`OperationsLog::claim_stall_alert`), so several monitors (one
//! per consumer process) and restarts never alert one stall twice. A stall is named by the
//! application, the status and when it entered it: the same application stalling later in
//! another status alerts again.

use crate::domain::event::Topic;
use crate::domain::ids::{ApplicationId, CustomerId, EventId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::operations::Stall;
use crate::ports::store::{Notification, NotificationKind, Store, StoreResult};
use crate::roles::supervisor::Readiness;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The default threshold (`stalls.after`, `ONBOARD_STALL_AFTER`).
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(30 * 60);

/// Stalled applications listed and counted per status at most (the gauge then says "at least").
const MAX_PER_STATUS: i64 = 1000;

/// Which statuses are watched and after how long an application in one counts as stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StallConfig {
    /// One threshold per watched status; a status left out is not watched.
    pub thresholds: Vec<(ApplicationStatus, Duration)>,
}

impl Default for StallConfig {
    fn default() -> Self {
        Self::uniform(DEFAULT_STALL_AFTER)
    }
}

impl StallConfig {
    /// Every in-progress status with the same threshold.
    pub fn uniform(after: Duration) -> Self {
        Self {
            thresholds: ApplicationStatus::IN_PROGRESS
                .iter()
                .map(|s| (*s, after))
                .collect(),
        }
    }

    /// How often the monitor looks: a quarter of the shortest threshold, between 1 s and 60 s,
    /// so a stall is noticed within a quarter of its threshold (or a minute) of starting.
    pub fn check_interval(&self) -> Duration {
        self.thresholds
            .iter()
            .map(|(_, after)| *after / 4)
            .min()
            .unwrap_or(Duration::from_secs(60))
            .clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// A stalled application, for the operator page and `GET /v1/ops/stalls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StalledApplication {
    pub application_id: ApplicationId,
    pub customer_id: CustomerId,
    pub status: ApplicationStatus,
    /// When it entered the status.
    pub since: DateTime<Utc>,
    pub stalled_for_seconds: i64,
    pub threshold_seconds: u64,
}

/// What one check round found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub stalled: Vec<StalledApplication>,
    /// Alerts enqueued by this round (stalls not alerted before).
    pub alerted: usize,
}

#[derive(Clone)]
pub struct StallMonitor {
    pub store: Arc<dyn Store>,
    pub config: StallConfig,
    /// Where the alerts go (`consumer.operator_email`).
    pub operator_address: String,
    /// Woken after an alert is enqueued, so the dispatcher delivers it at once.
    pub notifier_nudge: Arc<Notify>,
}

impl StallMonitor {
    /// The applications stalled at `now`, longest-stalled first per status.
    pub async fn stalled(&self, now: DateTime<Utc>) -> StoreResult<Vec<StalledApplication>> {
        let mut stalled = Vec::new();
        for (status, after) in &self.config.thresholds {
            let cut_off = now - chrono::Duration::from_std(*after).unwrap_or(chrono::Duration::MAX);
            for app in self
                .store
                .applications_stalled_in(*status, cut_off, MAX_PER_STATUS)
                .await?
            {
                stalled.push(StalledApplication {
                    application_id: app.application_id,
                    customer_id: app.customer_id,
                    status: app.status,
                    since: app.updated_at,
                    stalled_for_seconds: (now - app.updated_at).num_seconds(),
                    threshold_seconds: after.as_secs(),
                });
            }
        }
        Ok(stalled)
    }

    /// One round: finds the stalls, sets the gauge per status and alerts the new ones.
    pub async fn check(&self, now: DateTime<Utc>) -> StoreResult<CheckReport> {
        let stalled = self.stalled(now).await?;
        for (status, _) in &self.config.thresholds {
            let count = stalled.iter().filter(|s| s.status == *status).count();
            metrics::gauge!(crate::telemetry::STALLED_APPLICATIONS, "state" => status.as_str())
                .set(count as f64);
        }
        let mut alerted = 0;
        for s in &stalled {
            let stall = Stall {
                application_id: s.application_id,
                status: s.status,
                since: s.since,
            };
            if self
                .store
                .claim_stall_alert(&stall, &self.alert(s, now), now)
                .await?
            {
                alerted += 1;
                tracing::warn!(application_id = %s.application_id, status = %s.status, stalled_for_seconds = s.stalled_for_seconds, "An application is stalled; operators were alerted.");
            }
        }
        if alerted > 0 {
            self.notifier_nudge.notify_one();
        }
        Ok(CheckReport { stalled, alerted })
    }

    /// Checks every [`StallConfig::check_interval`] until shutdown; a failed round is logged
    /// and the next one tries again.
    pub async fn run(
        self,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        readiness.set(true);
        let mut ticks = tokio::time::interval(self.config.check_interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.check(Utc::now()).await {
                tracing::warn!(error = %error, "Checking for stalled applications failed; trying again.");
            }
        }
        readiness.set(false);
        Ok(())
    }

    fn alert(&self, s: &StalledApplication, now: DateTime<Utc>) -> Notification {
        let row = |label: &str, value: &str| format!("{label:<15}{value}\n");
        let mut body =
            String::from("An application has not moved for longer than its threshold.\n\n");
        body.push_str(&row("Application:", &s.application_id.to_string()));
        body.push_str(&row("Customer:", s.customer_id.as_str()));
        body.push_str(&row("Status:", s.status.as_str()));
        body.push_str(&row(
            "Since:",
            &s.since.to_rfc3339_opts(SecondsFormat::Secs, true),
        ));
        let _ = write!(
            body,
            "{}",
            row(
                "Threshold:",
                &humantime::format_duration(Duration::from_secs(s.threshold_seconds)).to_string()
            )
        );
        body.push_str("\nSee the operator page, or `onboard trace` for the customer.\n");
        Notification {
            // Deterministic per stall: a second enqueue of the same stall is a no-op too.
            id: format!(
                "stall-{}-{}-{}.operator_alert",
                s.application_id,
                s.status.as_str(),
                s.since.timestamp_millis()
            ),
            event_id: EventId::new(),
            kind: NotificationKind::OperatorAlert,
            // A stall is no event of its own: it is labelled with the operators' topic, so SNS
            // subscribers that filter operator alerts on `event_type` receive it too.
            event_type: Topic::WorkflowErrors,
            application_id: Some(s.application_id),
            correlation_id: None,
            recipient: self.operator_address.clone(),
            subject: format!(
                "[onboard] application {} stalled in {}",
                s.application_id, s.status
            ),
            body,
            created_at: now,
            attempts: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_interval_is_a_quarter_of_the_shortest_threshold_within_bounds() {
        assert_eq!(
            StallConfig::default().check_interval(),
            Duration::from_secs(60)
        );
        assert_eq!(
            StallConfig::uniform(Duration::from_secs(8)).check_interval(),
            Duration::from_secs(2)
        );
        assert_eq!(
            StallConfig::uniform(Duration::from_secs(2)).check_interval(),
            Duration::from_secs(1)
        );
        let mut mixed = StallConfig::uniform(Duration::from_secs(3600));
        mixed.thresholds[0].1 = Duration::from_secs(40);
        assert_eq!(mixed.check_interval(), Duration::from_secs(10));
    }
}
