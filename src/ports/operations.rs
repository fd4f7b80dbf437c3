//! The operations part of the store port: what operators did and what the system told them,
//! kept so that several processes and restarts agree. Replays of dead-lettered records (the
//! audit row an operator leaves: who, when, why, which record) and stall alerts (one per stall,
//! claimed in the store so two monitors never both alert), plus the query that finds stalls.

use crate::domain::ids::ApplicationId;
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{ApplicationRecord, Notification, StoreBase, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// One replay of a dead-lettered record, as audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterReplay {
    /// The dead-lettered record: `<dead-letter topic>:<partition>:<offset>`.
    pub record_id: String,
    /// The topic it was put back on.
    pub origin_topic: String,
    /// The `event-id` header the record carried, as carried (a poison record may have none).
    pub event_id: Option<String>,
    /// Where the replayed copy landed: `<topic>:<partition>:<offset>`.
    pub replayed_to: String,
    /// Who asked (`--by`, the OS user, or the operator page).
    pub replayed_by: String,
    /// Why (required: the fix that makes the record processable now).
    pub reason: String,
    /// The record had been replayed before and `--force` asked for it again.
    pub forced: bool,
    pub replayed_at: DateTime<Utc>,
}

/// One stall: an application that entered `status` at `since` and stayed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub application_id: ApplicationId,
    pub status: ApplicationStatus,
    /// When the application entered the status (its `updated_at`); with the application and the
    /// status it names the stall, so a later stall in another status alerts again.
    pub since: DateTime<Utc>,
}

#[async_trait]
pub trait OperationsLog: StoreBase {
    /// Appends the audit row of one replay.
    async fn record_dead_letter_replay(&self, replay: &DeadLetterReplay) -> StoreResult<()>;

    /// Every replay of the dead-lettered record, oldest first (empty: never replayed).
    async fn dead_letter_replays(&self, record_id: &str) -> StoreResult<Vec<DeadLetterReplay>>;

    /// Applications in `status` whose last change is older than `changed_before`, oldest first.
    async fn applications_stalled_in(
        &self,
        status: ApplicationStatus,
        changed_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>>;

    /// Records that `stall` was alerted and enqueues `alert` with it, atomically; `false` (and
    /// nothing written) when this stall was alerted already, by this process or another.
    async fn claim_stall_alert(
        &self,
        stall: &Stall,
        alert: &Notification,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
}
