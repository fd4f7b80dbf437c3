//! The production store: PostgreSQL shared by any number of processes (DESIGN.md §2), schema in
//! `migrations/postgres/`.
//!
//! How it stays correct with many processes writing at once (transactions are READ COMMITTED):
//! - a producer step locks its application row (`application_for_update` is `FOR UPDATE`), so
//!   two steps on one application run one after the other;
//! - a customer's sequence counter is bumped by an upsert that holds the counter's row lock
//!   until commit: sequences are gap-free and a customer's outbox rows commit in order;
//! - the same `Idempotency-Key` stored twice is a unique violation, reported as `Conflict`;
//! - consumers insert events with `ON CONFLICT DO NOTHING`: a redelivery is a `Duplicate`;
//! - one relay at a time reads the outbox (see [`outbox`]).
//!
//! A server that is down, restarting or out of connections makes calls fail with `Unavailable`
//! within [`ACQUIRE_TIMEOUT`]; pooled connections are checked before use, so the store recovers
//! by itself once the server is back.

mod codec;
mod error;
mod events;
mod notifications;
mod outbox;
mod registry;
mod state;
mod tx;
mod url;

pub use crate::adapters::sql_store::AppliedMigration;
pub use tx::PostgresTx;
pub use url::{DatabaseUrl, InvalidDatabaseUrl};

