//! The WebSocket connection registry: one row per open socket, alive until `expires_at`.
//!
//! A row counts as gone from the instant it expires (`expires_at <= now`), whether or not the
//! sweeper has deleted it yet, so readers never push to a socket whose heartbeats stopped.

use super::query::{parameter_list, sql, Columns, MAX_IDS_PER_STATEMENT};
use super::{Dialect, SqlStore};
use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::store::{ConnectionRecord, ConnectionRegistry, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

const SELECT: &str = "SELECT connection_id, customer_id, node_id, node_url, source_ip,
                             connected_at, last_seen_at, expires_at
                      FROM websocket_connections";

fn connection_row<D: Dialect>(row: &D::Row) -> StoreResult<ConnectionRecord> {
    let c = Columns::<D>::of("websocket_connections", row);
    Ok(ConnectionRecord {
        connection_id: c.id("connection_id", ConnectionId)?,
        customer_id: c.customer_id("customer_id")?,
        node_id: c.text("node_id")?,
        node_url: c.text("node_url")?,
        source_ip: c.text("source_ip")?,
        connected_at: c.instant("connected_at")?,
        last_seen_at: c.instant("last_seen_at")?,
        expires_at: c.instant("expires_at")?,
    })
}

fn connection_rows<D: Dialect>(rows: Vec<D::Row>) -> StoreResult<Vec<ConnectionRecord>> {
    rows.iter().map(connection_row::<D>).collect()
}

#[async_trait]
impl<D: Dialect> ConnectionRegistry for SqlStore<D> {
    /// Inserts the row, or replaces it when the id is registered again (a reconnect after a
    /// gateway restart may reuse it).
    async fn register_connection(&self, c: &ConnectionRecord) -> StoreResult<()> {
        sql::<D>(
            "INSERT INTO websocket_connections
               (connection_id, customer_id, node_id, node_url, source_ip, connected_at,
                last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (connection_id) DO UPDATE SET
               customer_id = excluded.customer_id,
               node_id = excluded.node_id,
               node_url = excluded.node_url,
               source_ip = excluded.source_ip,
               connected_at = excluded.connected_at,
               last_seen_at = excluded.last_seen_at,
               expires_at = excluded.expires_at",
        )
        .uuid(c.connection_id.0)
        .text(c.customer_id.as_str())
        .text(c.node_id.as_str())
        .text(c.node_url.as_str())
        .text(c.source_ip.as_str())
        .instant(c.connected_at)
        .instant(c.last_seen_at)
        .instant(c.expires_at)
        .execute_committed(self)
        .await?;
        Ok(())
    }

    async fn touch_connection(
        &self,
        id: ConnectionId,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let changed = sql::<D>(
            "UPDATE websocket_connections SET last_seen_at = $1, expires_at = $2
             WHERE connection_id = $3",
        )
        .instant(last_seen_at)
        .instant(expires_at)
        .uuid(id.0)
        .execute_committed(self)
        .await?;
        Ok(changed > 0)
    }

    async fn remove_connection(&self, id: ConnectionId) -> StoreResult<bool> {
        let removed = sql::<D>("DELETE FROM websocket_connections WHERE connection_id = $1")
            .uuid(id.0)
            .execute_committed(self)
            .await?;
        Ok(removed > 0)
    }

    /// One `DELETE … IN (…)` per [`MAX_IDS_PER_STATEMENT`] ids, each on a write connection
    /// held only for that statement.
    async fn remove_connections(&self, ids: &[ConnectionId]) -> StoreResult<()> {
        for chunk in ids.chunks(MAX_IDS_PER_STATEMENT) {
            let statement = format!(
                "DELETE FROM websocket_connections WHERE connection_id IN ({})",
                parameter_list(1, chunk.len())
            );
            let statement = chunk
                .iter()
                .fold(sql::<D>(&statement), |statement, id| statement.uuid(id.0));
            statement.execute_committed(self).await?;
        }
        Ok(())
    }

    /// One read per [`MAX_IDS_PER_STATEMENT`] customers.
    async fn connections_of_each(
        &self,
        customers: &[CustomerId],
        now: DateTime<Utc>,
    ) -> StoreResult<HashMap<CustomerId, Vec<ConnectionRecord>>> {
        let mut each: HashMap<CustomerId, Vec<ConnectionRecord>> = HashMap::new();
        let mut conn = self.read_conn().await?;
        for chunk in customers.chunks(MAX_IDS_PER_STATEMENT) {
            let statement = format!(
                "{SELECT} WHERE expires_at > $1 AND customer_id IN ({})
                 ORDER BY connected_at, connection_id",
                parameter_list(2, chunk.len())
            );
            let statement = chunk
                .iter()
                .fold(sql::<D>(&statement).instant(now), |statement, customer| {
                    statement.text(customer.as_str())
                });
            for connection in connection_rows::<D>(statement.fetch_all(&mut conn).await?)? {
                each.entry(connection.customer_id.clone())
                    .or_default()
                    .push(connection);
            }
        }
        Ok(each)
    }

    async fn connection(
        &self,
        id: ConnectionId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ConnectionRecord>> {
        let statement = format!("{SELECT} WHERE connection_id = $1 AND expires_at > $2");
        sql::<D>(&statement)
            .uuid(id.0)
            .instant(now)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?
            .map(|row| connection_row::<D>(&row))
            .transpose()
    }

    async fn connections_of(
        &self,
        customer: &CustomerId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        let statement = format!(
            "{SELECT} WHERE customer_id = $1 AND expires_at > $2
             ORDER BY connected_at, connection_id"
        );
        let statement = sql::<D>(&statement).text(customer.as_str()).instant(now);
        connection_rows::<D>(statement.fetch_all(&mut *self.read_conn().await?).await?)
    }

    async fn all_connections(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRecord>> {
        let statement =
            format!("{SELECT} WHERE expires_at > $1 ORDER BY connected_at, connection_id LIMIT $2");
        let statement = sql::<D>(&statement).instant(now).int(limit);
        connection_rows::<D>(statement.fetch_all(&mut *self.read_conn().await?).await?)
    }

    async fn sweep_connections(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        sql::<D>("DELETE FROM websocket_connections WHERE expires_at <= $1")
            .instant(now)
            .execute_committed(self)
            .await
    }
}
