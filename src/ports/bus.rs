//! The event-bus port: Kafka semantics that every bus adapter (embedded, Kafka) must keep.
//!
//! Contract (DESIGN.md §2): named topics with partitions; a record carries key, headers and
//! value; order is kept per partition and the partition is chosen from the key, so one key's
//! records stay in order; consumers join a group and each partition is owned by one member at
//! a time; a record counts as processed only once its offset is acknowledged *and* committed;
//! after a crash or restart delivery resumes from the last committed offset (at-least-once).

use crate::domain::event::Topic;
use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

/// A record to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingRecord {
    pub topic: String,
    /// The partitioning key (the customer id for onboarding events).
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub value: Bytes,
}

/// Where a published record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// A record handed to a consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumedRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub value: Bytes,
    /// Milliseconds since the Unix epoch when the record was appended.
    pub timestamp_ms: i64,
}

impl ConsumedRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Where a group with no committed offset for a partition starts (the seed's `--starting-position`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    #[default]
    Earliest,
    Latest,
}

impl StartFrom {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "earliest" | "trim_horizon" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            other => Err(format!(
                "unknown starting position '{other}'; expected earliest or latest"
            )),
        }
    }
}

/// How a consumer joins its group.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    pub group: String,
    pub topics: Vec<String>,
    pub start_from: StartFrom,
    /// At most this many records per `poll` (the seed's `--batch-size`, default 100).
    pub max_batch: usize,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Topic configs such as `retention.ms` and `cleanup.policy`.
    pub configs: Vec<(String, String)>,
}

/// Offsets of one partition as seen by a group, for lag reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Next offset the group will read; `None` when the group never committed on this partition.
    pub committed: Option<i64>,
    /// Offset the next appended record will get.
    pub end: i64,
}

impl PartitionLag {
    pub fn lag(&self) -> i64 {
        self.end - self.committed.unwrap_or(0)
    }
}

/// A partition and its state, for `topics describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub start_offset: i64,
    pub end_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: Vec<PartitionInfo>,
    pub configs: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
    #[error("authentication with the event bus failed: {0}")]
    Auth(String),
    #[error("invalid request to the event bus: {0}")]
    Invalid(String),
    #[error("the event bus storage failed: {0}")]
    Storage(String),
    #[error("the event bus is shut down")]
    Closed,
}

impl BusError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Storage(_))
    }
}

/// What one retention pass deleted from one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub topic: String,
    pub partition: i32,
    /// Whole segment files deleted.
    pub segments: u64,
    pub records: u64,
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Short adapter name for logs and `/readyz` (`embedded`, `kafka`).
    fn name(&self) -> &'static str;

    /// Creates the topics that do not exist yet; existing topics are left unchanged.
    async fn create_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError>;

    /// Deletes records older than their topic's `retention.ms` where the bus does not do it
    /// itself (Kafka does: the default reports nothing), listing the partitions that lost some.
    async fn enforce_retention(&self) -> Result<Vec<RetentionOutcome>, BusError> {
        Ok(Vec::new())
    }

    /// Appends the records durably (the embedded log is fsynced, Kafka acknowledges with
    /// `acks=all`) and returns where each landed, in input order. Records of one call and one key
    /// are appended in input order. On error none, some or all may have been appended: callers
    /// retry, and consumers de-duplicate by event id.
    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Delivered>, BusError>;

    /// Joins `options.group` as a new member; partitions are shared among the group's members.
    async fn subscribe(&self, options: SubscribeOptions)
        -> Result<Box<dyn Subscription>, BusError>;

    /// Committed and end offsets of every partition of the group's topics.
    async fn describe_group(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Vec<PartitionLag>, BusError>;

    /// Names of all topics.
    async fn list_topics(&self) -> Result<Vec<String>, BusError>;

    /// Partitions and configs of the named topics.
    async fn describe_topics(&self, topics: &[String]) -> Result<Vec<TopicInfo>, BusError>;

    /// Up to `max` records of one partition from offset `from` on, in offset order, read outside
    /// any consumer group (nothing is committed): for operators' tools such as the dead-letter
    /// listing. May return fewer (a size limit per read): call again from the offset after the
    /// last one; empty only at the partition's end. Records before the partition's start offset
    /// (deleted by retention) are skipped.
    async fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<ConsumedRecord>, BusError>;
}

/// One member of a consumer group.
#[async_trait]
pub trait Subscription: Send {
    /// The next records of the partitions this member owns, at most `max_batch`, in offset order
    /// per partition. Waits up to `max_wait` for the first record; returns an empty batch on timeout.
    /// After a rebalance, partitions this member lost are no longer returned, and partitions
    /// it gained start from their committed offset.
    async fn poll(&mut self, max_wait: Duration) -> Result<Vec<ConsumedRecord>, BusError>;

