//! The store port: onboarding state, the outbox, the event log, notifications and the
//! WebSocket connection registry (DESIGN.md §2). Adapters: `sqlite` (embedded) and `postgres`,
//! both through the shared SQL store (`adapters::sql`), and `dynamodb` in its own terms.
//!
//! The port is split by who uses what ([`StepStore`], [`Outbox`], [`EventLog`],
//! [`NotificationQueue`], [`ConnectionRegistry`], [`StoreStatistics`]), so an adapter over a
//! store that is not SQL implements each part in its own terms; [`Store`] is all of them.
//!
//! Writes that must happen together go through a [`StoreTx`]: a producer step changes state,
//! records its idempotent response and enqueues its events in one transaction (the
//! transactional outbox), so an accepted step is never lost and never half-applied.

use crate::domain::customer::{Email, PersonName, PhoneNumber};
use crate::domain::document::{ContentKind, DocumentType};
use crate::domain::event::{Envelope, EventDraft, Topic};
use crate::domain::ids::{ApplicationId, ConnectionId, CustomerId, DocumentId, EventId};
use crate::domain::kyc::{KycDecision, KycReason};
use crate::domain::policy::CoverageType;
use crate::domain::workflow::ApplicationStatus;
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    pub customer_id: CustomerId,
    pub email: Email,
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub date_of_birth: NaiveDate,
    pub phone_number: PhoneNumber,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    pub application_id: ApplicationId,
    pub customer_id: CustomerId,
    pub status: ApplicationStatus,
    /// The policy the customer accepted (set by the complete step).
    pub policy_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRecord {
    pub document_id: DocumentId,
    pub application_id: ApplicationId,
    pub document_type: DocumentType,
    pub document_number: String,
    pub full_name: String,
    pub expiry_date: NaiveDate,
    pub content_kind: ContentKind,
    pub size_bytes: i64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// The document store's key of the file's bytes (`ports::documents::DocumentKey`).
    pub stored_path: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KycRecord {
    pub application_id: ApplicationId,
    pub document_id: Option<DocumentId>,
    pub decision: KycDecision,
    pub reasons: Vec<KycReason>,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecommendationRecord {
    pub application_id: ApplicationId,
    pub policy_id: String,
    pub product_name: String,
    pub coverage_type: CoverageType,
    pub monthly_premium_cents: i64,
    pub monthly_budget_cents: Option<i64>,
    pub reasons: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// The stored first answer to a POST with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// SHA-256 of method, path and body of the first request; a reuse with another request is refused.
    pub request_hash: String,
    pub status: u16,
    /// The JSON body sent the first time.
    pub body: String,
}

/// An outbox row waiting for the relay to publish it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// Position in the outbox; the relay publishes in this order.
    pub seq: i64,
    pub envelope: Envelope,
}

/// One consumed event with what its transaction writes besides it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub event: Envelope,
    pub audit: AuditEntry,
    pub notifications: Vec<Notification>,
}

/// What the consumer's transaction did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// First time this event id was seen: event, projection, audit and notifications were written.
    Inserted,
    /// Already stored by an earlier delivery; nothing was written.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// A milestone e-mail to the customer.
    CustomerEmail,
    /// An alert to operators (every `workflow-errors` event).
    OperatorAlert,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerEmail => "customer_email",
            Self::OperatorAlert => "operator_alert",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::CustomerEmail, Self::OperatorAlert]
            .into_iter()
            .find(|k| k.as_str() == raw)
    }
}

/// A message to deliver through the notifier, written in the consumer's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Deterministic (`{event id}.{kind}`), so a redelivered event cannot create a second one and
    /// adapters can use it to make delivery idempotent.
    pub id: String,
    pub event_id: EventId,
    pub kind: NotificationKind,
    /// The topic of the event that caused it (the SNS `event_type` attribute).
    pub event_type: Topic,
    /// The application the event belongs to; `None` for a failure before one existed.
    pub application_id: Option<ApplicationId>,
    /// The event's correlation id (the request id of the step that caused it), so the
    /// delivery's log lines and spans join the rest of the request's path; `None` for an alert
    /// no request caused (a stall) and for rows queued before it was kept.
    pub correlation_id: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// A notification that failed permanently and waits for an operator (`onboard notifications
/// list --parked`); the recipient and the text stay in the store (personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedNotification {
    pub id: String,
    pub event_id: EventId,
    pub kind: NotificationKind,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// One audit row: who did what to which application, written with the event it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub event_id: EventId,
    pub customer_id: CustomerId,
    pub application_id: Option<ApplicationId>,
    pub action: String,
    pub at: DateTime<Utc>,
}

