//! The SQL store, written once for every SQL database: each query and each row mapping lives
//! here, generic over a [`Dialect`]; the `sqlite` and `postgres` adapters hold only what truly
//! differs (pool setup, error classification, locking, value encodings, migrations).
//!
//! Writes go to the `write` pool and plain reads to the `read` pool: SQLite keeps its single
//! writer apart from its readers (and commits concurrent writers together, `write.rs`),
//! PostgreSQL uses one pool for both.

mod batch;
mod codec;
mod dialect;
mod events;
mod health;
mod migrate;
mod notifications;
mod operations;
mod outbox;
mod query;
mod registry;
mod retention;
mod state;
mod trace;
mod tx;
mod write;

pub use dialect::{BindResult, ColumnError, Dialect, Driver, Locking};
pub use migrate::AppliedMigration;
pub use tx::SqlTx;

pub(crate) use codec::{corrupt, driver_error};
pub(crate) use health::missing_migrations;
pub(crate) use migrate::run_migrations;
pub(crate) use outbox::pending as outbox_pending;
pub(crate) use query::answered;

use crate::ports::store::{StoreBase, StoreResult, StoreStatistics, StoreStats};
use async_trait::async_trait;
use chrono::Utc;
use query::{sql, Columns};
use sqlx::pool::PoolConnection;
use sqlx::Pool;
use write::{GroupCommit, WriteTx};

/// A store on an SQL database of dialect `D`; cheap to share behind an `Arc`.
pub struct SqlStore<D: Dialect> {
    /// Where every write goes.
    pub(in crate::adapters) write: Pool<D>,
    /// Where plain reads go (the write pool again where the database has no separate readers).
    pub(in crate::adapters) read: Pool<D>,
    /// What the dialect keeps besides its pools.
    extra: D::Extra,
    /// Group commit, where the database has one writer (SQLite).
    group: Option<GroupCommit<D>>,
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(write: Pool<D>, read: Pool<D>) -> Self {
        let group =
            matches!(D::LOCKING, Locking::Database).then(|| GroupCommit::new(write.clone()));
        Self {
            write,
            read,
            extra: D::Extra::default(),
            group,
        }
    }

    pub(crate) fn extra(&self) -> &D::Extra {
        &self.extra
    }

    pub(crate) async fn read_conn(&self) -> StoreResult<PoolConnection<D>> {
        self.read.acquire().await.map_err(D::classify)
    }

    /// A connection of the write pool outside any transaction, for one statement (PostgreSQL
    /// only: on SQLite every write goes through the group commit).
    async fn autocommit_conn(&self) -> StoreResult<PoolConnection<D>> {
        self.write.acquire().await.map_err(D::classify)
    }

    /// A write transaction: its own, opened the dialect's way, or a writer in SQLite's group
    /// commit.
    pub(crate) async fn write_tx(&self) -> StoreResult<WriteTx<D>> {
        match &self.group {
            Some(group) => Ok(WriteTx::InGroup(group.begin().await?)),
            None => Ok(WriteTx::Own(
                answered::<D, _>(self.write.begin_with(D::LOCKING.begin()))
                    .await
                    .map_err(D::classify)?,
            )),
        }
    }

    /// Runs `batch` and returns once it is committed (nothing to do when it is empty).
    pub(crate) async fn write_batch(&self, batch: batch::Batch) -> StoreResult<()> {
        batch.execute_committed(self).await.map(drop)
    }

    /// Gives up what the dialect holds and closes the pools, waiting for connections in use to
    /// be returned; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        D::release(self).await;
        self.write.close().await;
        self.read.close().await;
    }
}

#[async_trait]
impl<D: Dialect> StoreBase for SqlStore<D> {
    fn name(&self) -> &'static str {
        D::ADAPTER
    }

    async fn ping(&self) -> StoreResult<()> {
        sql::<D>("SELECT 1")
            .execute(&mut *self.read_conn().await?)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> StoreStatistics for SqlStore<D> {
    /// Counts in one statement, so the numbers come from one snapshot. Counting whole tables
    /// takes time: the leading comment keeps it on SQLite's connection thread, off the
    /// caller's (vendor/README.md).
    async fn stats(&self) -> StoreResult<StoreStats> {
        let row = sql::<D>(
            "-- whole tables counted: on the connection's own thread
             SELECT (SELECT COUNT(*) FROM customers) AS customers,
                    (SELECT COUNT(*) FROM applications) AS applications,
                    (SELECT COUNT(*) FROM events) AS events,
                    (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL) AS outbox_pending,
                    (SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL)
                      AS notifications_pending,
                    (SELECT COUNT(*) FROM websocket_connections WHERE expires_at > $1)
                      AS connections",
        )
        .instant(Utc::now())
        .fetch_one(&mut *self.read_conn().await?)
        .await?;
        let c = Columns::<D>::of("stats", &row);
        Ok(StoreStats {
            customers: c.int("customers")?,
            applications: c.int("applications")?,
            events: c.int("events")?,
            outbox_pending: c.int("outbox_pending")?,
            notifications_pending: c.int("notifications_pending")?,
            connections: c.int("connections")?,
        })
    }
}
