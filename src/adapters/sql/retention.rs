//! Purging rows that have served their purpose: sent outbox rows, old idempotency keys and
//! expired connections. Each statement deletes one bounded batch chosen by a sub-select, so
//! the write connection (SQLite's only writer) is held for one short statement at a time, and
//! running it twice, or in two processes at once, deletes nothing twice.

use super::query::sql;
use super::{Dialect, SqlStore};
use crate::ports::store::{DataRetention, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl<D: Dialect> DataRetention for SqlStore<D> {
    async fn purge_sent_outbox(&self, sent_before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        sql::<D>(
            "DELETE FROM outbox WHERE seq IN (
               SELECT seq FROM outbox
               WHERE sent_at IS NOT NULL AND sent_at < $1
               ORDER BY seq LIMIT $2)",
        )
        .instant(sent_before)
        .int(limit.into())
        .execute_committed(self)
        .await
    }

    async fn purge_idempotency_keys(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<u64> {
        sql::<D>(
            "DELETE FROM idempotency_keys WHERE (customer_id, idempotency_key) IN (
               SELECT customer_id, idempotency_key FROM idempotency_keys
               WHERE created_at < $1 LIMIT $2)",
        )
        .instant(created_before)
        .int(limit.into())
        .execute_committed(self)
        .await
    }

    async fn purge_expired_connections(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        sql::<D>(
            "DELETE FROM websocket_connections WHERE connection_id IN (
               SELECT connection_id FROM websocket_connections
               WHERE expires_at <= $1 LIMIT $2)",
        )
        .instant(now)
        .int(limit.into())
        .execute_committed(self)
        .await
    }
}
