//! The operations log on DynamoDB, in the `operations` table (`opKey`, `opSort`): a replay of a
//! dead-lettered record is an item `dlq#<record id>` / `<replayed at>#<uuid>`, so one `Query`
//! lists a record's replays in time order; a stall alert is an item `stall#<application>` /
//! `<status>#<since>`, put with `attribute_not_exists` in the same `TransactWriteItems` as
//! its notification, so a stall is alerted once however many monitors race. The stall query
//! reads the applications table's sparse index of in-progress applications
//! (`inProgressStatus-updatedAt`), so it costs what it finds, not the table's size.

use super::codec::{build_error, millis, n, s, sdk_error, time_key, Fields, Item, ItemBuilder};
use super::records;
use super::state::PartitionQuery;
use super::tables::{attr, index};
use super::DynamoStore;
use crate::domain::workflow::ApplicationStatus;
use crate::ports::operations::{DeadLetterReplay, OperationsLog, Stall};
use crate::ports::store::{ApplicationRecord, Notification, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use chrono::{DateTime, Utc};

fn replay_key(record_id: &str) -> String {
    format!("dlq#{record_id}")
}

fn replay_item(r: &DeadLetterReplay) -> Item {
    ItemBuilder::default()
        .s(attr::OP_KEY, replay_key(&r.record_id))
        .s(attr::OP_SORT, time_key(r.replayed_at, uuid::Uuid::now_v7()))
        .s("recordId", r.record_id.as_str())
        .s("originTopic", r.origin_topic.as_str())
        .opt_s("eventId", r.event_id.as_deref())
        .s("replayedTo", r.replayed_to.as_str())
        .s("replayedBy", r.replayed_by.as_str())
        .s("reason", r.reason.as_str())
        .n("forced", i64::from(r.forced))
        .instant("replayedAt", r.replayed_at)
        .build()
}

fn replay_record(item: &Item) -> StoreResult<DeadLetterReplay> {
    let f = Fields::of("operations", item);
    Ok(DeadLetterReplay {
        record_id: f.text("recordId")?,
        origin_topic: f.text("originTopic")?,
        event_id: f.opt_text("eventId")?,
        replayed_to: f.text("replayedTo")?,
        replayed_by: f.text("replayedBy")?,
        reason: f.text("reason")?,
        forced: f.int("forced")? != 0,
        replayed_at: f.instant("replayedAt")?,
    })
}

#[async_trait]
impl OperationsLog for DynamoStore {
    async fn record_dead_letter_replay(&self, replay: &DeadLetterReplay) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.tables.operations)
            .set_item(Some(replay_item(replay)))
            .send()
            .await
            .map_err(|e| sdk_error("PutItem", e))?;
        Ok(())
    }

    async fn dead_letter_replays(&self, record_id: &str) -> StoreResult<Vec<DeadLetterReplay>> {
        let q = PartitionQuery::new(
            &self.tables.operations,
            attr::OP_KEY,
            s(replay_key(record_id)),
        );
        self.query(q).await?.iter().map(replay_record).collect()
    }

    /// Queries the sparse in-progress index for the status's applications changed before the
    /// cut-off (oldest first), then reads each candidate consistently from the table: the
    /// index may lag a moment behind, and an application that just moved on is not stalled.
    async fn applications_stalled_in(
        &self,
        status: ApplicationStatus,
        changed_before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ApplicationRecord>> {
        let Ok(limit) = usize::try_from(limit) else {
            return Ok(Vec::new());
        };
        let q = PartitionQuery {
            index: Some(index::APPLICATIONS_IN_PROGRESS),
            sort: Some((attr::UPDATED_AT, "<", n(millis(changed_before)))),
            limit: Some(limit),
            ..PartitionQuery::new(
                &self.tables.applications,
                attr::IN_PROGRESS_STATUS,
                s(status.as_str()),
            )
        };
        let mut found = Vec::new();
        for candidate in self.query(q).await? {
            let id = Fields::of("applications", &candidate).text(attr::APPLICATION_ID)?;
            let Some(item) = self
                .get(&self.tables.applications, attr::APPLICATION_ID, id)
                .await?
            else {
                continue;
            };
            let (app, _) = records::application_record(&item)?;
            if app.status == status && app.updated_at < changed_before {
                found.push(app);
            }
        }
        found.sort_by(|a, b| {
            (a.updated_at, a.application_id).cmp(&(b.updated_at, b.application_id))
        });
        Ok(found)
    }

    async fn claim_stall_alert(
        &self,
        stall: &Stall,
        alert: &Notification,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let claim = ItemBuilder::default()
            .s(attr::OP_KEY, format!("stall#{}", stall.application_id))
            .s(
                attr::OP_SORT,
                format!(
                    "{}#{:015}",
                    stall.status.as_str(),
                    millis(stall.since).max(0)
                ),
            )
            .instant("alertedAt", at)
            .build();
        let claim = Put::builder()
            .table_name(&self.tables.operations)
            .set_item(Some(claim))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", attr::OP_KEY)
            .build()
            .map_err(build_error)?;
        let notification = Put::builder()
            .table_name(&self.tables.notifications)
            .set_item(Some(records::notification_item(alert)))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", attr::NOTIFICATION_ID)
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().put(notification).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(false)
                }
                _ => Err(sdk_error("TransactWriteItems", e)),
            },
        }
    }
}
