//! The WebSocket connection registry: one row per open socket, alive until `expires_at`.
//!
//! A row counts as gone from the instant it expires (`expires_at <= now`), whether or not the
//! sweeper has deleted it yet, so readers never push to a socket whose heartbeats stopped.

use super::codec;
use super::error::db;
use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::store::{ConnectionRecord, StoreError, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(FromRow)]
struct ConnectionRow {
    connection_id: Uuid,
    customer_id: String,
    node_id: String,
    node_url: String,
    source_ip: String,
    connected_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl TryFrom<ConnectionRow> for ConnectionRecord {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> StoreResult<Self> {
        Ok(Self {
            connection_id: ConnectionId(r.connection_id),
            customer_id: codec::customer_id("websocket_connections", &r.customer_id)?,
            node_id: r.node_id,
            node_url: r.node_url,
            source_ip: r.source_ip,
            connected_at: r.connected_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
        })
    }
}

const SELECT: &str = "SELECT connection_id, customer_id, node_id, node_url, source_ip,
                             connected_at, last_seen_at, expires_at
                      FROM websocket_connections";

/// Inserts the row, or replaces it when the id is registered again (a reconnect after a
/// gateway restart may reuse it).
pub(super) async fn register(pool: &PgPool, c: &ConnectionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO websocket_connections
           (connection_id, customer_id, node_id, node_url, source_ip, connected_at, last_seen_at,
            expires_at)
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
    .bind(c.connection_id.0)
    .bind(c.customer_id.as_str())
    .bind(&c.node_id)
    .bind(&c.node_url)
    .bind(&c.source_ip)
    .bind(c.connected_at)
    .bind(c.last_seen_at)
    .bind(c.expires_at)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn touch(
    pool: &PgPool,
    id: ConnectionId,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE websocket_connections SET last_seen_at = $1, expires_at = $2
         WHERE connection_id = $3",
    )
    .bind(last_seen_at)
    .bind(expires_at)
    .bind(id.0)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn remove(pool: &PgPool, id: ConnectionId) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM websocket_connections WHERE connection_id = $1")
        .bind(id.0)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn live(
    pool: &PgPool,
    id: ConnectionId,
    now: DateTime<Utc>,
) -> StoreResult<Option<ConnectionRecord>> {
    sqlx::query_as::<_, ConnectionRow>(&format!(
        "{SELECT} WHERE connection_id = $1 AND expires_at > $2"
    ))
    .bind(id.0)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .map(ConnectionRecord::try_from)
    .transpose()
}

pub(super) async fn live_of(
    pool: &PgPool,
    customer: &CustomerId,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ConnectionRecord>> {
    sqlx::query_as::<_, ConnectionRow>(&format!(
        "{SELECT} WHERE customer_id = $1 AND expires_at > $2 ORDER BY connected_at, connection_id"
    ))
    .bind(customer.as_str())
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .into_iter()
    .map(ConnectionRecord::try_from)
    .collect()
}

pub(super) async fn all_live(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<ConnectionRecord>> {
    sqlx::query_as::<_, ConnectionRow>(&format!(
        "{SELECT} WHERE expires_at > $1 ORDER BY connected_at, connection_id LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .into_iter()
    .map(ConnectionRecord::try_from)
    .collect()
}

pub(super) async fn sweep(pool: &PgPool, now: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM websocket_connections WHERE expires_at <= $1")
        .bind(now)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(done.rows_affected())
}
