//! The embedded store: one SQLite file in WAL mode (DESIGN.md §2), schema in
//! `migrations/sqlite/`.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in the pool
//! instead of failing with `SQLITE_BUSY` when two deferred transactions both try to upgrade to
//! writers. Reads use a separate pool of several connections; WAL lets them run while a write
//! is in progress and they see only committed data. `synchronous=FULL` makes every commit
//! durable before it returns, so nothing the API accepted is lost on power failure.
//!
//! A caller holding a [`SqliteTx`] holds the writer: it must not call a writing method of the
//! store (e.g. `record_event`) before committing or dropping it, or it waits for itself until
//! the acquire timeout reports `Unavailable`.

mod codec;
mod error;
mod events;
mod notifications;
mod registry;
mod state;
mod tx;

pub use crate::adapters::sql_store::AppliedMigration;
pub use tx::SqliteTx;

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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The schema, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Connections of the read pool; SQLite readers in WAL mode do not block each other.
const READ_CONNECTIONS: u32 = 4;
/// How long SQLite itself retries a locked database (e.g. during a checkpoint) before `BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a pooled connection (for writers: for the writer to be free).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite store; cheap to share behind the `Arc` that [`SqliteStore::open`] returns.
pub struct SqliteStore {
    /// Exactly one connection: the only writer.
    write: SqlitePool,
    /// Read-only (`query_only`) connections for every plain read.
    read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating the file and its parent directories if needed) and migrates the database.
    pub async fn open(path: &Path) -> Result<Arc<SqliteStore>, StoreError> {
        Ok(Self::open_migrated(path).await?.0)
    }

    /// [`open`](Self::open), also listing the migrations this call applied (for `onboard migrate`).
    pub async fn open_migrated(
        path: &Path,
    ) -> Result<(Arc<SqliteStore>, Vec<AppliedMigration>), StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot create the directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let write = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        let applied = crate::adapters::sql_store::run_migrations(&MIGRATOR, &write, db).await?;

        // Opened after the migration so readers never see a half-built schema.
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.create_if_missing(false).pragma("query_only", "ON"))
            .await
            .map_err(db)?;
        tracing::info!(path = %path.display(), "Opened the SQLite store.");
        Ok((Arc::new(SqliteStore { write, read }), applied))
    }

    /// Closes both pools, waiting for connections in use to be returned; later calls fail with
    /// `Unavailable`.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        // IMMEDIATE takes the write lock at once, so a concurrent writer from another process
        // waits in `busy_timeout` instead of failing later when this transaction first writes.
        let tx = self.write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(Box::new(SqliteTx { tx }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<CustomerRecord>> {
        state::customer(&self.read, id).await
    }

    async fn application(&self, id: ApplicationId) -> StoreResult<Option<ApplicationRecord>> {
        state::application(&self.read, id).await
    }

    async fn documents(&self, application: ApplicationId) -> StoreResult<Vec<DocumentRecord>> {
        state::documents(&self.read, application).await
    }

    async fn kyc_result(&self, application: ApplicationId) -> StoreResult<Option<KycRecord>> {
        state::kyc_result(&self.read, application).await
    }

    async fn recommendation(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<RecommendationRecord>> {
        state::recommendation(&self.read, application).await
    }

    async fn outbox_pending(&self, limit: i64) -> StoreResult<Vec<OutboxRecord>> {
        events::outbox_pending(&self.read, limit).await
    }

    async fn outbox_mark_sent(&self, seqs: &[i64]) -> StoreResult<()> {
        events::outbox_mark_sent(&self.write, seqs).await
    }

    async fn record_event(
        &self,
        event: &Envelope,
        audit: &AuditEntry,
        notifications: &[Notification],
    ) -> StoreResult<RecordOutcome> {
        events::record(&self.write, event, audit, notifications).await
    }

    async fn record_events(&self, batch: &[EventRecord]) -> StoreResult<Vec<RecordOutcome>> {
        events::record_batch(&self.write, batch).await
    }

    async fn events_after(
        &self,
        customer: &CustomerId,
        after_sequence: u64,
        limit: i64,
    ) -> StoreResult<Vec<Envelope>> {
        events::events_after(&self.read, customer, after_sequence, limit).await
    }

    async fn event_of_customer(
        &self,
        customer: &CustomerId,
        event: EventId,
    ) -> StoreResult<Option<Envelope>> {
        events::event_of_customer(&self.read, customer, event).await
    }

    async fn application_events(&self, application: ApplicationId) -> StoreResult<Vec<Envelope>> {
        events::application_events(&self.read, application).await
    }

    async fn last_stored_sequence(&self, customer: &CustomerId) -> StoreResult<u64> {
        events::last_stored_sequence(&self.read, customer).await
    }

    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<Envelope>> {
        events::recent_events(&self.read, limit).await
    }

    async fn application_projection(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<ApplicationProjection>> {
        events::projection(&self.read, application).await
    }

    async fn audit_trail(&self, customer: &CustomerId, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        events::audit_trail(&self.read, customer, limit).await
    }

    async fn notifications_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        notifications::claim_due(&self.write, now, limit).await
    }

    async fn notification_delivered(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        notifications::delivered(&self.write, id, at).await
    }

    async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        notifications::failed(&self.write, id, error, retry_at).await
    }

    async fn register_connection(&self, connection: &ConnectionRecord) -> StoreResult<()> {
        registry::register(&self.write, connection).await
    }

    async fn touch_connection(
        &self,
        id: ConnectionId,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        registry::touch(&self.write, id, last_seen_at, expires_at).await
    }

    async fn remove_connection(&self, id: ConnectionId) -> StoreResult<bool> {
        registry::remove(&self.write, id).await
    }

    async fn connection(
        &self,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConnectionRecord>> {
        registry::live(&self.read, id, now).await
    }

    async fn connections_of(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        registry::live_of(&self.read, customer, now).await
    }

    async fn all_connections(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        registry::all_live(&self.read, now, limit).await
    }

    async fn sweep_connections(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        registry::sweep(&self.write, now).await
    }

    /// Counts in one read transaction, so the numbers are consistent with each other.
    async fn stats(&self) -> StoreResult<StoreStats> {
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM customers),
                    (SELECT COUNT(*) FROM applications),
                    (SELECT COUNT(*) FROM events),
                    (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL),
                    (SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL),
                    (SELECT COUNT(*) FROM websocket_connections WHERE expires_at > ?)",
        )
        .bind(codec::ts(Utc::now()))
        .fetch_one(&self.read)
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(pool: &SqlitePool, name: &str) -> String {
        let row: (String,) =
            sqlx::query_as(&format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}"))
                .fetch_one(pool)
                .await
                .expect("read pragma");
        row.0
    }

    #[tokio::test]
    async fn the_writer_is_durable_in_wal_mode_and_readers_cannot_write() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("onboard.db"))
            .await
            .expect("open");
        assert_eq!(pragma(&store.write, "journal_mode").await, "wal");
        assert_eq!(pragma(&store.write, "synchronous").await, "2", "FULL");
        assert_eq!(pragma(&store.write, "foreign_keys").await, "1");
        assert_eq!(pragma(&store.read, "foreign_keys").await, "1");
        assert_eq!(store.write.options().get_max_connections(), 1);

        let write = sqlx::query("DELETE FROM customers")
            .execute(&store.read)
            .await;
        assert!(write.is_err(), "the read pool must stay read-only");
    }
}