use crate::domain::event::Envelope;
use crate::domain::ids::{ApplicationId, ConnectionId, CustomerId, EventId};
use crate::ports::store::{
    ApplicationProjection, ApplicationRecord, AuditEntry, ConnectionRecord, CustomerRecord,
    DocumentRecord, EventRecord, KycRecord, Notification, OutboxRecord, RecommendationRecord,
    RecordOutcome, Store, StoreError, StoreResult, StoreStats, StoreTx,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use error::db;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use std::sync::Arc;
use std::time::Duration;

/// The schema, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process; each role process has its own pool.
const MAX_CONNECTIONS: u32 = 16;
/// How long a call waits for a connection (including connecting) before reporting
/// `Unavailable`: short, so a consumer pauses and retries instead of hanging on a dead server.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL store; cheap to share behind the `Arc` that [`PostgresStore::open`] returns.
pub struct PostgresStore {
    pool: PgPool,
    lease: outbox::RelayLease,
}

impl PostgresStore {
    /// Connects and applies pending migrations (safe when several processes start together:
    /// the migrator holds PostgreSQL's migration lock).
    pub async fn open(url: &DatabaseUrl) -> StoreResult<Arc<PostgresStore>> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        tracing::info!(server = %url.server(), "Opened the PostgreSQL store.");
        Ok(store)
    }

    /// Connects without touching the schema, checking once that the server answers, so a wrong
    /// URL or a down server is reported here with the server's own reason.
    pub async fn connect(url: &DatabaseUrl) -> StoreResult<Arc<PostgresStore>> {
        let options = url
            .connect_options()
            .application_name("onboard")
            // Statements are logged by our own tracing where useful, never with their values.
            .disable_statement_logging();
        let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "PostgreSQL at {} did not answer within {} s",
                    url.server(),
                    ACQUIRE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(db)?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection broken by a server restart is found and replaced before use.
            .test_before_acquire(true)
            .connect_lazy_with(options);
        Ok(Arc::new(PostgresStore {
            pool,
            lease: outbox::RelayLease::default(),
        }))
    }

    /// Applies pending migrations; returns the ones this call applied (empty when up to date).
    pub async fn migrate(&self) -> StoreResult<Vec<AppliedMigration>> {
        crate::adapters::sql_store::run_migrations(&MIGRATOR, &self.pool, db).await
    }

    /// Gives up the relay lease and closes the pool, waiting for connections in use to be
    /// returned; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.lease.release().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        let tx = self.pool.begin().await.map_err(db)?;
        Ok(Box::new(PostgresTx { tx }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        state::customer(&self.pool, id).await
    }

    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>> {
        state::application(&self.pool, id, false).await
    }

    async fn documents(&self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        state::documents(&self.pool, application).await
    }

    async fn kyc_result(&self, application: ApplicationId) -> StoreResult<Option<KycRecord>> {
        state::kyc_result(&self.pool, application).await
    }

    async fn recommendation(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        state::recommendation(&self.pool, application).await
    }

    async fn outbox_pending(&self, limit: i64) -> StoreResult<Vec<OutboxRecord>> {
        outbox::pending(&self.pool, &self.lease, limit).await
    }

    async fn outbox_mark_sent(&self, seqs: &[i64]) -> StoreResult<()> {
        outbox::mark_sent(&self.pool, seqs).await
    }

    async fn record_event(
        &self,
        event: &Envelope,
        audit: &AuditEntry,
        notifications: &[Notification],
    ) -> StoreResult<RecordOutcome> {
        events::record(&self.pool, event, audit, notifications).await
    }

    async fn record_events(&self, batch: &[EventRecord]) -> StoreResult<Vec<RecordOutcome>> {
        events::record_batch(&self.pool, batch).await
    }

    async fn events_after(
        &self,
        customer: &CustomerId,
        after_sequence: u64,
        limit: i64,
    ) -> StoreResult<Vec<Envelope>> {
        events::events_after(&self.pool, customer, after_sequence, limit).await
    }

    async fn event_of_customer(
        &self,
        customer: &CustomerId,
        event: EventId,
    ) -> StoreResult<Option<Envelope>> {
        events::event_of_customer(&self.pool, customer, event).await
    }

    async fn application_events(&self, application: ApplicationId) -> StoreResult<Vec<Envelope>> {
        events::application_events(&self.pool, application).await
    }

    async fn last_stored_sequence(&self, customer: &CustomerId) -> StoreResult<u64> {
        events::last_stored_sequence(&self.pool, customer).await
    }

    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<Envelope>> {
        events::recent_events(&self.pool, limit).await
    }

    async fn application_projection(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<ApplicationProjection>> {
        events::projection(&self.pool, application).await
    }

    async fn audit_trail(&self, customer: &CustomerId, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        events::audit_trail(&self.pool, customer, limit).await
    }

    async fn notifications_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        notifications::claim_due(&self.pool, now, limit).await
    }

    async fn notification_delivered(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        notifications::delivered(&self.pool, id, at).await
    }

    async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        notifications::failed(&self.pool, id, error, retry_at).await
    }

    async fn register_connection(&self, connection: &ConnectionRecord) -> StoreResult<()> {
        registry::register(&self.pool, connection).await
    }

    async fn touch_connection(
        &self,
        id: ConnectionId,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        registry::touch(&self.pool, id, last_seen_at, expires_at).await
    }

    async fn remove_connection(&self, id: ConnectionId) -> StoreResult<bool> {
        registry::remove(&self.pool, id).await
    }

    async fn connection(
        &self,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConnectionRecord>> {
        registry::live(&self.pool, id, now).await
    }

    async fn connections_of(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        registry::live_of(&self.pool, customer, now).await
    }

    async fn all_connections(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        registry::all_live(&self.pool, now, limit).await
    }

    async fn sweep_connections(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        registry::sweep(&self.pool, now).await
    }

    /// Counts in one statement, so the numbers come from one snapshot.
    async fn stats(&self) -> StoreResult<StoreStats> {
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM customers),
                    (SELECT COUNT(*) FROM applications),
                    (SELECT COUNT(*) FROM events),
                    (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL),
                    (SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL),
                    (SELECT COUNT(*) FROM websocket_connections WHERE expires_at > $1)",
        )
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(StoreStats {
            customers: row.0,
            applications: row.1,
            events: row.2,
            outbox_pending: row.3,
            notifications_pending: row.4,
            connections: row.5,
        })
    }
}
