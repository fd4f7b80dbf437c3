//! The embedded event bus: Kafka's contract (see [`crate::ports::bus`]) in one process, durable
//! across restarts, with no server to run.
//!
//! On disk, under the directory given to [`EmbeddedBus::open`]:
//!
//! ```text
//! topics/<topic>/meta.json        partitions, replication factor, configs
//! topics/<topic>/<partition>.log  the partition's first segment: append-only frames
//!                                 len | crc32 | record (offset, timestamp, key, headers, value),
//!                                 fsynced before `publish` returns
//! topics/<topic>/<partition>.<base offset>.log
//!                                 later segments, rolled when the active one reaches the topic's
//!                                 `segment.bytes` (else [`EmbeddedOptions::segment_bytes`])
//! groups/<group>.{0,1}.json       committed offsets, two slots written in turn in place, the
//!                                 newest valid one counts (see `group.rs`)
//! staging/                        topics being created; cleared on open
//! ```
//!
//! Retention: [`EmbeddedBus::enforce_retention`] deletes whole segments whose newest record is
//! older than the topic's `retention.ms`, never the active
//! segment, and, like Kafka, regardless of consumer groups: a group behind the new start reads
//! on from it. `retention.bytes` is not enforced. The lifecycle task calls it on a schedule.
//!
//! Limits: one process may open a directory at a time (enforced within a process only); the
//! offset index costs 8 bytes of memory per record; Unix only (positional file I/O).

mod codec;
mod durable;
mod group;
mod partition_log;
mod subscription;
mod topic;

pub use subscription::{EmbeddedSubscription, AUTO_COMMIT_INTERVAL};
pub use topic::DEFAULT_PARTITIONS;

use crate::ports::bus::{
    partition_for_key, BusError, ConsumedRecord, Delivered, EventBus, OutgoingRecord,
    PartitionInfo, PartitionLag, RetentionOutcome, SubscribeOptions, Subscription, TopicInfo,
    TopicSpec,
};
use async_trait::async_trait;
use durable::storage;
use group::Group;
use partition_log::AppendRecord;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use topic::Topic;

/// Segment size of a topic without `segment.bytes`: small enough that retention frees space
/// in steps, large enough that a busy partition has few files.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// How the embedded bus lays out and ages its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Roll a partition's active segment once it holds this many bytes (a topic's
    /// `segment.bytes` wins).
    pub segment_bytes: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// Directories opened by a live [`EmbeddedBus`] in this process; a second open would corrupt them.
static OPEN_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The embedded bus; cheap to share behind the `Arc` that [`EmbeddedBus::open`] returns.
pub struct EmbeddedBus {
    inner: Arc<Inner>,
}

/// State shared by the bus handle and its subscriptions, which keep it (and the directory
/// claim) alive until the last of them is dropped.
struct Inner {
    root: PathBuf,
    options: EmbeddedOptions,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    /// Serialises topic creation, so two callers cannot build the same topic at once.
    admin: tokio::sync::Mutex<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&OPEN_DIRS).remove(&self.root);
    }
}

impl EmbeddedBus {
    /// Opens (creating if needed) the bus stored under `dir`: scans every partition log,
    /// rebuilds its offset index and truncates a torn tail left by a crash.
    ///
    /// Blocking (it reads every log once); call it at startup or from `spawn_blocking`.
    /// Fails with [`BusError::Unavailable`] if this process already has `dir` open.
    pub fn open(dir: &Path) -> Result<Arc<EmbeddedBus>, BusError> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    /// [`Self::open`] with explicit segment size and retention.
    pub fn open_with(dir: &Path, options: EmbeddedOptions) -> Result<Arc<EmbeddedBus>, BusError> {
        std::fs::create_dir_all(dir.join("groups"))
            .map_err(|e| storage("cannot create", dir, e))?;
        let root = dir
            .canonicalize()
            .map_err(|e| storage("cannot resolve", dir, e))?;
        if !lock(&OPEN_DIRS).insert(root.clone()) {
            return Err(BusError::Unavailable(format!(
                "the embedded bus at {} is already open in this process",
                root.display()
            )));
        }
        // From here on, dropping `inner` releases the claim, also on error.
        let inner = Inner {
            root,
            options,
            topics: RwLock::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
            admin: tokio::sync::Mutex::new(()),
        };
        let topics = topic::open_all(&inner.root, options.segment_bytes)?;
        *inner.topics.write().unwrap_or_else(|p| p.into_inner()) = topics;
        Ok(Arc::new(EmbeddedBus {
            inner: Arc::new(inner),
        }))
    }

