//! One consumer-group member of the embedded bus: follows its assignment, reads owned
//! partitions from their logs, and stores acknowledged positions in its group.

use super::group::{Group, TopicPartition};
use super::partition_log::PartitionLog;
use super::topic::Topic;
use crate::ports::bus::{BusError, ConsumedRecord, StartFrom, Subscription};
use async_trait::async_trait;
use futures::future::{select_all, FutureExt};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often acknowledged positions are committed without an explicit `commit`.
pub const AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes read from one partition per poll (at least one record is always returned).
pub(super) const MAX_FETCH_BYTES: u64 = 4 * 1024 * 1024;

/// Where this member is in one owned partition.
struct Cursor {
    log: Arc<PartitionLog>,
    /// Group generation since which this member owns the partition.
    since: u64,
    /// First offset this member may acknowledge: where its ownership started.
    start: i64,
    /// Next offset to hand out.
    next: i64,
    end_rx: watch::Receiver<i64>,
}

pub struct EmbeddedSubscription {
    /// Keeps the bus (and its claim on the directory) alive as long as a member exists.
    _keep_alive: Arc<dyn Send + Sync>,
    group: Arc<Group>,
    member: u64,
    topics: HashMap<String, Arc<Topic>>,
    start_from: StartFrom,
    max_batch: usize,
    /// Group generation `owned` reflects; `None` before the first refresh.
    generation: Option<u64>,
    owned: BTreeMap<TopicPartition, Cursor>,
    generation_rx: watch::Receiver<u64>,
    /// Which owned partition is read first next time, so a busy partition cannot starve others.
    rotate: usize,
    left: bool,
}

impl EmbeddedSubscription {
    /// Joins `group` as a new member reading `topics`; the member owns its share at once.
    pub fn join(
        keep_alive: Arc<dyn Send + Sync>,
        group: Arc<Group>,
        topics: Vec<Arc<Topic>>,
        start_from: StartFrom,
        max_batch: usize,
    ) -> Self {
        let generation_rx = group.watch_generation();
        let member = group.join(
            topics
                .iter()
                .map(|t| (t.meta.name.clone(), t.meta.partitions))
                .collect(),
        );
        let mut sub = Self {
            _keep_alive: keep_alive,
            group,
            member,
            topics: topics
                .into_iter()
                .map(|t| (t.meta.name.clone(), t))
                .collect(),
            start_from,
            max_batch: max_batch.max(1),
            generation: None,
            owned: BTreeMap::new(),
            generation_rx,
            rotate: 0,
            left: false,
        };
        sub.refresh();
        sub
    }

    /// Brings `owned` in line with the group's current assignment: drops lost partitions, keeps
    /// the cursor of partitions owned throughout, and positions gained ones at the group's
    /// acknowledged/committed offset, or per `start_from` when the group has none.
    fn refresh(&mut self) {
        let current = *self.generation_rx.borrow_and_update();
        if self.generation == Some(current) {
            return;
        }
        let assignment = self.group.assignment(self.member);
        let mut owned = BTreeMap::new();
        for part in assignment.partitions {
            if let Some(cursor) = self.owned.remove(&part.tp) {
                if cursor.since == part.since {
                    owned.insert(part.tp, cursor);
                    continue;
                }
            }
            let Some(log) = self
                .topics
                .get(&part.tp.0)
                .and_then(|t| t.partition(part.tp.1))
                .cloned()
            else {
                continue;
            };
            let (first, end) = (log.start_offset(), log.end_offset());
            // Clamped like Kafka's offset reset, should the log be shorter than the commit.
            let next = match (part.position, self.start_from) {
                (Some(position), _) => position.clamp(first, end),
                (None, StartFrom::Earliest) => first,
                (None, StartFrom::Latest) => end,
            };
            let end_rx = log.watch_end();
            owned.insert(
                part.tp,
                Cursor {
                    log,
                    since: part.since,
                    start: next,
                    next,
                    end_rx,
                },
            );
        }
        self.owned = owned;
        self.generation = Some(assignment.generation);
    }

