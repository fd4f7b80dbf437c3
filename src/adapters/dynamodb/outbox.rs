//! The transactional outbox on DynamoDB: one partition (`stream = "pending"`) ordered by `seq`,
//! written by [`super::tx::DynamoTx::commit`] with the step's state; the relay reads it in
//! order with a consistent `Query` and deletes the rows the bus acknowledged.

use super::codec::{n, s, Fields, Item, ItemBuilder};
use super::state::PartitionQuery;
use super::tables::attr;
use super::DynamoStore;
use crate::domain::event::Envelope;
use crate::ports::store::{Outbox, OutboxRecord, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The partition every unsent row lives in.
pub(super) const PENDING: &str = "pending";

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
        let keys = seqs
            .iter()
            .map(|seq| {
                Item::from([
                    (attr::STREAM.into(), s(PENDING)),
                    (attr::SEQ.into(), n(seq)),
                ])
            })
            .collect();
        self.delete_in_batches(&self.tables.outbox, keys).await
    }
}