/// The application as the consumers see it, folded from its stored events.
///
/// Follows the event with the highest sequence, so events that arrive out of order (they travel
/// on different topics) cannot move it backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationProjection {
    pub application_id: ApplicationId,
    pub customer_id: CustomerId,
    /// From `data.status` of the newest event that carried a known status; `None` until one did.
    pub status: Option<ApplicationStatus>,
    pub last_event_id: EventId,
    pub last_event_type: Topic,
    pub last_sequence: u64,
    /// How many distinct events of the application were stored.
    pub event_count: i64,
    pub updated_at: DateTime<Utc>,
}

/// A row of the WebSocket connection registry (the seed's DynamoDB connections table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub connection_id: ConnectionId,
    pub customer_id: CustomerId,
    /// The gateway node that holds the socket.
    pub node_id: String,
    /// Base URL of that node's management API, for pushes from other processes.
    pub node_url: String,
    pub source_ip: String,
    pub connected_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The row is dead after this instant unless a heartbeat refreshes it.
    pub expires_at: DateTime<Utc>,
}

/// Status and counters for the operator view.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreStats {
    pub customers: i64,
    pub applications: i64,
    pub events: i64,
    pub outbox_pending: i64,
    pub notifications_pending: i64,
    pub connections: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. the e-mail belongs to another customer); names the rule.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or was busy; retrying later may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a manual edit); not retried.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store failure: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How long a dispatcher owns the notifications it claimed before another may take them.
pub const NOTIFICATION_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

/// What every part of a store has: a name and a readiness probe.
#[async_trait]
pub trait StoreBase: Send + Sync + 'static {
    /// Short adapter name for logs and `/readyz` (`sqlite`, `postgres`, `dynamodb`).
    fn name(&self) -> &'static str;

    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> StoreResult<()>;
}

/// The producers' side: write transactions for API steps, and the state the API reads back.
#[async_trait]
pub trait StepStore: StoreBase {
    /// Starts a write transaction (serialised with other writers where the database needs it).
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;

