//! The consumer side of the event flow: the event log with its projection, audit rows and
//! notifications, and the reads over it.

use super::codec;
use super::error::db;
use crate::domain::event::{Envelope, Topic};
use crate::domain::ids::{ApplicationId, CustomerId, EventId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationProjection, AuditEntry, EventRecord, Notification, RecordOutcome, StoreError,
    StoreResult,
};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgConnection};
use sqlx::{FromRow, PgPool, Postgres};
use uuid::Uuid;

/// Stores the event with its projection, audit row and notifications in one transaction, or
/// nothing at all when the event id was already stored.
pub(super) async fn record(
    pool: &PgPool,
    event: &Envelope,
    audit: &AuditEntry,
    notifications: &[Notification],
) -> StoreResult<RecordOutcome> {
    let now = Utc::now();
    let mut tx = pool.begin().await.map_err(db)?;
    let outcome = record_in(&mut tx, event, audit, notifications, &now).await?;
    tx.commit().await.map_err(db)?;
    Ok(outcome)
}

/// Stores a consumer's whole poll batch in one transaction (one commit, one fsync), each event
/// as [`record`] would.
pub(super) async fn record_batch(
    pool: &PgPool,
    batch: &[EventRecord],
) -> StoreResult<Vec<RecordOutcome>> {
    let now = Utc::now();
    let mut tx = pool.begin().await.map_err(db)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for item in batch {
        outcomes
            .push(record_in(&mut tx, &item.event, &item.audit, &item.notifications, &now).await?);
    }
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

async fn record_in(
    tx: &mut PgConnection,
    event: &Envelope,
    audit: &AuditEntry,
    notifications: &[Notification],
    now: &chrono::DateTime<Utc>,
) -> StoreResult<RecordOutcome> {
    let inserted = sqlx::query(
        "INSERT INTO events
           (event_id, customer_id, sequence, application_id, topic, occurred_at, envelope, stored_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.id.0)
    .bind(event.customer_id.as_str())
    .bind(codec::sequence_param(event.sequence))
    .bind(event.application_id.map(|a| a.0))
    .bind(event.topic.as_str())
    .bind(event.occurred_at)
    .bind(codec::jsonb(event)?)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if inserted.rows_affected() == 0 {
        // The first delivery already wrote everything else; nothing was written now.
        return Ok(RecordOutcome::Duplicate);
    }
    if let Some(application) = event.application_id {
        project(tx, application, event, *now).await?;
    }
    sqlx::query(
        "INSERT INTO audit_log (event_id, customer_id, application_id, action, at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(audit.event_id.0)
    .bind(audit.customer_id.as_str())
    .bind(audit.application_id.map(|a| a.0))
    .bind(&audit.action)
    .bind(audit.at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    for n in notifications {
        sqlx::query(
            "INSERT INTO notifications
               (id, event_id, kind, recipient, subject, body, created_at, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&n.id)
        .bind(n.event_id.0)
        .bind(n.kind.as_str())
        .bind(&n.recipient)
        .bind(&n.subject)
        .bind(&n.body)
        // Due at once: the first attempt happens as soon as a delivery worker looks.
        .bind(n.created_at)
        .bind(i64::from(n.attempts))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(RecordOutcome::Inserted)
}

/// Folds one new event into the application's projection. Fields move only forward in
/// sequence order; every UPDATE expression reads the row as it was before this statement, and
/// the upsert's row lock serialises concurrent events of one application.
async fn project(
    conn: &mut PgConnection,
    application: ApplicationId,
    event: &Envelope,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let status = event
        .data
        .get("status")
        .and_then(|s| s.as_str())
        .and_then(ApplicationStatus::parse)
        .map(ApplicationStatus::as_str);
    sqlx::query(
        "INSERT INTO application_projections AS p
           (application_id, customer_id, last_event_id, last_event_type, last_sequence, status,
            status_sequence, event_count, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::text IS NULL THEN 0 ELSE $5 END, 1, $7)
         ON CONFLICT (application_id) DO UPDATE SET
           last_event_id = CASE WHEN excluded.last_sequence > p.last_sequence
             THEN excluded.last_event_id ELSE p.last_event_id END,
           last_event_type = CASE WHEN excluded.last_sequence > p.last_sequence
             THEN excluded.last_event_type ELSE p.last_event_type END,
           last_sequence = GREATEST(excluded.last_sequence, p.last_sequence),
           status = CASE WHEN excluded.status IS NOT NULL
                          AND excluded.status_sequence > p.status_sequence
             THEN excluded.status ELSE p.status END,
           status_sequence = CASE WHEN excluded.status IS NOT NULL
                          AND excluded.status_sequence > p.status_sequence
             THEN excluded.status_sequence ELSE p.status_sequence END,
           event_count = p.event_count + 1,
           updated_at = excluded.updated_at",
    )
    .bind(application.0)
    .bind(event.customer_id.as_str())
    .bind(event.id.0)
    .bind(event.topic.as_str())
    .bind(codec::sequence_param(event.sequence))
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
    pool: &PgPool,
    query: sqlx::query::QueryAs<'q, Postgres, EnvelopeRow, PgArguments>,
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
    pool: &PgPool,
    customer: &CustomerId,
    after_sequence: u64,
    limit: i64,
) -> StoreResult<Vec<Envelope>> {
    envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope::text AS envelope FROM events WHERE customer_id = $1 AND sequence > $2
             ORDER BY sequence, event_id LIMIT $3",
        )
        .bind(customer.as_str())
        .bind(codec::sequence_param(after_sequence))
        .bind(limit),
    )
    .await
}

pub(super) async fn event_of_customer(
    pool: &PgPool,
    customer: &CustomerId,
    event: EventId,
) -> StoreResult<Option<Envelope>> {
    let found = envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope::text AS envelope FROM events
             WHERE event_id = $1 AND customer_id = $2",
        )
        .bind(event.0)
        .bind(customer.as_str()),
    )
    .await?;
    Ok(found.into_iter().next())
}

pub(super) async fn application_events(
    pool: &PgPool,
    application: ApplicationId,
) -> StoreResult<Vec<Envelope>> {
    envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope::text AS envelope FROM events WHERE application_id = $1
             ORDER BY sequence, event_id",
        )
        .bind(application.0),
    )
    .await
}

