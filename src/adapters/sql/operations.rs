//! The operations log on SQL: audit rows of dead-letter replays, the stall query, and stall
//! alerts claimed by the `stall_alerts` key in the transaction that enqueues the alert.

use super::batch::Batch;
use super::events::push_notification;
use super::query::{sql, Columns};
use super::state::applications_stalled_in;
use super::{Dialect, SqlStore};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::operations::{DeadLetterReplay, OperationsLog, Stall};
use crate::ports::store::{ApplicationRecord, Notification, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl<D: Dialect> OperationsLog for SqlStore<D> {
    async fn record_dead_letter_replay(&self, r: &DeadLetterReplay) -> StoreResult<()> {
        sql::<D>(
            "INSERT INTO dead_letter_replays
               (record_id, origin_topic, event_id, replayed_to, replayed_by, reason, forced,
                replayed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .text(r.record_id.as_str())
        .text(r.origin_topic.as_str())
        .opt_text(r.event_id.as_deref())
        .text(r.replayed_to.as_str())
        .text(r.replayed_by.as_str())
        .text(r.reason.as_str())
        .int(i64::from(r.forced))
        .instant(r.replayed_at)
        .execute_committed(self)
        .await?;
        Ok(())
    }

    async fn dead_letter_replays(&self, record_id: &str) -> StoreResult<Vec<DeadLetterReplay>> {
        sql::<D>(
            "SELECT record_id, origin_topic, event_id, replayed_to, replayed_by, reason, forced,
                    replayed_at
             FROM dead_letter_replays WHERE record_id = $1 ORDER BY seq",
        )
        .text(record_id)
        // From the writer: a replay that just committed must be seen by the next refusal check.
        .fetch_all_committed(self)
        .await?
        .iter()
        .map(|row| {
            let c = Columns::<D>::of("dead_letter_replays", row);
            Ok(DeadLetterReplay {
                record_id: c.text("record_id")?,
                origin_topic: c.text("origin_topic")?,
                event_id: c.opt_text("event_id")?,
                replayed_to: c.text("replayed_to")?,
                replayed_by: c.text("replayed_by")?,
                reason: c.text("reason")?,
                forced: c.int("forced")? != 0,
                replayed_at: c.instant("replayed_at")?,
            })
        })
        .collect()
    }

    async fn applications_stalled_in(
        &self,
        status: ApplicationStatus,
        changed_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        applications_stalled_in::<D>(&mut *self.read_conn().await?, status, changed_before, limit)
            .await
    }

    async fn claim_stall_alert(
        &self,
        stall: &Stall,
        alert: &Notification,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let claimed = sql::<D>(
            "INSERT INTO stall_alerts (application_id, status, since, alerted_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .uuid(stall.application_id.0)
        .text(stall.status.as_str())
        .instant(stall.since)
        .instant(at)
        .execute(&mut *tx)
        .await?
            == 1;
        if claimed {
            let mut batch = Batch::new();
            push_notification(&mut batch, alert);
            batch.execute::<D>(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }
}