    /// The configs of the topics stored under `dir` (`None` for a missing one; partitions left
    /// empty), read from their metadata only: safe beside the process that has the bus open
    /// (`onboard doctor`), unlike [`Self::open`], which repairs logs. Blocking.
    pub fn topics_on_disk(
        dir: &Path,
        names: &[String],
    ) -> Result<Vec<Option<TopicInfo>>, BusError> {
        names
            .iter()
            .map(|name| {
                Ok(topic::read_meta(dir, name)?.map(|meta| TopicInfo {
                    name: meta.name,
                    partitions: Vec::new(),
                    configs: meta.configs,
                }))
            })
            .collect()
    }

    /// The directory this bus stores its data in.
    pub fn dir(&self) -> &Path {
        &self.inner.root
    }

    /// Segment files of one partition (the active one included); `None` for an unknown one.
    pub fn segment_count(&self, topic: &str, partition: i32) -> Option<usize> {
        let topic = self.inner.topic(topic).ok()?;
        topic.partition(partition).map(|log| log.segment_count())
    }
}

impl Inner {
    fn topic(&self, name: &str) -> Result<Arc<Topic>, BusError> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| BusError::UnknownTopic(name.to_string()))
    }

    /// The in-memory group, loaded from its file on first use.
    fn group(&self, name: &str) -> Result<Arc<Group>, BusError> {
        topic::validate_name("group", name)?;
        let mut groups = lock(&self.groups);
        if let Some(g) = groups.get(name) {
            return Ok(g.clone());
        }
        let group = Arc::new(Group::load(
            self.root.join("groups").join(format!("{name}.json")),
        )?);
        groups.insert(name.to_string(), group.clone());
        Ok(group)
    }
}

