//! The data lifecycle: on a schedule, deletes what has served its purpose (sent outbox rows,
//! old idempotency keys, expired connection rows) in bounded batches, and has the bus enforce
//! `retention.ms` where it does not do so itself (the embedded log). Every pass is idempotent,
//! so each process may run one; counts go to `onboard_purged_total{kind}`.

use crate::ports::bus::EventBus;
use crate::ports::store::{Store, StoreResult};
use crate::roles::supervisor::Readiness;
use crate::telemetry::PURGED;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often and how far data is aged out (`[lifecycle]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub interval: Duration,
    pub outbox_retention: Duration,
    pub idempotency_retention: Duration,
    pub batch_size: u32,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            outbox_retention: Duration::from_secs(7 * 24 * 3_600),
            idempotency_retention: Duration::from_secs(30 * 24 * 3_600),
            batch_size: 500,
        }
    }
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sent_outbox: u64,
    pub idempotency_keys: u64,
    pub expired_connections: u64,
    pub bus_records: u64,
}

pub struct Lifecycle {
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    config: LifecycleConfig,
}

impl Lifecycle {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn EventBus>, config: LifecycleConfig) -> Self {
        Self { store, bus, config }
    }

    /// Runs a pass every interval (the first one at once) until shutdown; a failing pass is
    /// logged and retried at the next interval.
    pub async fn run(
        self,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        readiness.set(true);
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                purged = self.pass() => {
                    if purged != Purged::default() {
                        tracing::info!(
                            sent_outbox = purged.sent_outbox,
                            idempotency_keys = purged.idempotency_keys,
                            expired_connections = purged.expired_connections,
                            bus_records = purged.bus_records,
                            "Purged data past its retention."
                        );
                    }
                }
            }
        }
    }

    /// One pass over everything; each part's failure is logged and does not stop the others.
    pub async fn pass(&self) -> Purged {
        let now = Utc::now();
        let batch = self.config.batch_size.max(1);
        let store = &self.store;
        let outbox_cutoff = before(now, self.config.outbox_retention);
        let keys_cutoff = before(now, self.config.idempotency_retention);
        Purged {
            sent_outbox: drain("sent_outbox", batch, || {
                store.purge_sent_outbox(outbox_cutoff, batch)
            })
            .await,
            idempotency_keys: drain("idempotency_keys", batch, || {
                store.purge_idempotency_keys(keys_cutoff, batch)
            })
            .await,
            expired_connections: drain("expired_connections", batch, || {
                store.purge_expired_connections(now, batch)
            })
            .await,
            bus_records: self.bus_retention().await,
        }
    }

    async fn bus_retention(&self) -> u64 {
        match self.bus.enforce_retention().await {
            Ok(outcomes) => {
                let records = outcomes.iter().map(|o| o.records).sum();
                for o in &outcomes {
                    tracing::debug!(topic = %o.topic, partition = o.partition, segments = o.segments, records = o.records, "Deleted segments past retention.");
                }
                count("bus_records", records);
                records
            }
            Err(error) => {
                tracing::warn!(error = %error, "Enforcing the bus retention failed.");
                0
            }
        }
    }
}

fn before(now: DateTime<Utc>, age: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn count(kind: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(PURGED, "kind" => kind).increment(n);
    }
}

/// Runs `purge` batch after batch until one deletes less than a full batch.
async fn drain<F, Fut>(kind: &'static str, batch: u32, purge: F) -> u64
where
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        match purge().await {
            Ok(n) => {
                total += n;
                count(kind, n);
                if n < u64::from(batch) {
                    return total;
                }
            }
            Err(error) => {
                tracing::warn!(kind, error = %error, "Purging failed; the next pass retries.");
                return total;
            }
        }
    }
}
