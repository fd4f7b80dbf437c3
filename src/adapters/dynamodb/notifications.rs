//! The notification queue on DynamoDB. An undelivered notification carries `dueShard = "due"`
//! and its next attempt (`nextAttemptAt`, epoch ms), so the sparse GSI `dueShard-nextAttemptAt`
//! lists what is due in time order. A dispatcher claims each one with a conditional update
//! that moves its next attempt past the lease only if nobody moved it first; delivery removes
//! `dueShard`, which takes it out of the index for good.

use super::codec::{millis, n, s, sdk_error};
use super::records;
use super::state::PartitionQuery;
use super::tables::{attr, index};
use super::DynamoStore;
use crate::ports::store::{
    Notification, NotificationQueue, ParkedNotification, StoreResult, NOTIFICATION_LEASE,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

/// The one partition of the due index.
pub(super) const DUE: &str = "due";

/// Delivery marks sent at the same time.
const CONCURRENT_MARKS: usize = 16;

/// Candidates read from the due index per notification a poll asks for.
const CANDIDATES_PER_CLAIM: usize = 2;

fn is_condition_failure<R>(e: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>) -> bool {
    e.as_service_error()
        .is_some_and(UpdateItemError::is_conditional_check_failed_exception)
}

/// Sends a conditional update: `false` when its condition did not hold.
pub(super) async fn conditionally(update: UpdateItemFluentBuilder) -> StoreResult<bool> {
    match update.send().await {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(sdk_error("UpdateItem", e)),
    }
}

impl DynamoStore {
    /// An `UpdateItem` of notification `id`.
    fn update_notification(&self, id: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.tables.notifications)
            .key(attr::NOTIFICATION_ID, s(id))
    }

    /// Claims the notification if its next attempt is still `seen`; `None` when another
    /// dispatcher claimed it (or it was delivered) meanwhile.
    async fn claim(
        &self,
        id: &str,
        seen: i64,
        lease_end: DateTime<Utc>,
    ) -> StoreResult<Option<Notification>> {
        let result = self
            .update_notification(id)
            .update_expression("SET #next = :lease")
            .condition_expression("#next = :seen AND attribute_exists(#due)")
            .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
            .expression_attribute_names("#due", attr::DUE_SHARD)
            .expression_attribute_values(":lease", n(millis(lease_end)))
            .expression_attribute_values(":seen", n(seen))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out
                .attributes
                .map(|item| records::notification_record(&item))
                .transpose(),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }
}

#[async_trait]
impl NotificationQueue for DynamoStore {
    /// Walks the due index in next-attempt order and claims up to `limit`; the claimed ones
    /// are returned oldest first. ("Oldest" among the due ones read: the index orders by next
    /// attempt, which for never-tried notifications is their creation.)
    async fn notifications_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        let Ok(limit) = usize::try_from(limit) else {
            return Ok(Vec::new());
        };
        let lease_end = now + chrono::Duration::from_std(NOTIFICATION_LEASE).unwrap_or_default();
        // Read a few more than asked for, as concurrent dispatchers may claim some first; a
        // backlog is never read whole on one poll.
        let q = PartitionQuery {
            index: Some(index::NOTIFICATIONS_DUE),
            sort: Some((attr::NEXT_ATTEMPT_AT, "<=", n(millis(now)))),
            limit: Some(limit.saturating_mul(CANDIDATES_PER_CLAIM)),
            ..PartitionQuery::new(&self.tables.notifications, attr::DUE_SHARD, s(DUE))
        };
        let mut claimed = Vec::new();
        for item in self.query(q).await? {
            if claimed.len() >= limit {
                break;
            }
            let f = super::codec::Fields::of("notifications", &item);
            let (id, seen) = (
                f.text(attr::NOTIFICATION_ID)?,
                f.int(attr::NEXT_ATTEMPT_AT)?,
            );
            if let Some(notification) = self.claim(&id, seen, lease_end).await? {
                claimed.push(notification);
            }
        }
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    /// One conditional `UpdateItem` per id, up to [`CONCURRENT_MARKS`] at a time (a batch write
    /// cannot be conditional, and a transaction fails whole on one unknown id). Keeps the first
    /// delivery time; unknown ids are ignored.
    async fn notifications_delivered(&self, ids: &[String], at: DateTime<Utc>) -> StoreResult<()> {
        let updates: Vec<UpdateItemFluentBuilder> = ids
            .iter()
            .map(|id| {
                self.update_notification(id)
                    .update_expression(
                        "SET #delivered = if_not_exists(#delivered, :at) REMOVE #due",
                    )
                    .condition_expression("attribute_exists(#id)")
                    .expression_attribute_names("#delivered", "deliveredAt")
                    .expression_attribute_names("#due", attr::DUE_SHARD)
                    .expression_attribute_names("#id", attr::NOTIFICATION_ID)
                    .expression_attribute_values(":at", n(millis(at)))
            })
            .collect();
        futures::stream::iter(updates)
            .map(conditionally)
            .buffer_unordered(CONCURRENT_MARKS)
            .try_for_each(|_| futures::future::ready(Ok(())))
            .await
    }

    /// Counts the attempt and schedules the next one, unless it was delivered meanwhile.
    async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let update = self
            .update_notification(id)
            .update_expression("SET #attempts = #attempts + :one, #error = :error, #next = :retry")
            .condition_expression("attribute_exists(#due)")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_names("#error", "lastError")
            .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
            .expression_attribute_names("#due", attr::DUE_SHARD)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":error", s(error))
            .expression_attribute_values(":retry", n(millis(retry_at)));
        conditionally(update).await.map(drop)
    }

    /// The due index from `parked_from` on: parked notifications wait there with a next
    /// attempt far ahead (the dispatcher's `parked_until`); listed oldest first.
    async fn parked_notifications(
        &self,
        parked_from: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ParkedNotification>> {
        let Ok(limit) = usize::try_from(limit) else {
            return Ok(Vec::new());
        };
        let q = PartitionQuery {
            index: Some(index::NOTIFICATIONS_DUE),
            sort: Some((attr::NEXT_ATTEMPT_AT, ">=", n(millis(parked_from)))),
            ..PartitionQuery::new(&self.tables.notifications, attr::DUE_SHARD, s(DUE))
        };
        let mut parked = Vec::new();
        for item in self.query(q).await? {
            let f = super::codec::Fields::of("notifications", &item);
            let notification = records::notification_record(&item)?;
            parked.push(ParkedNotification {
                id: notification.id,
                event_id: notification.event_id,
                kind: notification.kind,
                created_at: notification.created_at,
                attempts: notification.attempts,
                last_error: f.opt_text("lastError")?,
            });
        }
        parked.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        parked.truncate(limit);
        Ok(parked)
    }

    /// Due at `now` again, only while it is still parked and undelivered.
    async fn redrive_notification(
        &self,
        id: &str,
        parked_from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let update = self
            .update_notification(id)
            .update_expression("SET #next = :now")
            .condition_expression("attribute_exists(#due) AND #next >= :parked")
            .expression_attribute_names("#next", attr::NEXT_ATTEMPT_AT)
            .expression_attribute_names("#due", attr::DUE_SHARD)
            .expression_attribute_values(":now", n(millis(now)))
            .expression_attribute_values(":parked", n(millis(parked_from)));
        conditionally(update).await
    }
}
