//! The transactional outbox on DynamoDB: one partition (`stream = "pending"`) ordered by `seq`,
//! written by [`super::tx::DynamoTx::commit`] with the step's state; the relay reads it in
//! order with a consistent `Query` and deletes the rows the bus acknowledged.

use super::codec::{n, s, sdk_error, Fields, Item, ItemBuilder};
use super::state::PartitionQuery;
use super::tables::attr;
use super::DynamoStore;
use crate::domain::event::Envelope;
use crate::ports::store::{Outbox, OutboxRecord, StoreError, StoreResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use chrono::{DateTime, Utc};

/// The partition every unsent row lives in.
pub(super) const PENDING: &str = "pending";

/// `BatchWriteItem` takes at most this many requests.
const BATCH_WRITE_LIMIT: usize = 25;

/// How many times unprocessed deletes are sent again before giving up (retryably).
const UNPROCESSED_ROUNDS: usize = 8;

pub(super) fn outbox_item(seq: i64, envelope: &Envelope, now: DateTime<Utc>) -> StoreResult<Item> {
    Ok(ItemBuilder::default()
        .s(attr::STREAM, PENDING)
        .n(attr::SEQ, seq)
        .s(attr::EVENT_ID, envelope.id.to_string())
        .s(attr::CUSTOMER_ID, envelope.customer_id.as_str())
        .s("topic", envelope.topic.as_str())
        .json("envelope", envelope)?
        .instant("createdAt", now)
        .build())
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn outbox_pending(&self, limit: i64) -> StoreResult<Vec<OutboxRecord>> {
        let q = PartitionQuery {
            limit: Some(usize::try_from(limit.max(0)).unwrap_or(usize::MAX)),
            ..PartitionQuery::new(&self.tables.outbox, attr::STREAM, s(PENDING))
        };
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.query(q)
            .await?
            .iter()
            .map(|item| {
                let f = Fields::of("outbox", item);
                Ok(OutboxRecord {
                    seq: f.int(attr::SEQ)?,
                    envelope: f.json("envelope")?,
                })
            })
            .collect()
    }

    /// Deletes the rows (`BatchWriteItem`, resending what DynamoDB left unprocessed).
    async fn outbox_mark_sent(&self, seqs: &[i64]) -> StoreResult<()> {
        for chunk in seqs.chunks(BATCH_WRITE_LIMIT) {
            let mut requests = chunk
                .iter()
                .map(|seq| {
                    DeleteRequest::builder()
                        .key(attr::STREAM, s(PENDING))
                        .key(attr::SEQ, n(seq))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(super::codec::build_error)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            for _ in 0..UNPROCESSED_ROUNDS {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.tables.outbox, requests)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.tables.outbox))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable(
                    "DynamoDB kept leaving outbox deletes unprocessed".into(),
                ));
            }
        }
        Ok(())
    }
}
