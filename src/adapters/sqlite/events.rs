//! The event side of the store: per-customer sequences and the outbox (producers), and the
//! event log with its projection, audit rows and notifications (consumers).

use super::codec;
use super::error::db;
use crate::domain::event::{Envelope, EventDraft, Topic};
use crate::domain::ids::{ApplicationId, CustomerId, EventId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationProjection, AuditEntry, EventRecord, Notification, OutboxRecord, RecordOutcome,
    StoreError, StoreResult,
};
use chrono::Utc;
use sqlx::{Executor, FromRow, Sqlite, SqliteConnection, SqlitePool};

/// Most ids bound in one `IN (...)` list; far below SQLite's variable limit.
const MARK_SENT_CHUNK: usize = 500;

// ---- producer side -----------------------------------------------------------------------

/// Gives the draft the customer's next sequence and writes it to the outbox, on the caller's
/// transaction: a rollback takes back both, so sequences stay gap-free.
pub(super) async fn enqueue(
    conn: &mut SqliteConnection,
    draft: EventDraft,
) -> StoreResult<Envelope> {
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO customer_sequences (customer_id, last_sequence) VALUES (?, 1)
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
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(envelope.id.to_string())
    .bind(envelope.customer_id.as_str())
    .bind(envelope.topic.as_str())
    .bind(codec::json(&envelope)?)
    .bind(codec::ts(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(envelope)
}

#[derive(FromRow)]
struct OutboxRow {
    seq: i64,
    envelope: String,
}

pub(super) async fn outbox_pending(
    pool: &SqlitePool,
    limit: i64,
) -> StoreResult<Vec<OutboxRecord>> {
    sqlx::query_as::<_, OutboxRow>(
        "SELECT seq, envelope FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .into_iter()
    .map(|r| {
        Ok(OutboxRecord {
            seq: r.seq,
            envelope: codec::from_json("outbox.envelope", &r.envelope)?,
        })
    })
    .collect()
}

pub(super) async fn outbox_mark_sent(write: &SqlitePool, seqs: &[i64]) -> StoreResult<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    let sent_at = codec::ts(Utc::now());
    let mut tx = write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    for chunk in seqs.chunks(MARK_SENT_CHUNK) {
        let mut update = sqlx::QueryBuilder::<Sqlite>::new("UPDATE outbox SET sent_at = ");
        update.push_bind(&sent_at);
        update.push(" WHERE sent_at IS NULL AND seq IN (");
        let mut list = update.separated(", ");
        for seq in chunk {
            list.push_bind(*seq);
        }
        update.push(")");
        update.build().execute(&mut *tx).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

// ---- consumer side -----------------------------------------------------------------------

/// Stores the event with its projection, audit row and notifications in one transaction, or
/// nothing at all when the event id was already stored.
pub(super) async fn record(
    write: &SqlitePool,
    event: &Envelope,
    audit: &AuditEntry,
    notifications: &[Notification],
) -> StoreResult<RecordOutcome> {
    let now = codec::ts(Utc::now());
    let mut tx = write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let outcome = record_in(&mut tx, event, audit, notifications, &now).await?;
    tx.commit().await.map_err(db)?;
    Ok(outcome)
}

/// Stores a consumer's whole poll batch in one transaction (one commit, one fsync), each event
/// as [`record`] would.
pub(super) async fn record_batch(
    write: &SqlitePool,
    batch: &[EventRecord],
) -> StoreResult<Vec<RecordOutcome>> {
    let now = codec::ts(Utc::now());
    let mut tx = write.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for item in batch {
        outcomes
            .push(record_in(&mut tx, &item.event, &item.audit, &item.notifications, &now).await?);
    }
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

async fn record_in(
    tx: &mut SqliteConnection,
    event: &Envelope,
    audit: &AuditEntry,
    notifications: &[Notification],
    now: &str,
) -> StoreResult<RecordOutcome> {
    let inserted = sqlx::query(
        "INSERT INTO events
           (event_id, customer_id, sequence, application_id, topic, occurred_at, envelope, stored_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.id.to_string())
    .bind(event.customer_id.as_str())
    .bind(codec::sequence_param(event.sequence))
    .bind(event.application_id.map(|a| a.to_string()))
    .bind(event.topic.as_str())
    .bind(codec::ts(event.occurred_at))
    .bind(codec::json(event)?)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if inserted.rows_affected() == 0 {
        // The first delivery already wrote everything else; nothing was written now.
        return Ok(RecordOutcome::Duplicate);
    }
    if let Some(application) = event.application_id {
        project(tx, application, event, now).await?;
    }
    sqlx::query(
        "INSERT INTO audit_log (event_id, customer_id, application_id, action, at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(audit.event_id.to_string())
    .bind(audit.customer_id.as_str())
    .bind(audit.application_id.map(|a| a.to_string()))
    .bind(&audit.action)
    .bind(codec::ts(audit.at))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    for n in notifications {
        sqlx::query(
            "INSERT INTO notifications
               (id, event_id, kind, recipient, subject, body, created_at, attempts, next_attempt_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&n.id)
        .bind(n.event_id.to_string())
        .bind(n.kind.as_str())
        .bind(&n.recipient)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(codec::ts(n.created_at))
        .bind(i64::from(n.attempts))
        // Due at once: the first attempt happens as soon as a delivery worker looks.
        .bind(codec::ts(n.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(RecordOutcome::Inserted)
}

/// Folds one new event into the application's projection. Fields move only forward in
/// sequence order; every UPDATE expression reads the row as it was before this statement.
async fn project(
    conn: &mut SqliteConnection,
    application: ApplicationId,
    event: &Envelope,
    now: &str,
) -> StoreResult<()> {
    let status = event
        .data
        .get("status")
        .and_then(|s| s.as_str())
        .and_then(ApplicationStatus::parse)
        .map(ApplicationStatus::as_str);
    let sequence = codec::sequence_param(event.sequence);
    sqlx::query(
        "INSERT INTO application_projections
           (application_id, customer_id, last_event_id, last_event_type, last_sequence, status,
            status_sequence, event_count, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?6 IS NULL THEN 0 ELSE ?5 END, 1, ?7)
         ON CONFLICT (application_id) DO UPDATE SET
           last_event_id = CASE WHEN excluded.last_sequence > application_projections.last_sequence
             THEN excluded.last_event_id ELSE application_projections.last_event_id END,
           last_event_type = CASE WHEN excluded.last_sequence > application_projections.last_sequence
             THEN excluded.last_event_type ELSE application_projections.last_event_type END,
           last_sequence = MAX(excluded.last_sequence, application_projections.last_sequence),
           status = CASE WHEN excluded.status IS NOT NULL
                          AND excluded.status_sequence > application_projections.status_sequence
             THEN excluded.status ELSE application_projections.status END,
           status_sequence = CASE WHEN excluded.status IS NOT NULL
                          AND excluded.status_sequence > application_projections.status_sequence
             THEN excluded.status_sequence ELSE application_projections.status_sequence END,
           event_count = application_projections.event_count + 1,
           updated_at = excluded.updated_at",
    )
    .bind(application.to_string())
    .bind(event.customer_id.as_str())
    .bind(event.id.to_string())
    .bind(event.topic.as_str())
    .bind(sequence)
    .bind(status)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[derive(FromRow)]
struct EnvelopeRow {
    envelope: String,
}

async fn envelopes<'q>(
    pool: &SqlitePool,
    query: sqlx::query::QueryAs<'q, Sqlite, EnvelopeRow, sqlx::sqlite::SqliteArguments<'q>>,
) -> StoreResult<Vec<Envelope>> {
    query
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| codec::from_json("events.envelope", &r.envelope))
        .collect()
}

pub(super) async fn events_after(
    pool: &SqlitePool,
    customer: &CustomerId,
    after_sequence: u64,
    limit: i64,
) -> StoreResult<Vec<Envelope>> {
    envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope FROM events WHERE customer_id = ? AND sequence > ?
             ORDER BY sequence, event_id LIMIT ?",
        )
        .bind(customer.as_str())
        .bind(codec::sequence_param(after_sequence))
        .bind(limit),
    )
    .await
}

pub(super) async fn event_of_customer(
    pool: &SqlitePool,
    customer: &CustomerId,
    event: EventId,
) -> StoreResult<Option<Envelope>> {
    let found = envelopes(
        pool,
        sqlx::query_as("SELECT envelope FROM events WHERE event_id = ? AND customer_id = ?")
            .bind(event.to_string())
            .bind(customer.as_str()),
    )
    .await?;
    Ok(found.into_iter().next())
}

pub(super) async fn application_events(
    pool: &SqlitePool,
    application: ApplicationId,
) -> StoreResult<Vec<Envelope>> {
    envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope FROM events WHERE application_id = ? ORDER BY sequence, event_id",
        )
        .bind(application.to_string()),
    )
    .await
}

pub(super) async fn recent_events(pool: &SqlitePool, limit: i64) -> StoreResult<Vec<Envelope>> {
    envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope FROM events ORDER BY occurred_at DESC, event_id DESC LIMIT ?",
        )
        .bind(limit),
    )
    .await
}

pub(super) async fn last_stored_sequence<'e, E>(ex: E, customer: &CustomerId) -> StoreResult<u64>
where
    E: Executor<'e, Database = Sqlite>,
{
    let max: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(sequence), 0) FROM events WHERE customer_id = ?")
            .bind(customer.as_str())
            .fetch_one(ex)
            .await
            .map_err(db)?;
    codec::sequence("events.sequence", max)
}

#[derive(FromRow)]
struct ProjectionRow {
    application_id: String,
    customer_id: String,
    last_event_id: String,
    last_event_type: String,
    last_sequence: i64,
    status: Option<String>,
    event_count: i64,
    updated_at: String,
}

pub(super) async fn projection(
    pool: &SqlitePool,
    application: ApplicationId,
) -> StoreResult<Option<ApplicationProjection>> {
    let row = sqlx::query_as::<_, ProjectionRow>(
        "SELECT application_id, customer_id, last_event_id, last_event_type, last_sequence,
                status, event_count, updated_at
         FROM application_projections WHERE application_id = ?",
    )
    .bind(application.to_string())
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let Some(r) = row else { return Ok(None) };
    const T: &str = "application_projections";
    Ok(Some(ApplicationProjection {
        application_id: codec::application_id(T, &r.application_id)?,
        customer_id: codec::customer_id(T, &r.customer_id)?,
        status: r
            .status
            .map(|s| codec::known(T, ApplicationStatus::parse(&s)))
            .transpose()?,
        last_event_id: codec::event_id(T, &r.last_event_id)?,
        last_event_type: Topic::parse(&r.last_event_type)
            .map_err(|_| codec::corrupt(T, "has an unknown last_event_type"))?,
        last_sequence: codec::sequence(T, r.last_sequence)?,
        event_count: r.event_count,
        updated_at: codec::parse_ts(T, &r.updated_at)?,
    }))
}

#[derive(FromRow)]
struct AuditRow {
    event_id: String,
    customer_id: String,
    application_id: Option<String>,
    action: String,
    at: String,
}

pub(super) async fn audit_trail(
    pool: &SqlitePool,
    customer: &CustomerId,
    limit: i64,
) -> StoreResult<Vec<AuditEntry>> {
    sqlx::query_as::<_, AuditRow>(
        "SELECT event_id, customer_id, application_id, action, at FROM audit_log
         WHERE customer_id = ? ORDER BY seq LIMIT ?",
    )
    .bind(customer.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .into_iter()
    .map(|r| {
        Ok(AuditEntry {
            event_id: codec::event_id("audit_log.event_id", &r.event_id)?,
            customer_id: codec::customer_id("audit_log.customer_id", &r.customer_id)?,
            application_id: r
                .application_id
                .map(|a| codec::application_id("audit_log.application_id", &a))
                .transpose()?,
            action: r.action,
            at: codec::parse_ts("audit_log.at", &r.at)?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()
}
