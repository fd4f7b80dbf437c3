//! Dead letters: a record that cannot be processed goes to `<topic>.dlq` with its origin and the
//! reason and the number of attempts in headers, so one bad record never stalls its partition.

use crate::ports::bus::{BusError, ConsumedRecord, EventBus, OutgoingRecord};
use crate::roles::dead_letters::header;

pub async fn send(
    bus: &dyn EventBus,
    record: &ConsumedRecord,
    reason: &str,
    attempts: u32,
) -> Result<(), BusError> {
    let mut headers = record.headers.clone();
    headers.extend([
        (header::ORIGIN_TOPIC.to_string(), record.topic.clone()),
        (
            header::ORIGIN_PARTITION.to_string(),
            record.partition.to_string(),
        ),
        (header::ORIGIN_OFFSET.to_string(), record.offset.to_string()),
        (
            header::REASON.to_string(),
            reason.chars().take(500).collect(),
        ),
        (header::ATTEMPTS.to_string(), attempts.to_string()),
        (header::AT.to_string(), chrono::Utc::now().to_rfc3339()),
    ]);
    bus.publish(vec![OutgoingRecord {
        topic: format!("{}.dlq", record.topic),
        key: record.key.clone().unwrap_or_default(),
        headers,
        value: record.value.clone(),
    }])
    .await?;
    tracing::error!(topic = %record.topic, partition = record.partition, offset = record.offset, reason = %reason, "A record was moved to the dead-letter topic.");
    metrics::counter!(crate::telemetry::DLQ_RECORDS, "topic" => record.topic.clone()).increment(1);
    Ok(())
}