    /// Marks `record` processed: its offset + 1 becomes the position to commit for its partition.
    /// Acknowledging a partition this member no longer owns is ignored.
    fn ack(&mut self, record: &ConsumedRecord);

    /// Commits every acknowledged position now (adapters also commit periodically on their own).
    async fn commit(&mut self) -> Result<(), BusError>;

    /// Commits acknowledged positions and leaves the group, so its partitions move to other members.
    async fn close(self: Box<Self>) -> Result<(), BusError>;
}

/// The bus names of the six onboarding topics and their dead-letter topics. An optional prefix
/// (`ONBOARD_TOPIC_PREFIX`, e.g. `staging.`) lets several environments, or parallel test runs,
/// share one Kafka cluster; the envelope's `type` stays the plain topic name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicNames {
    prefix: String,
}

impl TopicNames {
    pub fn with_prefix(prefix: &str) -> Result<Self, String> {
        if prefix.len() > 100
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err("the topic prefix may only hold up to 100 of A-Z a-z 0-9 . _ -".into());
        }
        Ok(Self {
            prefix: prefix.to_string(),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn name(&self, topic: Topic) -> String {
        format!("{}{}", self.prefix, topic.as_str())
    }

    pub fn dead_letter(&self, topic: Topic) -> String {
        format!("{}{}", self.prefix, topic.dead_letter())
    }

    /// The topic a bus name stands for (without the dead-letter topics).
    pub fn topic_of(&self, name: &str) -> Option<Topic> {
        name.strip_prefix(self.prefix.as_str())
            .and_then(|plain| Topic::parse(plain).ok())
    }

    pub fn all(&self) -> Vec<String> {
        Topic::ALL.iter().map(|t| self.name(*t)).collect()
    }

    pub fn dead_letters(&self) -> Vec<String> {
        Topic::ALL.iter().map(|t| self.dead_letter(*t)).collect()
    }

    /// The six topics and their dead-letter topics as DESIGN.md §3 specifies them.
    pub fn specs(&self, partitions: i32, replication_factor: i16) -> Vec<TopicSpec> {
        let configs = vec![
            ("retention.ms".to_string(), "604800000".to_string()),
            ("cleanup.policy".to_string(), "delete".to_string()),
        ];
        self.all()
            .into_iter()
            .chain(self.dead_letters())
            .map(|name| TopicSpec {
                name,
                partitions,
                replication_factor,
                configs: configs.clone(),
            })
            .collect()
    }
}

/// Kafka's default partitioner (murmur2 of the key, positive, modulo the partition count), so a
/// key lands on the same partition in the embedded bus, the Java clients and librdkafka
/// configured with `partitioner=murmur2_random`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

/// Kafka's murmur2 (seed 0x9747b28c), as in `org.apache.kafka.common.utils.Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = length / 4;
    for i in 0..chunks {
        let i4 = i * 4;
        let mut k = u32::from_le_bytes([data[i4], data[i4 + 1], data[i4 + 2], data[i4 + 3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = &data[chunks * 4..];
    match rest.len() {
        3 => {
            h ^= (rest[2] as u32) << 16;
            h ^= (rest[1] as u32) << 8;
            h ^= rest[0] as u32;
            h = h.wrapping_mul(M);
        }
        2 => {
            h ^= (rest[1] as u32) << 8;
            h ^= rest[0] as u32;
            h = h.wrapping_mul(M);
        }
        1 => {
            h ^= rest[0] as u32;
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_java_implementation() {
        // Vectors from Kafka's UtilsTest.testMurmur2 (signed ints there).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input) as i32,
                expected,
                "{:?}",
                std::str::from_utf8(input)
            );
        }
    }

    #[test]
    fn topic_names_carry_the_prefix_and_map_back() {
        let names = TopicNames::with_prefix("staging.").unwrap();
        assert_eq!(names.name(Topic::KycVerified), "staging.kyc-verified");
        assert_eq!(
            names.dead_letter(Topic::KycVerified),
            "staging.kyc-verified.dlq"
        );
        assert_eq!(
            names.topic_of("staging.kyc-verified"),
            Some(Topic::KycVerified)
        );
        assert_eq!(names.topic_of("kyc-verified"), None);
        assert_eq!(names.specs(3, 2).len(), 12);
        assert!(TopicNames::with_prefix("bad prefix").is_err());
    }

    #[test]
    fn a_key_always_maps_to_the_same_partition_in_range() {
        for key in ["test-customer-123", "a", "", "customer-b"] {
            let p = partition_for_key(key.as_bytes(), 3);
            assert!((0..3).contains(&p));
            assert_eq!(p, partition_for_key(key.as_bytes(), 3));
        }
    }
}
