//! The notification queue the consumers fill and the delivery worker drains, with retries and
//! claim leases.

use super::query::{parameter_list, sql, Columns, MAX_IDS_PER_STATEMENT};
use super::{Dialect, SqlStore};
use crate::domain::event::Topic;
use crate::domain::ids::{ApplicationId, EventId};
use crate::ports::store::{
    Notification, NotificationKind, NotificationQueue, ParkedNotification, StoreResult,
    NOTIFICATION_LEASE,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Claims up to `$3` notifications due at `$2` until `$1`, in the due index's order.
fn claim_statement<D: Dialect>() -> String {
    format!(
        "UPDATE notifications SET next_attempt_at = $1
         WHERE id IN (SELECT id FROM notifications
                      WHERE delivered_at IS NULL AND next_attempt_at <= $2
                      ORDER BY next_attempt_at, id LIMIT $3{})
         RETURNING id, event_id, kind, event_type, application_id, correlation_id, recipient,
                   subject, body, created_at, attempts",
        D::LOCKING.skip_locked()
    )
}

#[async_trait]
impl<D: Dialect> NotificationQueue for SqlStore<D> {
    /// Claims due notifications for [`NOTIFICATION_LEASE`] in one statement: their next attempt
    /// moves past the lease, so a second dispatcher never takes the same one while the first
    /// delivers it. Where rows can be locked, concurrent claims skip each other's rows. The
    /// batch comes off the front of the due index (next attempt, id), so a claim costs the
    /// same however long the backlog is.
    async fn notifications_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        let lease_end = now + chrono::Duration::from_std(NOTIFICATION_LEASE).unwrap_or_default();
        let statement = claim_statement::<D>();
        let mut claimed = sql::<D>(&statement)
            .instant(lease_end)
            .instant(now)
            .int(limit)
            .fetch_all_committed(self)
            .await?
            .iter()
            .map(|row| {
                let c = Columns::<D>::of("notifications", row);
                Ok(Notification {
                    id: c.text("id")?,
                    event_id: c.id("event_id", EventId)?,
                    kind: c.known("kind", NotificationKind::parse)?,
                    event_type: c.known("event_type", |raw| Topic::parse(raw).ok())?,
                    application_id: c.opt_id("application_id", ApplicationId)?,
                    correlation_id: c.opt_text("correlation_id")?,
                    recipient: c.text("recipient")?,
                    subject: c.text("subject")?,
                    body: c.text("body")?,
                    created_at: c.instant("created_at")?,
                    attempts: u32::try_from(c.int("attempts")?)
                        .map_err(|_| super::corrupt("notifications.attempts", "is out of range"))?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // RETURNING does not keep the subquery's order.
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    /// One `UPDATE … IN (…)` per [`MAX_IDS_PER_STATEMENT`] ids (a dispatcher's batch is one).
    /// Each is committed on its own: a mark is idempotent, so a failure halfway leaves only
    /// notifications that are sent again, as they would be if their mark alone had failed.
    async fn notifications_delivered(&self, ids: &[String], at: DateTime<Utc>) -> StoreResult<()> {
        for chunk in ids.chunks(MAX_IDS_PER_STATEMENT) {
            let statement = format!(
                "UPDATE notifications SET delivered_at = COALESCE(delivered_at, $1)
                 WHERE id IN ({})",
                parameter_list(2, chunk.len())
            );
            chunk
                .iter()
                .fold(sql::<D>(&statement).instant(at), |statement, id| {
                    statement.text(id)
                })
                .execute_committed(self)
                .await?;
        }
        Ok(())
    }

    async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sql::<D>(
            "UPDATE notifications
             SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2
             WHERE id = $3 AND delivered_at IS NULL",
        )
        .text(error)
        .instant(retry_at)
        .text(id)
        .execute_committed(self)
        .await?;
        Ok(())
    }

    async fn parked_notifications(
        &self,
        parked_from: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ParkedNotification>> {
        sql::<D>(
            "SELECT id, event_id, kind, created_at, attempts, last_error FROM notifications
             WHERE delivered_at IS NULL AND next_attempt_at >= $1
             ORDER BY created_at, id LIMIT $2",
        )
        .instant(parked_from)
        .int(limit)
        .fetch_all(&mut *self.read_conn().await?)
        .await?
        .iter()
        .map(|row| {
            let c = Columns::<D>::of("notifications", row);
            Ok(ParkedNotification {
                id: c.text("id")?,
                event_id: c.id("event_id", EventId)?,
                kind: c.known("kind", NotificationKind::parse)?,
                created_at: c.instant("created_at")?,
                attempts: u32::try_from(c.int("attempts")?)
                    .map_err(|_| super::corrupt("notifications.attempts", "is out of range"))?,
                last_error: c.opt_text("last_error")?,
            })
        })
        .collect()
    }

    async fn redrive_notification(
        &self,
        id: &str,
        parked_from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let changed = sql::<D>(
            "UPDATE notifications SET next_attempt_at = $1
             WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at >= $3",
        )
        .instant(now)
        .text(id)
        .instant(parked_from)
        .execute_committed(self)
        .await?;
        Ok(changed > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sqlite::SqliteStore;

    /// The claim's cost must not grow with the backlog: it takes its batch off the front of the
    /// due index instead of sorting every due row (`USE TEMP B-TREE FOR ORDER BY`).
    #[tokio::test]
    async fn a_claim_reads_the_due_index_in_order_without_sorting() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("onboard.db"))
            .await
            .expect("open");
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "EXPLAIN QUERY PLAN {}",
            claim_statement::<sqlx::Sqlite>()
        ))
        .fetch_all(&store.read)
        .await
        .expect("plan");
        let steps: Vec<&str> = plan.iter().map(|(.., detail)| detail.as_str()).collect();
        assert!(
            steps
                .iter()
                .any(|step| step.contains("USING INDEX notifications_due")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|step| step.contains("TEMP B-TREE")),
            "{steps:?}"
        );
    }
}
