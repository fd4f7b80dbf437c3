//! The producer side of the event flow: per-customer sequences, the outbox, and the relay lease
//! that lets several relay processes share one outbox.
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

use super::codec;
use super::error::db;
use crate::domain::event::{Envelope, EventDraft};
use crate::ports::store::{OutboxRecord, StoreResult};
use chrono::Utc;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, FromRow, PgPool};
use tokio::sync::Mutex;

/// Gives the draft the customer's next sequence and writes it to the outbox, on the caller's
/// transaction: a rollback takes back both, so sequences stay gap-free. The upsert's row lock
/// makes a concurrent producer of the same customer wait until this transaction ends.
pub(super) async fn enqueue(conn: &mut PgConnection, draft: EventDraft) -> StoreResult<Envelope> {
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO customer_sequences (customer_id, last_sequence) VALUES ($1, 1)
         ON CONFLICT (customer_id)
           DO UPDATE SET last_sequence = customer_sequences.last_sequence + 1
         RETURNING last_sequence",
    )
    .bind(draft.customer_id.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let envelope = draft.into_envelope(codec::sequence("customer_sequences.last_sequence", next)?);
    sqlx::query(
        "INSERT INTO outbox (event_id, customer_id, topic, envelope, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(envelope.id.0)
    .bind(envelope.customer_id.as_str())
    .bind(envelope.topic.as_str())
    .bind(codec::jsonb(&envelope)?)
    .bind(Utc::now())
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(envelope)
}

/// The advisory lock that makes one store the active relay; keyed by the outbox table's oid so
/// databases and schemas sharing a server do not compete.
const TRY_LEASE: &str = "SELECT pg_try_advisory_lock(
    hashtextextended('onboard outbox relay ' || 'outbox'::regclass::oid::text, 0))";

/// This store's claim to be the active relay: the connection holding the advisory lock, if any.
#[derive(Default)]
pub(super) struct RelayLease {
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

#[derive(FromRow)]
struct OutboxRow {
    seq: i64,
    envelope: String,
}

/// Unsent rows in `seq` order when this store holds (or can take) the relay lease; none while
/// another relay holds it.
pub(super) async fn pending(
    pool: &PgPool,
    lease: &RelayLease,
    limit: i64,
) -> StoreResult<Vec<OutboxRecord>> {
    let mut holder = lease.holder.lock().await;
    if holder.is_none() {
        let mut conn = pool.acquire().await.map_err(db)?;
        let taken: bool = sqlx::query_scalar(TRY_LEASE)
            .fetch_one(&mut *conn)
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
    let rows = sqlx::query_as::<_, OutboxRow>(
        "SELECT seq, envelope::text AS envelope FROM outbox
         WHERE sent_at IS NULL ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            // The session (and with it the lock) may be gone: ask for the lease again next time.
            *holder = None;
            return Err(db(e));
        }
    };
    rows.into_iter()
        .map(|r| {
            Ok(OutboxRecord {
                seq: r.seq,
                envelope: codec::from_json("outbox.envelope", &r.envelope)?,
            })
        })
        .collect()
}

pub(super) async fn mark_sent(pool: &PgPool, seqs: &[i64]) -> StoreResult<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE outbox SET sent_at = $1 WHERE sent_at IS NULL AND seq = ANY($2)")
        .bind(Utc::now())
        .bind(seqs)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}
