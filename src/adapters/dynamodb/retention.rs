//! Ageing out rows on DynamoDB is mostly DynamoDB's own job: the relay deletes outbox rows as
//! soon as the bus acknowledged them, and idempotency keys (`expiresAt`, 30 days) and
//! connections (`ttl`) carry TTL attributes the table expires by itself (within about two days
//! of expiry). The purge only deletes expired connections early, through the registry's sweep.

use super::DynamoStore;
use crate::ports::store::{ConnectionRegistry, DataRetention, Expiry, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl DataRetention for DynamoStore {
    fn expiry(&self) -> Expiry {
        Expiry::ByDatabase
    }

    async fn purge_sent_outbox(
        &self,
        _sent_before: DateTime<Utc>,
        _limit: u32,
    ) -> StoreResult<u64> {
        Ok(0)
    }

    async fn purge_idempotency_keys(
        &self,
        _created_before: DateTime<Utc>,
        _limit: u32,
    ) -> StoreResult<u64> {
        Ok(0)
    }

    /// One sweep per call (it deletes every expired row it finds, item by item), so the caller
    /// sees fewer than `limit` and stops.
    async fn purge_expired_connections(&self, now: DateTime<Utc>, _limit: u32) -> StoreResult<u64> {
        self.sweep_connections(now).await
    }
}
