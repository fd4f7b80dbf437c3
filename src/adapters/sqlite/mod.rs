//! The embedded store: one SQLite file in WAL mode (DESIGN.md §2), schema in
//! `migrations/sqlite/`.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in the pool
//! instead of failing with `SQLITE_BUSY` when two deferred transactions both try to upgrade to
//! writers. Reads use a separate pool of several connections; WAL lets them run while a write
//! is in progress and they see only committed data. `synchronous=FULL` makes every commit
//! durable before it returns, so nothing the API accepted is lost on power failure.
//!
//! The writer keeps its temporary data in memory (`temp_store=MEMORY`). Each writer of a group
//! commit has its own savepoint (`adapters::sql::write`), so SQLite keeps the original of every
//! page the writer changes in a statement journal; beyond 64 KiB that journal spills into a new,
//! at once deleted file in the system's temporary folder, which under load meant a file created
//! and deleted every group commit and ~18 page writes to it a step (measured at 1,000 steps a
//! second; BENCHMARKS.md, "Files deleted before a run; SQLite's statement journals in memory").
//! In memory it holds at most the pages one writer changes, and is emptied at its `RELEASE`.
//! Migrations run on a connection of their own without it: building an index over a large
//! table sorts through temporary files, which in memory could take gigabytes.
//!
//! A pooled connection is not pinged before each use (sqlx's pools do by default): it is a file
//! opened by this process, with no server that could have dropped it, and every ping is a round
//! trip to the connection's thread (sqlx still pings it once when it goes back to the pool).
//!
//! Queries and row mapping are the shared SQL store's (`adapters::sql`); this folder holds the
//! pools and what SQLite does its own way (`dialect`, `error`).
//!
//! A caller holding a write transaction (`begin`) holds the writer: it must not call a writing
//! method of the store (e.g. `record_event`) before committing or dropping it, or it waits for
//! itself until the acquire timeout reports `Unavailable`.

mod dialect;
mod error;

pub use crate::adapters::sql::AppliedMigration;

use crate::adapters::sql::{missing_migrations, run_migrations, SqlStore};
use crate::ports::store::StoreError;
use error::db;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;
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

/// The SQLite store: writes through a pool of exactly one connection (the only writer), plain
/// reads through a pool of read-only (`query_only`) connections.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
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

        let migrating = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        let applied = run_migrations(&MIGRATOR, &migrating).await;
        migrating.close().await;
        let applied = applied?;

        let write = SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.clone().pragma("temp_store", "MEMORY"))
            .await
            .map_err(db)?;

        // Opened after the migration so readers never see a half-built schema.
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.create_if_missing(false).pragma("query_only", "ON"))
            .await
            .map_err(db)?;
        tracing::info!(path = %path.display(), "Opened the SQLite store.");
        Ok((Arc::new(SqlStore::new(write, read)), applied))
    }

    /// Opens an existing database for reading only (no file created, nothing migrated) and
    /// lists the migrations it lacks: what `onboard doctor` looks at beside a running system.
    pub async fn inspect(
        path: &Path,
    ) -> Result<(Arc<SqliteStore>, Vec<AppliedMigration>), StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .read_only(true)
            .busy_timeout(BUSY_TIMEOUT);
        let read = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(db)?;
        let missing = missing_migrations(&MIGRATOR, &read).await?;
        Ok((Arc::new(SqlStore::new(read.clone(), read)), missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::SqlitePool;

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
        assert_eq!(pragma(&store.write, "temp_store").await, "2", "MEMORY");
        assert_eq!(pragma(&store.read, "foreign_keys").await, "1");
        assert_eq!(store.write.options().get_max_connections(), 1);

        let write = sqlx::query("DELETE FROM customers")
            .execute(&store.read)
            .await;
        assert!(write.is_err(), "the read pool must stay read-only");
    }
}
