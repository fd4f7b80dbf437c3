//! The notification queue the consumers fill and the delivery worker drains, with retries.

use super::codec;
use super::error::db;
use crate::ports::store::{Notification, NotificationKind, StoreResult, NOTIFICATION_LEASE};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, SqlitePool};

#[derive(FromRow)]
struct NotificationRow {
    id: String,
    event_id: String,
    kind: String,
    recipient: String,
    subject: String,
    body: String,
    created_at: String,
    attempts: i64,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = crate::ports::store::StoreError;
    fn try_from(r: NotificationRow) -> StoreResult<Self> {
        Ok(Self {
            event_id: codec::event_id("notifications.event_id", &r.event_id)?,
            kind: codec::known("notifications.kind", NotificationKind::parse(&r.kind))?,
            id: r.id,
            recipient: r.recipient,
            subject: r.subject,
            body: r.body,
            created_at: codec::parse_ts("notifications.created_at", &r.created_at)?,
            attempts: u32::try_from(r.attempts)
                .map_err(|_| codec::corrupt("notifications.attempts", "is out of range"))?,
        })
    }
}

/// Claims due notifications for [`NOTIFICATION_LEASE`]: their next attempt moves past the lease,
/// so a second dispatcher never takes the same one while the first delivers it.
pub(super) async fn claim_due(
    write: &SqlitePool,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<Notification>> {
    let lease_end = now + chrono::Duration::from_std(NOTIFICATION_LEASE).unwrap_or_default();
    let mut claimed = sqlx::query_as::<_, NotificationRow>(
        "UPDATE notifications SET next_attempt_at = ?
         WHERE id IN (SELECT id FROM notifications
                      WHERE delivered_at IS NULL AND next_attempt_at <= ?
                      ORDER BY created_at, id LIMIT ?)
         RETURNING id, event_id, kind, recipient, subject, body, created_at, attempts",
    )
    .bind(codec::ts(lease_end))
    .bind(codec::ts(now))
    .bind(limit)
    .fetch_all(write)
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
pub(super) async fn delivered(write: &SqlitePool, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
    sqlx::query("UPDATE notifications SET delivered_at = COALESCE(delivered_at, ?) WHERE id = ?")
        .bind(codec::ts(at))
        .bind(id)
        .execute(write)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn failed(
    write: &SqlitePool,
    id: &str,
    error: &str,
    retry_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE notifications
         SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
         WHERE id = ? AND delivered_at IS NULL",
    )
    .bind(error)
    .bind(codec::ts(retry_at))
    .bind(id)
    .execute(write)
    .await
    .map_err(db)?;
    Ok(())
}
