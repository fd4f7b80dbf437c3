//! Many items of one table at once: consistent reads with `BatchGetItem` (100 keys per
//! request) and deletes with `BatchWriteItem` (25 per request). What DynamoDB leaves
//! unprocessed (throttling) is sent again after a pause that doubles each round, a bounded
//! number of times; then the call fails retryably.

use super::codec::{build_error, s, sdk_error, Item};
use super::DynamoStore;
use crate::ports::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, WriteRequest};
use std::collections::HashSet;
use std::future::Future;
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

/// What one batch request gave back: the items it read (none for writes) and what it left
/// unprocessed, to send again (`None` when nothing is left).
struct Answer<R> {
    items: Vec<Item>,
    left: Option<R>,
}

/// Sends `request`, then what each answer left unprocessed, pausing before each resend, at most
/// [`UNPROCESSED_ROUNDS`] times; then fails retryably, naming `what` was left of `table`.
/// Returns the items every answer read.
async fn send_until_processed<R, Sent>(
    table: &str,
    what: &str,
    request: R,
    send: impl Fn(R) -> Sent,
) -> StoreResult<Vec<Item>>
where
    Sent: Future<Output = StoreResult<Answer<R>>>,
{
    let mut answer = send(request).await?;
    let mut items = std::mem::take(&mut answer.items);
    for round in 0..UNPROCESSED_ROUNDS {
        let Some(request) = answer.left.take() else {
            return Ok(items);
        };
        pause_before_resending(round).await;
        answer = send(request).await?;
        items.append(&mut answer.items);
    }
    match answer.left {
        None => Ok(items),
        Some(_) => Err(StoreError::Unavailable(format!(
            "DynamoDB kept leaving {what} from {table} unprocessed"
        ))),
    }
}

/// What a [`DynamoStore::batch_get`] reads of each item.
pub(super) enum Read {
    Everything,
    /// The key attribute only: whether the item exists.
    KeyOnly,
}

impl DynamoStore {
    /// The items of `table` whose `key` is one of `values` (no order; a value without an item
    /// is left out, a value given twice is asked once: DynamoDB refuses a batch naming a key
    /// twice), read consistently by `BatchGetItem`s of at most [`BATCH_GET_LIMIT`] keys.
    /// Keys DynamoDB leaves unprocessed are asked again (see the module header).
    pub(super) async fn batch_get(
        &self,
        table: &str,
        key: &'static str,
        values: &[String],
        read: Read,
    ) -> StoreResult<Vec<Item>> {
        let mut seen = HashSet::with_capacity(values.len());
        let values: Vec<&String> = values.iter().filter(|v| seen.insert(*v)).collect();
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
            let keys = keys.build().map_err(build_error)?;
            let read = send_until_processed(table, "reads", keys, |keys| async move {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(table, keys)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchGetItem", e))?;
                Ok(Answer {
                    items: out
                        .responses
                        .and_then(|mut r| r.remove(table))
                        .unwrap_or_default(),
                    left: out
                        .unprocessed_keys
                        .and_then(|mut left| left.remove(table))
                        .filter(|k| !k.keys().is_empty()),
                })
            })
            .await?;
            items.extend(read);
        }
        Ok(items)
    }

    /// Deletes the items with `keys` from `table`; a key without an item is no error.
    pub(super) async fn delete_in_batches(&self, table: &str, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(BATCH_WRITE_LIMIT) {
            let requests = chunk
                .iter()
                .map(|key| {
                    DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                        .map_err(build_error)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            send_until_processed(table, "deletes", requests, |requests| async move {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, requests)
                    .send()
                    .await
                    .map_err(|e| sdk_error("BatchWriteItem", e))?;
                Ok(Answer {
                    items: Vec::new(),
                    left: out
                        .unprocessed_items
                        .and_then(|mut left| left.remove(table))
                        .filter(|left| !left.is_empty()),
                })
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A `send` that answers with one item per request and leaves the last of what it was sent
    /// unprocessed while `leave` says so; records what each call was sent.
    fn answers<'a>(
        sent: &'a Mutex<Vec<Vec<u32>>>,
        leave: impl Fn(usize) -> bool + 'a,
    ) -> impl Fn(Vec<u32>) -> std::future::Ready<StoreResult<Answer<Vec<u32>>>> + 'a {
        move |mut request: Vec<u32>| {
            let mut calls = sent.lock().unwrap();
            calls.push(request.clone());
            let left = leave(calls.len()).then(|| vec![request.pop().expect("not empty")]);
            std::future::ready(Ok(Answer {
                items: request
                    .iter()
                    .map(|n| Item::from([("n".to_owned(), s(n.to_string()))]))
                    .collect(),
                left,
            }))
        }
    }

    #[tokio::test]
    async fn what_is_left_is_sent_again_after_a_doubling_pause_and_every_item_is_kept() {
        let sent = Mutex::new(Vec::new());
        let started = std::time::Instant::now();
        let items = send_until_processed(
            "customers",
            "reads",
            vec![1, 2, 3],
            answers(&sent, |call| call <= 2),
        )
        .await
        .expect("processed in the end");
        assert_eq!(*sent.lock().unwrap(), [vec![1, 2, 3], vec![3], vec![3]]);
        assert_eq!(
            items.len(),
            3,
            "1 and 2 from the first answer, 3 from the last"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(20 + 40),
            "paused 20, then 40 ms"
        );
    }

    #[tokio::test]
    async fn what_is_still_left_after_the_last_round_fails_retryably_naming_it() {
        let sent = Mutex::new(Vec::new());
        let started = std::time::Instant::now();
        let outcome =
            send_until_processed("events", "deletes", vec![7], answers(&sent, |_| true)).await;
        match outcome {
            Err(StoreError::Unavailable(why)) => {
                assert_eq!(why, "DynamoDB kept leaving deletes from events unprocessed")
            }
            other => panic!("expected Unavailable, got {:?}", other.map(|i| i.len())),
        }
        assert_eq!(sent.lock().unwrap().len(), 1 + UNPROCESSED_ROUNDS as usize);
        // 20, 40, 80, 160, 320, 640 ms, then 1 s twice (the pause stops doubling there).
        let paused = started.elapsed();
        assert!(paused >= Duration::from_millis(1_260 + 2_000), "{paused:?}");
    }
}
