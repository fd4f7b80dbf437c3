//! The notification queue the consumers fill and the delivery worker drains, with retries.

use super::codec;
use super::error::db;
use crate::domain::ids::EventId;
use crate::ports::store::{
    Notification, NotificationKind, StoreError, StoreResult, NOTIFICATION_LEASE,
};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

#[derive(FromRow)]
struct NotificationRow {
    id: String,
    event_id: Uuid,
    kind: String,
    recipient: String,
    subject: String,
    body: String,
    created_at: DateTime<Utc>,
    attempts: i64,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = StoreError;
    fn try_from(r: NotificationRow) -> StoreResult<Self> {
        Ok(Self {
            event_id: EventId(r.event_id),
            kind: codec::known("notifications.kind", NotificationKind::parse(&r.kind))?,
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            body: r.body,
            created_at: r.created_at,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| codec::corrupt("notifications.attempts", "is out of range"))?,
        })
    }
}

/// Claims due notifications for [`NOTIFICATION_LEASE`] in one statement; `SKIP LOCKED` lets
/// dispatchers in several consumer processes claim disjoint sets without waiting on each other.
pub(super) async fn claim_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<Notification>> {
    let lease_end = now + chrono::Duration::from_std(NOTIFICATION_LEASE).unwrap_or_default();
    let mut claimed = sqlx::query_as::<_, NotificationRow>(
        "UPDATE notifications SET next_attempt_at = $1
         WHERE id IN (SELECT id FROM notifications
                      WHERE delivered_at IS NULL AND next_attempt_at <= $2
                      ORDER BY created_at, id LIMIT $3
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, kind, recipient, subject, body, created_at, attempts",
    )
    .bind(lease_end)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .into_iter()
    .map(Notification::try_from)
    .collect::<StoreResult<Vec<_>>>()?;
    // RETURNING does not keep the subquery's order.
    claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(claimed)
}

/// Marks the notification delivered; a repeated call keeps the first delivery time.
pub(super) async fn delivered(pool: &PgPool, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
    sqlx::query("UPDATE notifications SET delivered_at = COALESCE(delivered_at, $1) WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn failed(
    pool: &PgPool,
    id: &str,
    error: &str,
    retry_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE notifications
         SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2
         WHERE id = $3 AND delivered_at IS NULL",
    )
    .bind(error)
    .bind(retry_at)
    .bind(id)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}