#[async_trait]
impl EventBus for EmbeddedBus {
    fn name(&self) -> &'static str {
        "embedded"
    }

    /// Deletes, in every topic, the whole segments whose newest record is older than the
    /// retention (see the module header) and lists the partitions that lost some.
    async fn enforce_retention(&self) -> Result<Vec<RetentionOutcome>, BusError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let topics: Vec<Arc<Topic>> = self
            .inner
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        tokio::task::spawn_blocking(move || {
            let mut outcomes = Vec::new();
            for topic in topics {
                let Some(retention_ms) = topic.meta.retention_ms() else {
                    continue;
                };
                let cutoff = now_ms.saturating_sub(retention_ms);
                for (partition, log) in topic.partitions.iter().enumerate() {
                    let removed = log.remove_segments_older_than(cutoff)?;
                    if removed.segments > 0 {
                        outcomes.push(RetentionOutcome {
                            topic: topic.meta.name.clone(),
                            partition: partition as i32,
                            segments: removed.segments,
                            records: removed.records,
                        });
                    }
                }
            }
            Ok(outcomes)
        })
        .await
        .map_err(|e| BusError::Storage(format!("the retention pass failed: {e}")))?
    }

    async fn create_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError> {
        let _admin = self.inner.admin.lock().await;
        for spec in specs {
            if self.inner.topic(&spec.name).is_ok() {
                continue;
            }
            let root = self.inner.root.clone();
            let spec = spec.clone();
            let segment_bytes = self.inner.options.segment_bytes;
            let created =
                tokio::task::spawn_blocking(move || topic::create(&root, &spec, segment_bytes))
                    .await
                    .map_err(|e| BusError::Storage(format!("topic creation failed: {e}")))??;
            self.inner
                .topics
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(created.meta.name.clone(), Arc::new(created));
        }
        Ok(())
    }

    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Delivered>, BusError> {
        // Resolve and validate everything before writing anything.
        let mut per_partition: BTreeMap<(String, i32), (Vec<usize>, Vec<AppendRecord>)> =
            BTreeMap::new();
        let mut logs = HashMap::new();
        for (index, record) in records.into_iter().enumerate() {
            let topic = self.inner.topic(&record.topic)?;
            let size = codec::payload_len(Some(&record.key), &record.headers, &record.value);
            if size > codec::MAX_PAYLOAD {
                return Err(BusError::Invalid(format!(
                    "a record of {size} bytes exceeds the limit of {} bytes",
                    codec::MAX_PAYLOAD
                )));
            }
            let partition = partition_for_key(record.key.as_bytes(), topic.meta.partitions);
            let tp = (record.topic, partition);
            if let Some(log) = topic.partition(partition) {
                logs.entry(tp.clone()).or_insert_with(|| log.clone());
            }
            let entry = per_partition.entry(tp).or_default();
            entry.0.push(index);
            entry.1.push(AppendRecord {
                key: record.key,
                headers: record.headers,
                value: record.value,
            });
        }
        let total: usize = per_partition.values().map(|(i, _)| i.len()).sum();
        let appends = per_partition.into_iter().map(|(tp, (indexes, batch))| {
            let log = logs.get(&tp).cloned();
            async move {
                let log = log.ok_or_else(|| {
                    BusError::Storage(format!("partition {} of '{}' has no log", tp.1, tp.0))
                })?;
                let offsets = log.append(batch).await?;
                Ok::<_, BusError>((tp.1, indexes, offsets))
            }
        });
        let mut delivered = vec![
            Delivered {
                partition: 0,
                offset: 0
            };
            total
        ];
        for result in futures::future::join_all(appends).await {
            let (partition, indexes, offsets) = result?;
            for (index, offset) in indexes.into_iter().zip(offsets) {
                delivered[index] = Delivered { partition, offset };
            }
        }
        Ok(delivered)
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<Box<dyn Subscription>, BusError> {
        if options.topics.is_empty() {
            return Err(BusError::Invalid(
                "a subscription needs at least one topic".into(),
            ));
        }
        let topics = options
            .topics
            .iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|t| self.inner.topic(t))
            .collect::<Result<Vec<_>, _>>()?;
        let group = self.inner.group(&options.group)?;
        Ok(Box::new(EmbeddedSubscription::join(
            self.inner.clone(),
            group,
            topics,
            options.start_from,
            options.max_batch,
        )))
    }

    async fn describe_group(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Vec<PartitionLag>, BusError> {
        let group = self.inner.group(group)?;
        let mut out = Vec::new();
        for name in topics {
            let topic = self.inner.topic(name)?;
            for (partition, log) in topic.partitions.iter().enumerate() {
                let partition = partition as i32;
                out.push(PartitionLag {
                    topic: name.clone(),
                    partition,
                    committed: group.committed(&(name.clone(), partition)),
                    end: log.end_offset(),
                });
            }
        }
        Ok(out)
    }

    async fn list_topics(&self) -> Result<Vec<String>, BusError> {
        let mut names: Vec<String> = self
            .inner
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        Ok(names)
    }

    async fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<ConsumedRecord>, BusError> {
        let log = self
            .inner
            .topic(topic)?
            .partition(partition)
            .cloned()
            .ok_or_else(|| BusError::Invalid(format!("{topic} has no partition {partition}")))?;
        let records =
            tokio::task::spawn_blocking(move || log.read(from, max, subscription::MAX_FETCH_BYTES))
                .await
                .map_err(|e| BusError::Storage(format!("the log reader failed: {e}")))??;
        Ok(records
            .into_iter()
            .map(|r| ConsumedRecord {
                topic: topic.to_string(),
                partition,
                offset: r.offset,
                key: r.key,
                headers: r.headers,
                value: r.value,
                timestamp_ms: r.timestamp_ms,
            })
            .collect())
    }

    async fn describe_topics(&self, topics: &[String]) -> Result<Vec<TopicInfo>, BusError> {
        topics
            .iter()
            .map(|name| {
                let topic = self.inner.topic(name)?;
                Ok(TopicInfo {
                    name: name.clone(),
                    partitions: topic
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(p, log)| PartitionInfo {
                            partition: p as i32,
                            leader: 0,
                            replicas: vec![0],
                            isr: vec![0],
                            start_offset: log.start_offset(),
                            end_offset: log.end_offset(),
                        })
                        .collect(),
                    configs: topic.meta.configs.clone(),
                })
            })
            .collect()
    }
}
