//! The `consume` function: an MSK event (`eventSource` `aws:kafka`, records grouped by
//! `topic-partition`, base64 key and value) processed by the consumer role's batch operation,
//! then the notifications it queued sent within the invocation.
//!
//! A record that is not processed yet (a transient failure) fails the invocation, so Lambda
//! delivers the batch again; everything is idempotent by event id, so what was already stored
//! is neither stored nor notified twice. A poison record goes to the dead-letter topic.

use crate::domain::event::Topic;
use crate::ports::bus::ConsumedRecord;
use crate::roles::consumer::{ConsumerRole, RecordResult};
use crate::roles::notify::NotificationDispatcher;
use aws_lambda_events::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Why an MSK invocation failed (Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("the event is not an MSK event: {0}")]
    NotKafka(String),
    #[error("{failed} record(s) could not be processed yet: {reason}")]
    Unfinished { failed: usize, reason: String },
}

/// Processes the records of `payload` for `topic`, partition by partition, in offset order.
pub async fn handle(
    consumer: &ConsumerRole,
    dispatcher: &NotificationDispatcher,
    topic: Topic,
    payload: Value,
) -> Result<Value, ConsumeError> {
    let event: KafkaEvent =
        serde_json::from_value(payload).map_err(|e| ConsumeError::NotKafka(e.to_string()))?;
    if event.event_source.as_deref() != Some("aws:kafka")
        && event.event_source.as_deref() != Some("SelfManagedKafka")
    {
        return Err(ConsumeError::NotKafka(format!(
            "eventSource is {:?}",
            event.event_source
        )));
    }
    let mut partitions: Vec<(String, Vec<KafkaRecord>)> = event.records.into_iter().collect();
    partitions.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut stored, mut duplicates, mut dead_lettered) = (0, 0, 0);
    for (_, records) in partitions {
        let mut records: Vec<ConsumedRecord> = records.into_iter().map(consumed).collect();
        records.sort_by_key(|r| r.offset);
        let report = consumer.process_batch(topic, &records).await;
        if let Some(reason) = report.first_failure() {
            return Err(ConsumeError::Unfinished {
                failed: report.failed().count(),
                reason: reason.to_owned(),
            });
        }
        for result in &report.results {
            match result {
                RecordResult::Stored => stored += 1,
                RecordResult::Duplicate => duplicates += 1,
                RecordResult::DeadLettered { .. } => dead_lettered += 1,
                RecordResult::Failed { .. } => {}
            }
        }
    }
    let sent = send_due_notifications(dispatcher).await;
    tracing::info!(
        topic = %topic, stored, duplicates, dead_lettered, notifications = sent,
        "Consumed an MSK batch."
    );
    Ok(json!({
        "stored": stored,
        "duplicates": duplicates,
        "deadLettered": dead_lettered,
        "notificationsSent": sent,
    }))
}

/// Sends what is due now, round after round until a round finds nothing; what fails stays
/// queued for a later invocation (of `consume` or the scheduled `relay`).
pub async fn send_due_notifications(dispatcher: &NotificationDispatcher) -> usize {
    const MAX_ROUNDS: usize = 20;
    let never = CancellationToken::new();
    let mut sent = 0;
    for _ in 0..MAX_ROUNDS {
        match dispatcher.dispatch_due(chrono::Utc::now(), &never).await {
            Ok(report) => {
                sent += report.delivered;
                if report.due == 0 || report.delivered == 0 {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "Sending notifications failed; the relay schedule retries them.");
                break;
            }
        }
    }
    sent
}

/// One MSK record as the consumer role reads records. Undecodable parts stay empty: the
/// role then finds no envelope and dead-letters the record like any poison record.
fn consumed(record: KafkaRecord) -> ConsumedRecord {
    let decode = |text: Option<String>| {
        text.and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
    };
    let headers = record
        .headers
        .iter()
        .flat_map(|header| header.iter())
        .map(|(name, value)| {
            let bytes: Vec<u8> = value.iter().map(|b| *b as u8).collect();
            (name.clone(), String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    ConsumedRecord {
        topic: record.topic.unwrap_or_default(),
        partition: i32::try_from(record.partition).unwrap_or(i32::MAX),
        offset: record.offset,
        key: decode(record.key).and_then(|bytes| String::from_utf8(bytes).ok()),
        headers,
        value: Bytes::from(decode(record.value).unwrap_or_default()),
        timestamp_ms: record.timestamp.0.timestamp_millis(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_msk_record_is_decoded_with_its_key_value_and_headers() {
        let record: KafkaRecord = serde_json::from_value(json!({
            "topic": "user-info-submitted", "partition": 2, "offset": 15,
            "timestamp": 1545084650987i64, "timestampType": "CREATE_TIME",
            "key": "Y3VzdC0x", "value": "eyJhIjoxfQ==",
            "headers": [{"event-type": [117, 115, 101, 114]}]
        }))
        .unwrap();
        let consumed = consumed(record);
        assert_eq!(consumed.key.as_deref(), Some("cust-1"));
        assert_eq!(&consumed.value[..], br#"{"a":1}"#);
        assert_eq!(consumed.header("event-type"), Some("user"));
        assert_eq!((consumed.partition, consumed.offset), (2, 15));
    }
}