    /// Reads the next records of owned partitions; `None` when a rebalance happened meanwhile
    /// (the records are dropped, as they may belong to a partition this member lost).
    async fn fetch(&mut self) -> Result<Option<Vec<ConsumedRecord>>, BusError> {
        let count = self.owned.len();
        let reads: Vec<(TopicPartition, Arc<PartitionLog>, i64)> = self
            .owned
            .iter()
            .cycle()
            .skip(self.rotate % count.max(1))
            .take(count)
            .filter(|(_, c)| c.next < c.log.end_offset())
            .map(|(tp, c)| (tp.clone(), c.log.clone(), c.next))
            .collect();
        self.rotate = self.rotate.wrapping_add(1);
        if reads.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let max_batch = self.max_batch;
        let read = tokio::task::spawn_blocking(move || {
            let mut remaining = max_batch;
            let mut out = Vec::new();
            for (tp, log, from) in reads {
                if remaining == 0 {
                    break;
                }
                let records = log.read(from, remaining, MAX_FETCH_BYTES)?;
                remaining -= records.len();
                out.push((tp, records));
            }
            Ok::<_, BusError>(out)
        })
        .await
        .map_err(|e| BusError::Storage(format!("the log reader failed: {e}")))??;
        if Some(self.group.generation()) != self.generation {
            return Ok(None);
        }
        let mut batch = Vec::new();
        for ((topic, partition), records) in read {
            if let (Some(cursor), Some(last)) = (
                self.owned.get_mut(&(topic.clone(), partition)),
                records.last(),
            ) {
                cursor.next = last.offset + 1;
            }
            batch.extend(records.into_iter().map(|r| ConsumedRecord {
                topic: topic.clone(),
                partition,
                offset: r.offset,
                key: r.key,
                headers: r.headers,
                value: r.value,
                timestamp_ms: r.timestamp_ms,
            }));
        }
        Ok(Some(batch))
    }

    /// Waits until an owned partition grows, the group rebalances, an auto-commit is due or
    /// `deadline` passes, whichever comes first.
    async fn wait(&mut self, deadline: Instant) {
        let auto_commit = self
            .group
            .auto_commit_due(AUTO_COMMIT_INTERVAL)
            .map(Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        let Self {
            owned,
            generation_rx,
            ..
        } = self;
        let grown = if owned.is_empty() {
            futures::future::pending().boxed()
        } else {
            select_all(owned.values_mut().map(|c| c.end_rx.changed().boxed()))
                .map(|_| ())
                .boxed()
        };
        tokio::select! {
            _ = grown => {}
            _ = generation_rx.changed() => {}
            _ = tokio::time::sleep_until(auto_commit) => {}
        }
    }

    fn leave(&mut self) {
        if !self.left {
            self.left = true;
            self.group.leave(self.member);
        }
    }
}

#[async_trait]
impl Subscription for EmbeddedSubscription {
    async fn poll(&mut self, max_wait: Duration) -> Result<Vec<ConsumedRecord>, BusError> {
        let deadline = Instant::now() + max_wait;
        loop {
            if self
                .group
                .auto_commit_due(AUTO_COMMIT_INTERVAL)
                .is_some_and(|due| due <= std::time::Instant::now())
            {
                self.group.flush().await?;
            }
            self.refresh();
            // Mark the current ends seen before reading, so an append racing with the read
            // still wakes the wait below.
            for cursor in self.owned.values_mut() {
                cursor.end_rx.borrow_and_update();
            }
            match self.fetch().await? {
                Some(batch) if !batch.is_empty() => return Ok(batch),
                Some(_) => {}
                None => continue,
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            self.wait(deadline).await;
        }
    }

    fn ack(&mut self, record: &ConsumedRecord) {
        let tp = (record.topic.clone(), record.partition);
        let Some(cursor) = self.owned.get(&tp) else {
            return;
        };
        if record.offset < cursor.start || record.offset >= cursor.next {
            return;
        }
        self.group.ack(self.member, tp, record.offset + 1);
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        self.group.flush().await
    }

    async fn close(mut self: Box<Self>) -> Result<(), BusError> {
        self.leave();
        self.group.flush().await
    }
}

impl Drop for EmbeddedSubscription {
    /// Leaving on drop hands the partitions over at once (like a Kafka client closing); the
    /// acknowledged positions are committed synchronously, a small file write.
    fn drop(&mut self) {
        if self.left {
            return;
        }
        self.leave();
        if let Err(e) = self.group.flush_blocking() {
            tracing::warn!(error = %e, "Committing offsets of a dropped consumer failed.");
        }
    }
}
