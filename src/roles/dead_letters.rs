//! Dead letters for operators (`onboard dlq list|show|replay`, the operator page): the records
//! of the `.dlq` topics with what their headers say (origin, reason, attempts, event id and
//! type, time), and replaying one onto its original topic with an audit row in the store.
//!
//! A record is named `<dead-letter topic>:<partition>:<offset>`. Replaying is idempotent from
//! the operator's side: a record replayed once is refused unless forced, and the consumers
//! de-duplicate by event id anyway. The replay is published before it is audited, so a crash in
//! between leaves a replay without its row (a later replay is then not refused; the consumers
//! still store the event once) rather than a row for a replay that never happened.

use crate::ports::bus::{BusError, ConsumedRecord, EventBus, OutgoingRecord, TopicNames};
use crate::ports::operations::DeadLetterReplay;
use crate::ports::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Headers the consumer adds when it dead-letters a record (`consumer::dead_letter`).
pub mod header {
    pub const ORIGIN_TOPIC: &str = "dlq-origin-topic";
    pub const ORIGIN_PARTITION: &str = "dlq-origin-partition";
    pub const ORIGIN_OFFSET: &str = "dlq-origin-offset";
    pub const REASON: &str = "dlq-reason";
    pub const ATTEMPTS: &str = "dlq-attempts";
    pub const AT: &str = "dlq-at";
    /// Set on a replayed copy: the dead-lettered record it came from.
    pub const REPLAYED_FROM: &str = "dlq-replayed-from";
    /// Every dead-letter header starts so; a replay drops them.
    pub const PREFIX: &str = "dlq-";
}

/// At most this many records are listed (all dead-letter topics together) unless asked.
pub const DEFAULT_LIST_LIMIT: usize = 1000;

/// Records read per `read_partition` call.
const READ_CHUNK: usize = 200;

/// A dead-lettered record as operators see it: ids, statuses and reasons, never the payload's
/// personal data (events carry none; the key, a customer id, is shown as the operator page does).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub origin_topic: Option<String>,
    pub origin_partition: Option<i32>,
    pub origin_offset: Option<i64>,
    pub reason: Option<String>,
    pub attempts: Option<u32>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// When it was dead-lettered (the `dlq-at` header, else the record's append time).
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// Its replays, oldest first (empty: never replayed).
    pub replays: Vec<ReplayView>,
}

/// A replay as listed (the audit row's fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayView {
    pub replayed_at: DateTime<Utc>,
    pub replayed_by: String,
    pub reason: String,
    pub replayed_to: String,
    pub forced: bool,
}

impl From<DeadLetterReplay> for ReplayView {
    fn from(r: DeadLetterReplay) -> Self {
        Self {
            replayed_at: r.replayed_at,
            replayed_by: r.replayed_by,
            reason: r.reason,
            replayed_to: r.replayed_to,
            forced: r.forced,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("'{0}' is not a dead-letter record id; expected <dead-letter topic>:<partition>:<offset> as `dlq list` prints it")]
    InvalidId(String),
    #[error("{0} is not one of the dead-letter topics ({1})")]
    NotADeadLetterTopic(String, String),
    #[error("no record {0}: it does not exist or retention deleted it")]
    NotFound(String),
    #[error("{id} names no original topic of this system ({origin}); it cannot be replayed")]
    NoOrigin { id: String, origin: String },
    #[error("a replay needs a reason (what was fixed)")]
    NoReason,
    #[error("a replay needs to say who asks")]
    NoOperator,
    #[error("the event bus failed: {0}")]
    Bus(#[from] BusError),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayOutcome {
    /// Put back on its topic and audited.
    Replayed(DeadLetterReplay),
    /// Replayed before (these are the earlier replays) and not forced: nothing was published.
    AlreadyReplayed(Vec<DeadLetterReplay>),
}

/// A parsed record id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordId {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl RecordId {
    pub fn parse(raw: &str) -> Result<Self, DeadLetterError> {
        let invalid = || DeadLetterError::InvalidId(raw.chars().take(200).collect());
        let mut parts = raw.rsplitn(3, ':');
        let offset = parts.next().and_then(|o| o.parse::<i64>().ok());
        let partition = parts.next().and_then(|p| p.parse::<i32>().ok());
        let topic = parts.next().filter(|t| !t.is_empty());
        match (topic, partition, offset) {
            (Some(topic), Some(partition), Some(offset)) if partition >= 0 && offset >= 0 => {
                Ok(Self {
                    topic: topic.to_string(),
                    partition,
                    offset,
                })
            }
            _ => Err(invalid()),
        }
    }
}

impl std::fmt::Display for RecordId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.topic, self.partition, self.offset)
    }
}

/// The operator's view of dead letters over one bus and store.
pub struct DeadLetters<'a> {
    pub bus: &'a dyn EventBus,
    pub store: &'a dyn Store,
    pub topics: &'a TopicNames,
}

