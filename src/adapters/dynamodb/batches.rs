//! Many items of one table at once: consistent reads with `BatchGetItem` (100 keys per
//! request) and deletes with `BatchWriteItem` (25 per request). What DynamoDB leaves
//! unprocessed (throttling) is sent again after a pause that doubles each round, a bounded
//! number of times; then the call fails retryably.

use super::codec::{build_error, s, sdk_error, Item};
use super::DynamoStore;
use crate::ports::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, WriteRequest};
use std::time::Duration;

/// `BatchWriteItem` takes at most this many requests.
const BATCH_WRITE_LIMIT: usize = 25;
/// `BatchGetItem` reads at most this many keys.
const BATCH_GET_LIMIT: usize = 100;

/// How many times unprocessed keys are sent again before giving up (retryably).
const UNPROCESSED_ROUNDS: u32 = 8;
/// The pause before the first resending; it doubles each round, up to [`MAX_RESEND_PAUSE`].
const FIRST_RESEND_PAUSE: Duration = Duration::from_millis(20);
const MAX_RESEND_PAUSE: Duration = Duration::from_secs(1);

/// Waits before resending what round `round` (0 for the first request) left unprocessed.
async fn pause_before_resending(round: u32) {
    let pause = FIRST_RESEND_PAUSE.saturating_mul(1 << round.min(10));
    tokio::time::sleep(pause.min(MAX_RESEND_PAUSE)).await;
}

/// What a [`DynamoStore::batch_get`] reads of each item.
pub(super) enum Read {
    Everything,
    /// The key attribute only: whether the item exists.
    KeyOnly,
}

impl DynamoStore {
    /// The items of `table` whose `key` is one of `values` (no order; a value without an item
    /// is left out), read consistently by `BatchGetItem`s of at most [`BATCH_GET_LIMIT`] keys.
    /// Keys DynamoDB leaves unprocessed are asked again (see the module header).
    pub(super) async fn batch_get(
        &self,
        table: &str,
        key: &'static str,
        values: &[String],
        read: Read,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::with_capacity(values.len());
        for chunk in values.chunks(BATCH_GET_LIMIT) {
            let mut keys = KeysAndAttributes::builder().consistent_read(true);
            if let Read::KeyOnly = read {
                keys = keys
                    .projection_expression("#k")
                    .expression_attribute_names("#k", key);
            }
            for value in chunk {
                keys = keys.keys(Item::from([(key.to_owned(), s(value.as_str()))]));
            }
            let mut request = Some(keys.build().map_err(build_error)?);
            for round in 0..=UNPROCESSED_ROUNDS {
                let Some(keys) = request.take() else { break };
                if round > 0 {
                    pause_before_resending(round - 1).await;
                }
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, keys)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchGetItem", e))?;
                items.extend(
                    out.responses
                        .and_then(|mut r| r.remove(table))
                        .unwrap_or_default(),
                );
                request = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(table))
                    .filter(|k| !k.keys().is_empty());
            }
            if request.is_some() {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB kept leaving reads from {table} unprocessed"
                )));
            }
        }
        Ok(items)
    }

    /// Deletes the items with `keys` from `table`; a key without an item is no error.
    pub(super) async fn delete_in_batches(&self, table: &str, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(BATCH_WRITE_LIMIT) {
            let mut requests = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(build_error)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            for round in 0..=UNPROCESSED_ROUNDS {
                if requests.is_empty() {
                    break;
                }
                if round > 0 {
                    pause_before_resending(round - 1).await;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, requests)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(table))
                    .unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable(format!(
                    "DynamoDB kept leaving deletes from {table} unprocessed"
                )));
            }
        }
        Ok(())
    }
}
