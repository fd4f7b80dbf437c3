//! The trace port: what a store keeps about each hop of an event so `onboard trace` can answer
//! "what happened to customer X?" — where the relay's record landed (partition, offset, publish
//! time), when the consumer group committed it, and the outcome of each push to a connection.
//!
//! Every method has a default, so a store that keeps none of it still works: the writes do
//! nothing and [`TraceLog::customer_trace`] says the store does not keep traces.

use crate::domain::event::Envelope;
use crate::domain::ids::{ConnectionId, CustomerId, EventId};
use crate::ports::store::{NotificationKind, Outbox, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Pushes kept per event at most: a customer's connections are capped per node, and a trace
/// must stay readable even when one customer had many tabs open.
pub const MAX_PUSHES_PER_EVENT: usize = 16;

/// An outbox row the bus acknowledged, and where its record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedRow {
    pub seq: i64,
    pub partition: i32,
    pub offset: i64,
}

/// A consumed record whose offset the consumer group committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedRecord {
    pub event_id: EventId,
    pub partition: i32,
    pub offset: i64,
    /// The record's timestamp: when the relay's producer sent it (the bus's append time where
    /// the bus sets it).
    pub published_at: Option<DateTime<Utc>>,
    /// When the group committed its offset.
    pub committed_at: DateTime<Utc>,
}

/// How one push of an event to one connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushResult {
    /// The frame was queued on the connection.
    Delivered,
    /// The connection no longer existed; its registry row was removed.
    Gone,
    /// The gateway node could not be reached or refused; the client catches up on resume.
    Failed,
}

impl PushResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Gone => "gone",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Delivered, Self::Gone, Self::Failed]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// One push of an event to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRecord {
    pub event_id: EventId,
    pub connection_id: ConnectionId,
    /// The gateway node that held the connection.
    pub node_id: String,
    pub outcome: PushResult,
    pub at: DateTime<Utc>,
}

/// The outbox row of an event, while it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxHop {
    pub seq: i64,
    /// Written in the step's transaction.
    pub created_at: DateTime<Utc>,
    /// When the bus acknowledged the record (`None`: still pending).
    pub sent_at: Option<DateTime<Utc>>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
}

/// A notification written with the event, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationHop {
    pub id: String,
    pub kind: NotificationKind,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Only the error's text, never the recipient or the message.
    pub last_error: Option<String>,
}

/// The consumer's side of an event: when it was stored, from which record, and when the group
/// committed that record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedHop {
    pub stored_at: DateTime<Utc>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    /// The record's timestamp (see [`CommittedRecord::published_at`]).
    pub published_at: Option<DateTime<Utc>>,
    pub committed_at: Option<DateTime<Utc>>,
}

/// Everything a store knows about one event of a customer.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTrace {
    pub event: Envelope,
    pub outbox: Option<OutboxHop>,
    pub consumed: Option<ConsumedHop>,
    pub notifications: Vec<NotificationHop>,
    pub pushes: Vec<PushRecord>,
}

#[async_trait]
pub trait TraceLog: Outbox {
    /// Marks outbox rows published with where their records landed, as of `at` (the bus's
    /// acknowledgement). The default only marks them sent.
    async fn outbox_mark_published(
        &self,
        rows: &[PublishedRow],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let _ = at;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        self.outbox_mark_sent(&seqs).await
    }

    /// Records that the group committed these records' offsets. Only the first commit of an event
    /// is kept, so a redelivery or a replay does not move its place.
    async fn events_committed(&self, records: &[CommittedRecord]) -> StoreResult<()> {
        let _ = records;
        Ok(())
    }

    /// Records push outcomes; a later push of the same event to the same connection replaces the
    /// earlier outcome, and at most [`MAX_PUSHES_PER_EVENT`] are kept per event.
    async fn record_pushes(&self, pushes: &[PushRecord]) -> StoreResult<()> {
        let _ = pushes;
        Ok(())
    }

    /// The customer's events, from the outbox and the event log, in sequence order (at most
    /// `limit`), each with its hops.
    async fn customer_trace(
        &self,
        customer: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<EventTrace>> {
        let _ = (customer, limit);
        Err(StoreError::Other(format!(
            "{} does not keep traces",
            self.name()
        )))
    }
}