impl DeadLetters<'_> {
    /// The dead-lettered records of every `.dlq` topic, oldest first per partition, at most
    /// `limit` (a topic not created yet has none).
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let existing = self.bus.list_topics().await?;
        let topics: Vec<String> = self
            .topics
            .dead_letters()
            .into_iter()
            .filter(|t| existing.contains(t))
            .collect();
        let mut listed = Vec::new();
        for info in self.bus.describe_topics(&topics).await? {
            for p in &info.partitions {
                let mut next = p.start_offset;
                while next < p.end_offset && listed.len() < limit {
                    let want = READ_CHUNK.min(limit - listed.len());
                    let records = self
                        .bus
                        .read_partition(&info.name, p.partition, next, want)
                        .await?;
                    let Some(last) = records.last() else { break };
                    next = last.offset + 1;
                    for record in &records {
                        listed.push(self.view(record).await?);
                    }
                }
            }
        }
        Ok(listed)
    }

    /// One record and its view.
    pub async fn show(
        &self,
        raw_id: &str,
    ) -> Result<(DeadLetter, ConsumedRecord), DeadLetterError> {
        let record = self.read(raw_id).await?;
        Ok((self.view(&record).await?, record))
    }

    /// Puts the record back on its original topic (same key, value and headers, less the
    /// dead-letter ones, plus `dlq-replayed-from`) and audits who, when and why. A record
    /// replayed before is not published again unless `force`.
    pub async fn replay(
        &self,
        raw_id: &str,
        by: &str,
        reason: &str,
        force: bool,
    ) -> Result<ReplayOutcome, DeadLetterError> {
        let (by, reason) = (by.trim(), reason.trim());
        if reason.is_empty() {
            return Err(DeadLetterError::NoReason);
        }
        if by.is_empty() {
            return Err(DeadLetterError::NoOperator);
        }
        let record = self.read(raw_id).await?;
        let id = RecordId {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        }
        .to_string();
        let origin = record.header(header::ORIGIN_TOPIC).unwrap_or_default();
        if self.topics.topic_of(origin).is_none() {
            return Err(DeadLetterError::NoOrigin {
                id,
                origin: origin.chars().take(200).collect(),
            });
        }
        let earlier = self.store.dead_letter_replays(&id).await?;
        if !earlier.is_empty() && !force {
            return Ok(ReplayOutcome::AlreadyReplayed(earlier));
        }
        let mut headers: Vec<(String, String)> = record
            .headers
            .iter()
            .filter(|(k, _)| !k.starts_with(header::PREFIX))
            .cloned()
            .collect();
        headers.push((header::REPLAYED_FROM.to_string(), id.clone()));
        let delivered = self
            .bus
            .publish(vec![OutgoingRecord {
                topic: origin.to_string(),
                key: record.key.clone().unwrap_or_default(),
                headers,
                value: record.value.clone(),
            }])
            .await?;
        let landed = delivered
            .first()
            .ok_or_else(|| BusError::Unavailable("the bus acknowledged no record".into()))?;
        let replay = DeadLetterReplay {
            record_id: id,
            origin_topic: origin.to_string(),
            event_id: record.header("event-id").map(str::to_string),
            replayed_to: format!("{origin}:{}:{}", landed.partition, landed.offset),
            replayed_by: by.to_string(),
            reason: reason.to_string(),
            forced: !earlier.is_empty(),
            replayed_at: Utc::now(),
        };
        self.store.record_dead_letter_replay(&replay).await?;
        tracing::info!(record = %replay.record_id, replayed_to = %replay.replayed_to, by = %replay.replayed_by, forced = replay.forced, "A dead-lettered record was replayed.");
        Ok(ReplayOutcome::Replayed(replay))
    }

    async fn read(&self, raw_id: &str) -> Result<ConsumedRecord, DeadLetterError> {
        let id = RecordId::parse(raw_id)?;
        let allowed = self.topics.dead_letters();
        if !allowed.contains(&id.topic) {
            return Err(DeadLetterError::NotADeadLetterTopic(
                id.topic,
                allowed.join(", "),
            ));
        }
        let records = match self
            .bus
            .read_partition(&id.topic, id.partition, id.offset, 1)
            .await
        {
            Ok(records) => records,
            Err(BusError::UnknownTopic(_) | BusError::Invalid(_)) => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        records
            .into_iter()
            .find(|r| r.offset == id.offset)
            .ok_or_else(|| DeadLetterError::NotFound(id.to_string()))
    }

    async fn view(&self, record: &ConsumedRecord) -> Result<DeadLetter, DeadLetterError> {
        let id = RecordId {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        }
        .to_string();
        let replays = self.store.dead_letter_replays(&id).await?;
        let appended = DateTime::<Utc>::from_timestamp_millis(record.timestamp_ms);
        Ok(DeadLetter {
            id,
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            origin_topic: record.header(header::ORIGIN_TOPIC).map(str::to_string),
            origin_partition: record
                .header(header::ORIGIN_PARTITION)
                .and_then(|p| p.parse().ok()),
            origin_offset: record
                .header(header::ORIGIN_OFFSET)
                .and_then(|o| o.parse().ok()),
            reason: record.header(header::REASON).map(str::to_string),
            attempts: record.header(header::ATTEMPTS).and_then(|a| a.parse().ok()),
            event_id: record.header("event-id").map(str::to_string),
            event_type: record.header("event-type").map(str::to_string),
            dead_lettered_at: record
                .header(header::AT)
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .map(|at| at.with_timezone(&Utc))
                .or(appended),
            replays: replays.into_iter().map(ReplayView::from).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_id_names_topic_partition_and_offset() {
        let id = RecordId::parse("staging.user-info-submitted.dlq:2:17").unwrap();
        assert_eq!(id.topic, "staging.user-info-submitted.dlq");
        assert_eq!((id.partition, id.offset), (2, 17));
        assert_eq!(id.to_string(), "staging.user-info-submitted.dlq:2:17");
        for bad in [
            "",
            "topic",
            "topic:1",
            ":1:2",
            "topic:x:2",
            "topic:1:-2",
            "topic:-1:2",
        ] {
            assert!(
                matches!(RecordId::parse(bad), Err(DeadLetterError::InvalidId(_))),
                "{bad}"
            );
        }
    }
}
