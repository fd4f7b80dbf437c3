//! The relay lease that lets several relay processes share one outbox.
//!
//! Why one relay at a time: a customer's outbox rows are committed in sequence order (the
//! sequence upsert locks the customer's counter row until commit), and a relay that reads all
//! pending rows in `seq` order publishes them in that order. Relays splitting the rows between
//! them (`FOR UPDATE SKIP LOCKED`) would let a customer's second event overtake the first, so
//! instead the relay that holds a session advisory lock publishes and the others read nothing.
//! The lock lives on a dedicated connection: when its process dies or the connection breaks,
//! PostgreSQL releases it and the next relay to ask takes over. Correctness does not rest on the
//! lock: two relays publishing at once (for the instant a broken lease is being replaced) only
//! publish some rows twice, in order, and consumers de-duplicate by event id.

use super::error::db;
use crate::adapters::sql::{answered, outbox_pending, SqlStore};
use crate::ports::store::{OutboxRecord, StoreError, StoreResult};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Postgres};
use tokio::sync::Mutex;

/// The advisory lock that makes one store the active relay; keyed by the outbox table's oid so
/// databases and schemas sharing a server do not compete.
const TRY_LEASE: &str = "SELECT pg_try_advisory_lock(
    hashtextextended('onboard outbox relay ' || 'outbox'::regclass::oid::text, 0))";

/// This store's claim to be the active relay: the connection holding the advisory lock, if any.
#[derive(Default)]
pub struct RelayLease {
    holder: Mutex<Option<PgConnection>>,
}

impl RelayLease {
    /// Releases the lease (by closing its connection) so another relay can take over at once.
    pub(super) async fn release(&self) {
        if let Some(conn) = self.holder.lock().await.take() {
            let _ = conn.close().await;
        }
    }
}

/// Unsent rows in `seq` order when this store holds (or can take) the relay lease; none while
/// another relay holds it.
pub(super) async fn pending(
    store: &SqlStore<Postgres>,
    limit: i64,
) -> StoreResult<Vec<OutboxRecord>> {
    let mut holder = store.extra().holder.lock().await;
    if holder.is_none() {
        let mut conn = store.write.acquire().await.map_err(db)?;
        let taken: bool =
            answered::<Postgres, _>(sqlx::query_scalar(TRY_LEASE).fetch_one(&mut *conn))
                .await
                .map_err(db)?;
        if !taken {
            return Ok(Vec::new());
        }
        // Out of the pool for good: the lock must stay on this one session.
        *holder = Some(conn.detach());
    }
    let Some(conn) = holder.as_mut() else {
        return Ok(Vec::new());
    };
    let rows = outbox_pending::<Postgres>(conn, limit).await;
    if rows
        .as_ref()
        .is_err_and(|e| !matches!(e, StoreError::Corrupt(_)))
    {
        // The session (and with it the lock) may be gone: ask for the lease again next time.
        // (A row that could not be decoded says nothing about the session.)
        *holder = None;
    }
    rows
}
