//! The trace port on SQL: where the relay's records landed (on the outbox row), when the group
//! committed them (on the event row), the push outcomes (`event_pushes`), and the read that puts
//! one customer's hops together for `onboard trace`.

use super::batch::{Batch, MultiRow};
use super::query::{sql, Columns};
use super::{Dialect, SqlStore};
use crate::domain::event::Envelope;
use crate::domain::ids::{ConnectionId, CustomerId, EventId};
use crate::ports::store::{NotificationKind, StoreResult};
use crate::ports::trace::{
    CommittedRecord, ConsumedHop, EventTrace, NotificationHop, OutboxHop, PublishedRow, PushRecord,
    PushResult, TraceLog, MAX_PUSHES_PER_EVENT,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

/// The first item of each key, in order: a multi-row update applies one of two rows that name
/// the same table row, not the first, so a repeat is left out before it is sent.
fn first_of_each<T, K: Eq + Hash>(items: &[T], key: impl Fn(&T) -> K) -> impl Iterator<Item = &T> {
    let mut seen = HashSet::with_capacity(items.len());
    items.iter().filter(move |item| seen.insert(key(item)))
}

/// Where the relay's records landed: one row per outbox row (its `seq` once).
static PUBLISHED_ROWS: MultiRow = MultiRow {
    head: "UPDATE outbox SET sent_at = v.column4, record_partition = v.column2,
                             record_offset = v.column3
           FROM (VALUES",
    row: "($1, $2, $3, $4)",
    tail: ") AS v WHERE outbox.seq = v.column1 AND outbox.sent_at IS NULL",
};

/// When the group committed each event's record: one row per event (its id once).
static COMMITTED_ROWS: MultiRow = MultiRow {
    head: "UPDATE events SET record_partition = v.column2, record_offset = v.column3,
                             committed_at = v.column4, record_timestamp = v.column5
           FROM (VALUES",
    row: "($1, $2, $3, $4, $5)",
    tail: ") AS v WHERE events.event_id = v.column1 AND events.committed_at IS NULL",
};

#[async_trait]
impl<D: Dialect> TraceLog for SqlStore<D> {
    /// One transaction, multi-row updates (a relay batch is at most a few hundred rows). A row
    /// named twice keeps the first place, as consecutive updates would.
    async fn outbox_mark_published(
        &self,
        rows: &[PublishedRow],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut batch = Batch::new();
        for row in first_of_each(rows, |row| row.seq) {
            batch
                .push_row(&PUBLISHED_ROWS)
                .int(row.seq)
                .int(i64::from(row.partition))
                .int(row.offset)
                .instant(at);
        }
        self.write_batch(batch).await
    }

    /// An event whose record came twice (a relay that published it again) keeps the first
    /// record's place, as it would if they were committed one after another.
    async fn events_committed(&self, records: &[CommittedRecord]) -> StoreResult<()> {
        let mut batch = Batch::new();
        for record in first_of_each(records, |record| record.event_id) {
            batch
                .push_row(&COMMITTED_ROWS)
                .uuid(record.event_id.0)
                .int(i64::from(record.partition))
                .int(record.offset)
                .instant(record.committed_at)
                .opt_instant(record.published_at);
        }
        self.write_batch(batch).await
    }

    async fn record_pushes(&self, pushes: &[PushRecord]) -> StoreResult<()> {
        let mut batch = Batch::new();
        for push in pushes {
            batch
                .push(
                    "INSERT INTO event_pushes (event_id, connection_id, node_id, outcome, at)
                     SELECT $1, $2, $3, $4, $5
                     WHERE (SELECT COUNT(*) FROM event_pushes WHERE event_id = $1) < $6
                        OR EXISTS (SELECT 1 FROM event_pushes
                                   WHERE event_id = $1 AND connection_id = $2)
                     ON CONFLICT (event_id, connection_id)
                       DO UPDATE SET node_id = excluded.node_id, outcome = excluded.outcome,
                                     at = excluded.at",
                )
                .uuid(push.event_id.0)
                .uuid(push.connection_id.0)
                .text(push.node_id.as_str())
                .text(push.outcome.as_str())
                .instant(push.at)
                .int(MAX_PUSHES_PER_EVENT as i64);
        }
        self.write_batch(batch).await
    }

    async fn customer_trace(
        &self,
        customer: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<EventTrace>> {
        let mut conn = self.read_conn().await?;
        let mut traces: BTreeMap<EventId, EventTrace> = BTreeMap::new();
        let consumed = sql::<D>(
            "SELECT envelope, stored_at, record_partition, record_offset, record_timestamp,
                    committed_at
             FROM events WHERE customer_id = $1 ORDER BY sequence DESC LIMIT $2",
        )
        .text(customer.as_str())
        .int(limit)
        .fetch_all(&mut conn)
        .await?;
        for row in &consumed {
            let c = Columns::<D>::of("events", row);
            let event: Envelope = c.json("envelope")?;
            let hop = ConsumedHop {
                stored_at: c.instant("stored_at")?,
                partition: partition(&c)?,
                offset: c.opt_int("record_offset")?,
                published_at: c.opt_instant("record_timestamp")?,
                committed_at: c.opt_instant("committed_at")?,
            };
            traces.insert(event.id, trace_of(event, None, Some(hop)));
        }
        let outbox = sql::<D>(
            "SELECT seq, envelope, created_at, sent_at, record_partition, record_offset
             FROM outbox WHERE customer_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .text(customer.as_str())
        .int(limit)
        .fetch_all(&mut conn)
        .await?;
        for row in &outbox {
            let c = Columns::<D>::of("outbox", row);
            let event: Envelope = c.json("envelope")?;
            let hop = OutboxHop {
                seq: c.int("seq")?,
                created_at: c.instant("created_at")?,
                sent_at: c.opt_instant("sent_at")?,
                partition: partition(&c)?,
                offset: c.opt_int("record_offset")?,
            };
            traces
                .entry(event.id)
                .or_insert_with(|| trace_of(event, None, None))
                .outbox = Some(hop);
        }
        let notifications = sql::<D>(
            "SELECT n.id, n.event_id, n.kind, n.attempts, n.created_at, n.next_attempt_at,
                    n.delivered_at, n.last_error
             FROM notifications n JOIN events e ON e.event_id = n.event_id
             WHERE e.customer_id = $1 ORDER BY n.created_at, n.id",
        )
        .text(customer.as_str())
        .fetch_all(&mut conn)
        .await?;
        for row in &notifications {
            let c = Columns::<D>::of("notifications", row);
            let event_id = c.id("event_id", EventId)?;
            let hop = NotificationHop {
                id: c.text("id")?,
                kind: c.known("kind", NotificationKind::parse)?,
                attempts: u32::try_from(c.int("attempts")?)
                    .map_err(|_| super::corrupt("notifications.attempts", "is out of range"))?,
                created_at: c.instant("created_at")?,
                next_attempt_at: c.instant("next_attempt_at")?,
                delivered_at: c.opt_instant("delivered_at")?,
                last_error: c.opt_text("last_error")?,
            };
            if let Some(trace) = traces.get_mut(&event_id) {
                trace.notifications.push(hop);
            }
        }
        let pushes = sql::<D>(
            "SELECT p.event_id, p.connection_id, p.node_id, p.outcome, p.at
             FROM event_pushes p JOIN events e ON e.event_id = p.event_id
             WHERE e.customer_id = $1 ORDER BY p.at, p.connection_id",
        )
        .text(customer.as_str())
        .fetch_all(&mut conn)
        .await?;
        for row in &pushes {
            let c = Columns::<D>::of("event_pushes", row);
            let push = PushRecord {
                event_id: c.id("event_id", EventId)?,
                connection_id: c.id("connection_id", ConnectionId)?,
                node_id: c.text("node_id")?,
                outcome: c.known("outcome", PushResult::parse)?,
                at: c.instant("at")?,
            };
            if let Some(trace) = traces.get_mut(&push.event_id) {
                trace.pushes.push(push);
            }
        }
        let mut ordered: Vec<EventTrace> = traces.into_values().collect();
        ordered.sort_by_key(|t| (t.event.sequence, t.event.id));
        let keep = usize::try_from(limit).unwrap_or(0);
        if ordered.len() > keep {
            ordered.drain(..ordered.len() - keep);
        }
        Ok(ordered)
    }
}

fn trace_of(
    event: Envelope,
    outbox: Option<OutboxHop>,
    consumed: Option<ConsumedHop>,
) -> EventTrace {
    EventTrace {
        event,
        outbox,
        consumed,
        notifications: Vec::new(),
        pushes: Vec::new(),
    }
}

fn partition<D: Dialect>(c: &Columns<'_, D>) -> StoreResult<Option<i32>> {
    c.opt_int("record_partition")?
        .map(|p| {
            i32::try_from(p).map_err(|_| super::corrupt("record_partition", "is out of range"))
        })
        .transpose()
}
