//! In-process locks per customer: a transaction that hands out a customer's sequence numbers
//! holds the customer's lock until it commits or is dropped, so this process's concurrent steps
//! of one customer take turns (as a row lock makes them on PostgreSQL) instead of failing each
//! other's optimistic condition. Across processes the condition on the counter still decides.

use crate::domain::ids::CustomerId;
use crate::ports::store::{StoreError, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// How long a transaction waits for another one of the same customer before giving up with a
/// retryable error (a transaction left open that long is a bug or a stuck request).
const WAIT_AT_MOST: Duration = Duration::from_secs(10);

/// Held until the transaction that took it ends.
pub(super) type CustomerLocksGuard = OwnedMutexGuard<()>;

#[derive(Default)]
pub(super) struct CustomerLocks {
    held: Mutex<HashMap<CustomerId, Arc<tokio::sync::Mutex<()>>>>,
}

impl CustomerLocks {
    pub async fn lock(&self, customer: &CustomerId) -> StoreResult<OwnedMutexGuard<()>> {
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            // Forget the locks nobody holds or waits for, so the map stays small.
            held.retain(|_, lock| Arc::strong_count(lock) > 1);
            Arc::clone(held.entry(customer.clone()).or_default())
        };
        tokio::time::timeout(WAIT_AT_MOST, lock.lock_owned())
            .await
            .map_err(|_| {
                StoreError::Unavailable(
                    "another transaction of this customer stayed open too long".into(),
                )
            })
    }
}
