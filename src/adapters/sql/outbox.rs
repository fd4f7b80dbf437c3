//! The producer side of the event flow: per-customer sequences and the transactional outbox.
//! How the relay reads and marks rows is the dialect's ([`Dialect::outbox_pending`],
//! [`Dialect::outbox_mark_sent`]); the statements it runs for that are here.

use super::query::{sql, Columns};
use super::{Dialect, SqlStore};
use crate::domain::event::{Envelope, EventDraft};
use crate::ports::store::{Outbox, OutboxRecord, StoreResult};
use async_trait::async_trait;
use chrono::Utc;

#[async_trait]
impl<D: Dialect> Outbox for SqlStore<D> {
    async fn outbox_pending(&self, limit: i64) -> StoreResult<Vec<OutboxRecord>> {
        D::outbox_pending(self, limit).await
    }

    async fn outbox_mark_sent(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        D::outbox_mark_sent(self, seqs).await
    }
}

/// Gives the draft the customer's next sequence and writes it to the outbox, on the caller's
/// transaction: a rollback takes back both, so sequences stay gap-free. The upsert holds the
/// counter's row until commit (SQLite: the whole database), so a concurrent producer of the same
/// customer waits, and a customer's outbox rows commit in sequence order.
pub(super) async fn enqueue<D: Dialect>(
    conn: &mut D::Connection,
    draft: EventDraft,
) -> StoreResult<Envelope> {
    let row = sql::<D>(
        "INSERT INTO customer_sequences (customer_id, last_sequence) VALUES ($1, 1)
         ON CONFLICT (customer_id)
           DO UPDATE SET last_sequence = customer_sequences.last_sequence + 1
         RETURNING last_sequence",
    )
    .text(draft.customer_id.as_str())
    .fetch_one(&mut *conn)
    .await?;
    let next = Columns::<D>::of("customer_sequences", &row).sequence("last_sequence")?;
    let envelope = draft.into_envelope(next);
    sql::<D>(
        "INSERT INTO outbox (event_id, customer_id, topic, envelope, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .uuid(envelope.id.0)
    .text(envelope.customer_id.as_str())
    .text(envelope.topic.as_str())
    .json(&envelope)
    .instant(Utc::now())
    .execute(conn)
    .await?;
    Ok(envelope)
}

/// Unsent rows in `seq` order.
pub(crate) async fn pending<D: Dialect>(
    conn: &mut D::Connection,
    limit: i64,
) -> StoreResult<Vec<OutboxRecord>> {
    sql::<D>("SELECT seq, envelope FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1")
        .int(limit)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| {
            let c = Columns::<D>::of("outbox", row);
            Ok(OutboxRecord {
                seq: c.int("seq")?,
                envelope: c.json("envelope")?,
            })
        })
        .collect()
}