    /// The answer stored for a customer's `Idempotency-Key`, read outside any transaction: for
    /// a look before a step (a step reads it again in its own transaction).
    async fn idempotent_response(
        &self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>>;

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>>;
    /// Each of `ids` that is stored (the customers of a consumer batch); an unknown id is left
    /// out. The default asks once per customer; a store that can answers in one read.
    async fn customers(
        &self,
        ids: &[CustomerId],
    ) -> StoreResult<HashMap<CustomerId, CustomerRecord>> {
        let mut found = HashMap::new();
        for id in ids {
            if let Some(customer) = self.customer(id).await? {
                found.insert(id.clone(), customer);
            }
        }
        Ok(found)
    }
    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>>;
    async fn documents(&self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>>;
    async fn kyc_result(&self, application: ApplicationId) -> StoreResult<Option<KycRecord>>;
    async fn recommendation(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>>;
}

/// The transactional outbox as the relay sees it; rows are written by [`StoreTx::enqueue_event`].
#[async_trait]
pub trait Outbox: StoreBase {
    /// Unsent outbox rows, oldest first.
    async fn outbox_pending(&self, limit: i64) -> StoreResult<Vec<OutboxRecord>>;
    /// Marks rows published (after the bus acknowledged them).
    async fn outbox_mark_sent(&self, seqs: &[i64]) -> StoreResult<()>;
}

/// The consumers' side: the event log, with the projection and audit rows written alongside.
#[async_trait]
pub trait EventLog: StoreBase {
    /// In one transaction: stores the event (unique by id), updates the application projection
    /// from the event, writes the audit row and the notifications. A second call with the same
    /// event id writes nothing and returns `Duplicate`.
    async fn record_event(
        &self,
        event: &Envelope,
        audit: &AuditEntry,
        notifications: &[Notification],
    ) -> StoreResult<RecordOutcome>;

    /// [`EventLog::record_event`] for a whole poll batch in one transaction: all or nothing, one
    /// outcome per item in order. Adapters override it to pay one commit for the batch.
    async fn record_events(&self, batch: &[EventRecord]) -> StoreResult<Vec<RecordOutcome>> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for item in batch {
            outcomes.push(
                self.record_event(&item.event, &item.audit, &item.notifications)
                    .await?,
            );
        }
        Ok(outcomes)
    }

    /// The customer's stored events with `sequence > after_sequence`, in sequence order.
    async fn events_after(
        &self,
        customer: &CustomerId,
        after_sequence: u64,
        limit: i64,
    ) -> StoreResult<Vec<Envelope>>;
    /// The stored event with this id if it belongs to `customer`.
    async fn event_of_customer(
        &self,
        customer: &CustomerId,
        event: EventId,
    ) -> StoreResult<Option<Envelope>>;
    /// The application's stored events in sequence order (its timeline).
    async fn application_events(&self, application: ApplicationId) -> StoreResult<Vec<Envelope>>;
    /// Highest sequence among the customer's stored events (0 when none).
    async fn last_stored_sequence(&self, customer: &CustomerId) -> StoreResult<u64>;
    /// Newest stored events across customers, newest first (operator view).
    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<Envelope>>;
    /// The consumers' projection of the application, once one of its events was recorded.
    async fn application_projection(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<ApplicationProjection>> {
        let _ = application;
        Err(StoreError::Other(format!(
            "{} does not keep application projections",
            self.name()
        )))
    }
    /// The customer's audit rows, oldest first.
    async fn audit_trail(&self, customer: &CustomerId, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let _ = (customer, limit);
        Err(StoreError::Other(format!(
            "{} does not expose the audit log",
            self.name()
        )))
    }
}

/// The notifications the consumers write with their events, as the dispatcher drains them.
#[async_trait]
pub trait NotificationQueue: StoreBase {
    /// Claims undelivered notifications whose next attempt is due at `now`, earliest next
    /// attempt first (a notification never tried is due from its creation), and returns them
    /// oldest first. Each one's next attempt moves to `now + NOTIFICATION_LEASE`, so concurrent
    /// dispatchers (one per consumer process) never deliver the same notification at once, and
    /// one whose dispatcher died is taken up again after the lease.
    async fn notifications_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>>;
    /// Marks every notification in `ids` delivered at `at`: none of them is claimed again. A
    /// notification marked before keeps its first delivery time; unknown ids are ignored. The
    /// dispatcher records its deliveries a batch at a time, so stores write them together.
    async fn notifications_delivered(&self, ids: &[String], at: DateTime<Utc>) -> StoreResult<()>;
    /// Records a failed attempt and when to try again.
    async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Undelivered notifications whose next attempt is at or after `parked_from` (the
    /// dispatcher's `parked_until`), oldest first.
    async fn parked_notifications(
        &self,
        parked_from: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ParkedNotification>>;
    /// Makes the parked notification `id` due at `now`; `false` when it is not parked (unknown,
    /// delivered, or already redriven), so a repeated redrive changes nothing.
    async fn redrive_notification(
        &self,
        id: &str,
        parked_from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// The WebSocket connection registry (the seed's connections table): rows live until they
/// expire unless a heartbeat refreshes them.
#[async_trait]
pub trait ConnectionRegistry: StoreBase {
    async fn register_connection(&self, connection: &ConnectionRecord) -> StoreResult<()>;
    /// Refreshes last-seen and expiry; `false` when the row no longer exists.
    async fn touch_connection(
        &self,
        id: ConnectionId,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// `false` when there was no such row.
    async fn remove_connection(&self, id: ConnectionId) -> StoreResult<bool>;
    /// Deletes the rows of every id in `ids` (unknown ids are no error) in as few statements as
    /// the store allows, so a mass disconnect holds a connection of the pool per batch rather
    /// than one per socket.
    async fn remove_connections(&self, ids: &[ConnectionId]) -> StoreResult<()>;
    /// The row if it exists and has not expired at `now`.
    async fn connection(
        &self,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConnectionRecord>>;
    /// The customer's live (unexpired at `now`) connections.
    async fn connections_of(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ConnectionRecord>>;
    /// The live connections of each of `customers` (those of a consumer batch), each customer's
    /// in [`Self::connections_of`]'s order; a customer without any is left out. The default
    /// asks once per customer; a store that can answers in one read.
    async fn connections_of_each(
        &self,
        customers: &[CustomerId],
        now: DateTime<Utc>,
    ) -> StoreResult<HashMap<CustomerId, Vec<ConnectionRecord>>> {
        let mut each = HashMap::new();
        for customer in customers {
            let connections = self.connections_of(customer, now).await?;
            if !connections.is_empty() {
                each.insert(customer.clone(), connections);
            }
        }
        Ok(each)
    }
    /// Every live connection (operator view), oldest first.
    async fn all_connections(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRecord>>;
    /// Deletes rows expired at `now`; returns how many.
    async fn sweep_connections(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// Counters for the operator view. Optional: an adapter that cannot count cheaply (a key-value
/// store would scan every table) keeps the default, which reports `Other`, and the operator
/// view then leaves the counters out.
#[async_trait]
pub trait StoreStatistics: StoreBase {
    async fn stats(&self) -> StoreResult<StoreStats> {
        Err(StoreError::Other(format!(
            "{} does not count what it holds",
            self.name()
        )))
    }
}

/// How a store ages out rows it no longer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The purge methods below delete them (SQL stores).
    Purged,
    /// The database does it itself (DynamoDB: sent outbox rows are deleted when sent,
    /// idempotency keys and connections carry a TTL attribute); the purge methods delete only
    /// expired connections a TTL has not reached yet and otherwise report 0.
    ByDatabase,
}

/// Deleting rows that have served their purpose, in bounded batches so a purge never holds a
/// connection long: each call deletes at most `limit` rows and returns how many it deleted
/// (call again while it returns `limit`). Every call is idempotent, so several processes may
/// purge at once.
#[async_trait]
pub trait DataRetention: StoreBase {
    fn expiry(&self) -> Expiry {
        Expiry::Purged
    }

    /// Outbox rows sent before `sent_before` (never a pending one).
    async fn purge_sent_outbox(&self, sent_before: DateTime<Utc>, limit: u32) -> StoreResult<u64>;

    /// Stored idempotent answers created before `created_before`; a key reused after that is a
    /// new request.
    async fn purge_idempotency_keys(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64>;

    /// Connection rows expired at `now` (readers already treat them as gone).
    async fn purge_expired_connections(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
}

/// A whole store: every part above, as one object the roles share (`Arc<dyn Store>`). Implemented
/// for every type that implements the parts, so an adapter implements only those.
pub trait Store:
    StepStore
    + Outbox
    + EventLog
    + NotificationQueue
    + ConnectionRegistry
    + StoreStatistics
    + DataRetention
    + crate::ports::operations::OperationsLog
    + crate::ports::trace::TraceLog
{
}

impl<T> Store for T where
    T: StepStore
        + Outbox
        + EventLog
        + NotificationQueue
        + ConnectionRegistry
        + StoreStatistics
        + DataRetention
        + crate::ports::operations::OperationsLog
        + crate::ports::trace::TraceLog
        + ?Sized
{
}

/// One write transaction. Dropping it without `commit` rolls back.
#[async_trait]
pub trait StoreTx: Send {
    async fn idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
    ) -> StoreResult<Option<IdempotentResponse>>;
    /// Fails with `Conflict` if the key was stored concurrently by another transaction.
    async fn save_idempotent_response(
        &mut self,
        customer: &CustomerId,
        key: &str,
        response: &IdempotentResponse,
    ) -> StoreResult<()>;

    async fn customer(&mut self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>>;
    /// The customer that registered this e-mail address, if any (duplicate detection).
    async fn customer_id_by_email(&mut self, email: &Email) -> StoreResult<Option<CustomerId>>;
    /// Fails with `Conflict` when the id or the e-mail is taken.
    async fn insert_customer(&mut self, customer: &CustomerRecord) -> StoreResult<()>;

    async fn insert_application(&mut self, application: &ApplicationRecord) -> StoreResult<()>;
    /// The application, locked for this transaction where the database supports row locks.
    async fn application_for_update(
        &mut self,
        id: ApplicationId,
    ) -> StoreResult<Option<ApplicationRecord>>;
    /// The customer's applications, newest first.
    async fn applications_of(
        &mut self,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ApplicationRecord>>;
    async fn update_application(
        &mut self,
        id: ApplicationId,
        status: ApplicationStatus,
        policy_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn insert_document(&mut self, document: &DocumentRecord) -> StoreResult<()>;
    /// The application's documents, oldest first.
    async fn documents(&mut self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>>;
    async fn insert_kyc_result(&mut self, result: &KycRecord) -> StoreResult<()>;
    /// Replaces an earlier recommendation of the same application.
    async fn upsert_recommendation(
        &mut self,
        recommendation: &RecommendationRecord,
    ) -> StoreResult<()>;
    async fn recommendation(
        &mut self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>>;

    /// Gives the draft the customer's next sequence number and puts it in the outbox.
    async fn enqueue_event(&mut self, draft: EventDraft) -> StoreResult<Envelope>;

    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