pub(super) async fn recent_events(pool: &PgPool, limit: i64) -> StoreResult<Vec<Envelope>> {
    envelopes(
        pool,
        sqlx::query_as(
            "SELECT envelope::text AS envelope FROM events
             ORDER BY occurred_at DESC, event_id DESC LIMIT $1",
        )
        .bind(limit),
    )
    .await
}

pub(super) async fn last_stored_sequence(pool: &PgPool, customer: &CustomerId) -> StoreResult<u64> {
    let max: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(sequence), 0)::bigint FROM events WHERE customer_id = $1",
    )
    .bind(customer.as_str())
    .fetch_one(pool)
    .await
    .map_err(db)?;
    codec::sequence("events.sequence", max)
}

#[derive(FromRow)]
struct ProjectionRow {
    application_id: Uuid,
    customer_id: String,
    last_event_id: Uuid,
    last_event_type: String,
    last_sequence: i64,
    status: Option<String>,
    event_count: i64,
    updated_at: DateTime<Utc>,
}

pub(super) async fn projection(
    pool: &PgPool,
    application: ApplicationId,
) -> StoreResult<Option<ApplicationProjection>> {
    let row = sqlx::query_as::<_, ProjectionRow>(
        "SELECT application_id, customer_id, last_event_id, last_event_type, last_sequence,
                status, event_count, updated_at
         FROM application_projections WHERE application_id = $1",
    )
    .bind(application.0)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    let Some(r) = row else { return Ok(None) };
    const T: &str = "application_projections";
    Ok(Some(ApplicationProjection {
        application_id: ApplicationId(r.application_id),
        customer_id: codec::customer_id(T, &r.customer_id)?,
        status: r
            .status
            .map(|s| codec::known(T, ApplicationStatus::parse(&s)))
            .transpose()?,
        last_event_id: EventId(r.last_event_id),
        last_event_type: Topic::parse(&r.last_event_type)
            .map_err(|_| codec::corrupt(T, "has an unknown last_event_type"))?,
        last_sequence: codec::sequence(T, r.last_sequence)?,
        event_count: r.event_count,
        updated_at: r.updated_at,
    }))
}

#[derive(FromRow)]
struct AuditRow {
    event_id: Uuid,
    customer_id: String,
    application_id: Option<Uuid>,
    action: String,
    at: DateTime<Utc>,
}

pub(super) async fn audit_trail(
    pool: &PgPool,
    customer: &CustomerId,
    limit: i64,
) -> StoreResult<Vec<AuditEntry>> {
    sqlx::query_as::<_, AuditRow>(
        "SELECT event_id, customer_id, application_id, action, at FROM audit_log
         WHERE customer_id = $1 ORDER BY seq LIMIT $2",
    )
    .bind(customer.as_str())
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .into_iter()
    .map(|r| {
        Ok(AuditEntry {
            event_id: EventId(r.event_id),
            customer_id: codec::customer_id("audit_log.customer_id", &r.customer_id)?,
            application_id: r.application_id.map(ApplicationId),
            action: r.action,
            at: r.at,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()
}
