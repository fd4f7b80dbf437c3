//! The consumer side of the event flow: the event log with its projection, audit rows and
//! notifications, written in one transaction per batch, and the reads over it.

use super::batch::{Batch, MultiRow};
use super::codec::sequence_param;
use super::query::{sql, Columns};
use super::{Dialect, SqlStore};
use crate::domain::event::{Envelope, Topic};
use crate::domain::ids::{ApplicationId, CustomerId, EventId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationProjection, AuditEntry, EventLog, EventRecord, Notification, RecordOutcome,
    StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

#[async_trait]
impl<D: Dialect> EventLog for SqlStore<D> {
    /// Stores the event with its projection, audit row and notifications in one transaction, or
    /// nothing at all when the event id was already stored.
    async fn record_event(
        &self,
        event: &Envelope,
        audit: &AuditEntry,
        notifications: &[Notification],
    ) -> StoreResult<RecordOutcome> {
        let outcomes = self
            .record_all(std::iter::once((event, audit, notifications)))
            .await?;
        Ok(outcomes[0])
    }

    /// A consumer's whole poll batch in one transaction (one commit, one fsync).
    async fn record_events(&self, batch: &[EventRecord]) -> StoreResult<Vec<RecordOutcome>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.record_all(
            batch
                .iter()
                .map(|item| (&item.event, &item.audit, item.notifications.as_slice())),
        )
        .await
    }

    async fn events_after(
        &self,
        customer: &CustomerId,
        after_sequence: u64,
        limit: i64,
    ) -> StoreResult<Vec<Envelope>> {
        let statement = sql::<D>(
            "SELECT envelope FROM events WHERE customer_id = $1 AND sequence > $2
             ORDER BY sequence, event_id LIMIT $3",
        )
        .text(customer.as_str())
        .int(sequence_param(after_sequence))
        .int(limit);
        envelopes::<D>(statement.fetch_all(&mut *self.read_conn().await?).await?)
    }

    async fn event_of_customer(
        &self,
        customer: &CustomerId,
        event: EventId,
    ) -> StoreResult<Option<Envelope>> {
        let statement =
            sql::<D>("SELECT envelope FROM events WHERE event_id = $1 AND customer_id = $2")
                .uuid(event.0)
                .text(customer.as_str());
        let found = envelopes::<D>(statement.fetch_all(&mut *self.read_conn().await?).await?)?;
        Ok(found.into_iter().next())
    }

    async fn application_events(&self, application: ApplicationId) -> StoreResult<Vec<Envelope>> {
        let statement = sql::<D>(
            "SELECT envelope FROM events WHERE application_id = $1 ORDER BY sequence, event_id",
        )
        .uuid(application.0);
        envelopes::<D>(statement.fetch_all(&mut *self.read_conn().await?).await?)
    }

    async fn last_stored_sequence(&self, customer: &CustomerId) -> StoreResult<u64> {
        let row = sql::<D>(
            "SELECT COALESCE(MAX(sequence), 0) AS sequence FROM events WHERE customer_id = $1",
        )
        .text(customer.as_str())
        .fetch_one(&mut *self.read_conn().await?)
        .await?;
        Columns::<D>::of("events", &row).sequence("sequence")
    }

    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<Envelope>> {
        let statement = sql::<D>(
            "SELECT envelope FROM events ORDER BY occurred_at DESC, event_id DESC LIMIT $1",
        )
        .int(limit);
        envelopes::<D>(statement.fetch_all(&mut *self.read_conn().await?).await?)
    }

    async fn application_projection(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<ApplicationProjection>> {
        let Some(row) = sql::<D>(
            "SELECT application_id, customer_id, last_event_id, last_event_type, last_sequence,
                    status, event_count, updated_at
             FROM application_projections WHERE application_id = $1",
        )
        .uuid(application.0)
        .fetch_optional(&mut *self.read_conn().await?)
        .await?
        else {
            return Ok(None);
        };
        let c = Columns::<D>::of("application_projections", &row);
        Ok(Some(ApplicationProjection {
            application_id: c.id("application_id", ApplicationId)?,
            customer_id: c.customer_id("customer_id")?,
            status: c
                .opt_text("status")?
                .map(|_| c.known("status", ApplicationStatus::parse))
                .transpose()?,
            last_event_id: c.id("last_event_id", EventId)?,
            last_event_type: c.known("last_event_type", |t| Topic::parse(t).ok())?,
            last_sequence: c.sequence("last_sequence")?,
            event_count: c.int("event_count")?,
            updated_at: c.instant("updated_at")?,
        }))
    }

    async fn audit_trail(&self, customer: &CustomerId, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        sql::<D>(
            "SELECT event_id, customer_id, application_id, action, at FROM audit_log
             WHERE customer_id = $1 ORDER BY seq LIMIT $2",
        )
        .text(customer.as_str())
        .int(limit)
        .fetch_all(&mut *self.read_conn().await?)
        .await?
        .iter()
        .map(|row| {
            let c = Columns::<D>::of("audit_log", row);
            Ok(AuditEntry {
                event_id: c.id("event_id", EventId)?,
                customer_id: c.customer_id("customer_id")?,
                application_id: c.opt_id("application_id", ApplicationId)?,
                action: c.text("action")?,
                at: c.instant("at")?,
            })
        })
        .collect()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Records each event as `record_event` describes, all in one transaction and two batches:
    /// the events first (which of them are new is what their inserts return), then the
    /// projections, audit rows and notifications of the new ones.
    async fn record_all<'a>(
        &self,
        items: impl Iterator<Item = (&'a Envelope, &'a AuditEntry, &'a [Notification])> + Send,
    ) -> StoreResult<Vec<RecordOutcome>> {
        let now = Utc::now();
        let items: Vec<_> = items.collect();
        let mut events = Batch::new();
        for (event, _, _) in &items {
            push_event(&mut events, event, now);
        }
        let mut tx = self.write_tx().await?;
        let mut inserted = events
            .fetch_all::<D>(&mut tx)
            .await?
            .iter()
            .map(|row| Columns::<D>::of("events", row).id("event_id", EventId))
            .collect::<StoreResult<HashSet<EventId>>>()?;
        // Statements of a kind together, so that batches of the same events take the same
        // shape (the database keeps each shape prepared).
        let (mut projections, mut audits, mut mail) = (Batch::new(), Batch::new(), Batch::new());
        let mut outcomes = Vec::with_capacity(items.len());
        for (event, audit, notifications) in items {
            // An event twice in one batch is new the first time only.
            if !inserted.remove(&event.id) {
                // The first delivery already wrote everything else; nothing is written now.
                outcomes.push(RecordOutcome::Duplicate);
                continue;
            }
            if let Some(application) = event.application_id {
                push_projection(&mut projections, application, event, now);
            }
            push_audit(&mut audits, audit);
            for n in notifications {
                push_notification(&mut mail, n);
            }
            outcomes.push(RecordOutcome::Inserted);
        }
        let mut rest = projections;
        rest.append(audits);
        rest.append(mail);
        rest.execute::<D>(&mut tx).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}

fn envelopes<D: Dialect>(rows: Vec<D::Row>) -> StoreResult<Vec<Envelope>> {
    rows.iter()
        .map(|row| Columns::<D>::of("events", row).json("envelope"))
        .collect()
}

/// Events not stored yet; returns the ids of those it stored.
static EVENT_ROWS: MultiRow = MultiRow {
    head: "INSERT INTO events
             (event_id, customer_id, sequence, application_id, topic, occurred_at, envelope,
              stored_at)
           VALUES",
    row: "($1, $2, $3, $4, $5, $6, $7, $8)",
    tail: "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
};

static AUDIT_ROWS: MultiRow = MultiRow {
    head: "INSERT INTO audit_log (event_id, customer_id, application_id, action, at) VALUES",
    row: "($1, $2, $3, $4, $5)",
    tail: "",
};

/// Notifications, due at once; one with the same id already queued is left as is.
static NOTIFICATION_ROWS: MultiRow = MultiRow {
    head: "INSERT INTO notifications
             (id, event_id, kind, event_type, application_id, correlation_id, recipient,
              subject, body, created_at, attempts, next_attempt_at)
           VALUES",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)",
    tail: "ON CONFLICT (id) DO NOTHING",
};

/// Stores the event unless its id is stored already; returns its id when it was new.
fn push_event(batch: &mut Batch, event: &Envelope, now: DateTime<Utc>) {
    batch
        .push_row(&EVENT_ROWS)
        .uuid(event.id.0)
        .text(event.customer_id.as_str())
        .int(sequence_param(event.sequence))
        .opt_uuid(event.application_id.map(|a| a.0))
        .text(event.topic.as_str())
        .instant(event.occurred_at)
        .json(event)
        .instant(now);
}

fn push_audit(batch: &mut Batch, audit: &AuditEntry) {
    batch
        .push_row(&AUDIT_ROWS)
        .uuid(audit.event_id.0)
        .text(audit.customer_id.as_str())
        .opt_uuid(audit.application_id.map(|a| a.0))
        .text(audit.action.as_str())
        .instant(audit.at);
}

/// Enqueues a notification, due at once; one with the same id already queued is left as is.
pub(super) fn push_notification(batch: &mut Batch, n: &Notification) {
    batch
        .push_row(&NOTIFICATION_ROWS)
        .text(n.id.as_str())
        .uuid(n.event_id.0)
        .text(n.kind.as_str())
        .text(n.event_type.as_str())
        .opt_uuid(n.application_id.map(|a| a.0))
        .opt_text(n.correlation_id.as_deref())
        .text(n.recipient.as_str())
        .text(n.subject.as_str())
        .text(n.body.as_str())
        // Due at once: the first attempt happens as soon as a delivery worker looks.
        .instant(n.created_at)
        .int(i64::from(n.attempts));
}

/// Folds one new event into the application's projection. Fields move only forward in
/// sequence order; every UPDATE expression reads the row as it was before this statement, and
/// the upsert serialises concurrent events of one application (a row lock, or SQLite's writer).
fn push_projection(
    batch: &mut Batch,
    application: ApplicationId,
    event: &Envelope,
    now: DateTime<Utc>,
) {
    let status = event
        .data
        .get("status")
        .and_then(|s| s.as_str())
        .and_then(ApplicationStatus::parse)
        .map(ApplicationStatus::as_str);
    batch
        .push(
            "INSERT INTO application_projections AS p
               (application_id, customer_id, last_event_id, last_event_type, last_sequence,
                status, status_sequence, event_count, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 IS NULL THEN 0 ELSE $5 END, 1, $7)
             ON CONFLICT (application_id) DO UPDATE SET
               last_event_id = CASE WHEN excluded.last_sequence > p.last_sequence
                 THEN excluded.last_event_id ELSE p.last_event_id END,
               last_event_type = CASE WHEN excluded.last_sequence > p.last_sequence
                 THEN excluded.last_event_type ELSE p.last_event_type END,
               last_sequence = CASE WHEN excluded.last_sequence > p.last_sequence
                 THEN excluded.last_sequence ELSE p.last_sequence END,
               status = CASE WHEN excluded.status IS NOT NULL
                              AND excluded.status_sequence > p.status_sequence
                 THEN excluded.status ELSE p.status END,
               status_sequence = CASE WHEN excluded.status IS NOT NULL
                              AND excluded.status_sequence > p.status_sequence
                 THEN excluded.status_sequence ELSE p.status_sequence END,
               event_count = p.event_count + 1,
               updated_at = excluded.updated_at",
        )
        .uuid(application.0)
        .text(event.customer_id.as_str())
        .uuid(event.id.0)
        .text(event.topic.as_str())
        .int(sequence_param(event.sequence))
        .opt_text(status)
        .instant(now);
}
