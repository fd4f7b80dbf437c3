//! Deleting many items of one table with `BatchWriteItem`: 25 keys per request, resending what
//! DynamoDB leaves unprocessed (throttling) a bounded number of times.

use super::codec::{sdk_error, Item};
use super::DynamoStore;
use crate::ports::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};

/// `BatchWriteItem` takes at most this many requests.
const BATCH_WRITE_LIMIT: usize = 25;

/// How many times unprocessed deletes are sent again before giving up (retryably).
const UNPROCESSED_ROUNDS: usize = 8;

impl DynamoStore {
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
