//! The outbox relay: publishes committed outbox rows to the event bus, in order, and marks them
//! sent only after the bus acknowledged them (at-least-once; consumers de-duplicate by event id).

use crate::ports::bus::{BusError, EventBus, OutgoingRecord, TopicNames};
use crate::ports::store::{Store, StoreError};
use crate::ports::trace::PublishedRow;
use crate::roles::supervisor::Readiness;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Rows published per bus call.
pub const RELAY_BATCH: i64 = 500;
/// How often the relay looks at the outbox when nobody nudges it (rows written by other processes).
pub const RELAY_IDLE_POLL: Duration = Duration::from_millis(250);

pub struct OutboxRelay {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    /// Woken by the API after a commit that enqueued events.
    pub nudge: Arc<Notify>,
    pub topics: TopicNames,
}

/// Why a round of publishing failed; the rows stay pending and are published by a later round.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("reading or marking the outbox failed: {0}")]
    Store(#[from] StoreError),
    #[error("publishing to the event bus failed: {0}")]
    Bus(#[from] BusError),
}

impl OutboxRelay {
    /// Publishes until `shutdown`, woken by the nudge or every [`RELAY_IDLE_POLL`], then drains
    /// what is already committed.
    pub async fn run(
        self,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let mut backoff = Backoff::new();
        readiness.set(true);
        loop {
            match self.publish_pending().await {
                Ok(0) => {
                    backoff.reset();
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.nudge.notified() => {}
                        _ = tokio::time::sleep(RELAY_IDLE_POLL) => {}
                    }
                }
                Ok(_) => backoff.reset(),
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "Publishing the outbox failed; retrying.");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
        }
        // Drain what is already committed so a clean stop leaves nothing behind.
        while let Ok(n) = self.publish_pending().await {
            if n == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Publishes the oldest pending outbox rows (up to [`RELAY_BATCH`]) and marks them sent once
    /// the bus acknowledged them; returns how many were published (0: nothing was pending).
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        let rows = self.store.outbox_pending(RELAY_BATCH).await?;
        // What the relay sees is the gauge (no COUNT per scrape); it stays up while publishing fails.
        let pending = metrics::gauge!(crate::telemetry::OUTBOX_PENDING);
        pending.set(rows.len() as f64);
        if rows.is_empty() {
            return Ok(0);
        }
        let records = rows
            .iter()
            .map(|row| OutgoingRecord {
                topic: self.topics.name(row.envelope.topic),
                key: row.envelope.customer_id.as_str().to_string(),
                headers: row.envelope.headers(),
                value: Bytes::from(row.envelope.to_json()),
            })
            .collect();
        let delivered = self.bus.publish(records).await?;
        let acknowledged_at = chrono::Utc::now();
        if delivered.len() != rows.len() {
            tracing::warn!(
                published = rows.len(),
                acknowledged = delivered.len(),
                "The bus acknowledged a different number of records than published; marking them sent without positions."
            );
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            self.store.outbox_mark_sent(&seqs).await?;
            return Ok(seqs.len());
        }
        let published: Vec<PublishedRow> = rows
            .iter()
            .zip(&delivered)
            .map(|(row, at)| PublishedRow {
                seq: row.seq,
                partition: at.partition,
                offset: at.offset,
            })
            .collect();
        self.store
            .outbox_mark_published(&published, acknowledged_at)
            .await?;
        for (row, at) in rows.iter().zip(&delivered) {
            let envelope = &row.envelope;
            tracing::debug!(
                correlation_id = %envelope.correlation_id,
                event_id = %envelope.id,
                topic = %envelope.topic,
                partition = at.partition,
                offset = at.offset,
                "Published an outbox row."
            );
        }
        let seqs: Vec<i64> = published.iter().map(|r| r.seq).collect();
        if rows.len() < RELAY_BATCH as usize {
            // A short batch was everything pending; a full one is looked at again at once.
            pending.set(0.0);
        }
        tracing::debug!(count = seqs.len(), "Published outbox rows.");
        Ok(seqs.len())
    }
}

/// Exponential backoff from 100 ms to 10 s with jitter, for retrying a failing dependency.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    base: Duration,
    cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub fn new() -> Self {
        Self::with(Duration::from_millis(100), Duration::from_secs(10))
    }

    pub fn with(base: Duration, cap: Duration) -> Self {
        Self {
            attempt: 0,
            base,
            cap,
        }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    pub fn next_delay(&mut self) -> Duration {
        use rand::Rng;
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt += 1;
        let capped = exp.min(self.cap);
        // Full jitter between half and the whole delay keeps retries of many clients apart.
        let jitter = rand::thread_rng().gen_range(0.5..=1.0);
        capped.mul_f64(jitter)
    }
}
