//! The consumers' event log on DynamoDB. An event is stored once by its id: recording puts the
//! event with `attribute_not_exists(eventId)` in the same `TransactWriteItems` as its audit row,
//! its notifications and the application's projection (guarded by the projection's `version`),
//! so a redelivered event writes nothing — no second audit row, no second notification.
//!
//! A batch is recorded in transactions of at most [`MAX_TRANSACTION_ITEMS`] writes, each
//! holding whole events: every event is all or nothing, and a batch that fails half-way is
//! finished by its redelivery (the stored events then count as duplicates).

use super::batches::Read;
use super::codec::{build_error, s, sdk_error, time_key, Fields, Item, ItemBuilder};
use super::records::{self, StoredProjection};
use super::state::PartitionQuery;
use super::tables::{attr, index};
use super::{DynamoStore, MAX_TRANSACTION_ITEMS};
use crate::domain::event::Envelope;
use crate::domain::ids::{ApplicationId, CustomerId, EventId};
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationProjection, AuditEntry, EventLog, EventRecord, Notification, RecordOutcome,
    StoreError, StoreResult,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The partition of the events' time index (the operator's "recent events").
const FEED: &str = "events";

/// Rounds of "read which events exist, write the others" before a batch that keeps meeting
/// concurrent writers gives up with a retryable error.
const ROUNDS: usize = 5;

fn event_item(event: &Envelope, now: DateTime<Utc>) -> StoreResult<Item> {
    Ok(ItemBuilder::default()
        .s(attr::EVENT_ID, event.id.to_string())
        .s(attr::CUSTOMER_ID, event.customer_id.as_str())
        .n(attr::SEQUENCE, event.sequence)
        .opt_s(
            attr::APPLICATION_ID,
            event.application_id.map(|a| a.to_string()),
        )
        .s("topic", event.topic.as_str())
        .s(attr::FEED, FEED)
        .s(attr::OCCURRED_KEY, time_key(event.occurred_at, event.id))
        .instant("occurredAt", event.occurred_at)
        .json("envelope", event)?
        .instant("storedAt", now)
        .build())
}

fn envelopes(items: &[Item]) -> StoreResult<Vec<Envelope>> {
    items
        .iter()
        .map(|item| Fields::of("events", item).json("envelope"))
        .collect()
}

/// Folds `event` into the application's projection: fields move only forward in sequence
/// order, the count grows by one.
fn fold(
    current: Option<StoredProjection>,
    application: ApplicationId,
    event: &Envelope,
    now: DateTime<Utc>,
) -> StoredProjection {
    let status = event
        .data
        .get("status")
        .and_then(|s| s.as_str())
        .and_then(ApplicationStatus::parse);
    let Some(mut p) = current else {
        return StoredProjection {
            projection: ApplicationProjection {
                application_id: application,
                customer_id: event.customer_id.clone(),
                status,
                last_event_id: event.id,
                last_event_type: event.topic,
                last_sequence: event.sequence,
                event_count: 1,
                updated_at: now,
            },
            status_sequence: if status.is_some() { event.sequence } else { 0 },
            version: 0,
        };
    };
    let v = &mut p.projection;
    if event.sequence > v.last_sequence {
        v.last_event_id = event.id;
        v.last_event_type = event.topic;
        v.last_sequence = event.sequence;
    }
    if let Some(status) = status.filter(|_| event.sequence > p.status_sequence) {
        v.status = Some(status);
        p.status_sequence = event.sequence;
    }
    v.event_count += 1;
    v.updated_at = now;
    p
}

/// Why one transaction of a batch did not go through.
enum ChunkError {
    /// A concurrent writer stored one of the events or moved a projection: read and retry.
    Raced,
    Failed(StoreError),
}

impl From<StoreError> for ChunkError {
    fn from(e: StoreError) -> Self {
        Self::Failed(e)
    }
}

impl DynamoStore {
    /// Which of `ids` are stored.
    async fn stored_events(&self, ids: &[EventId]) -> StoreResult<HashSet<EventId>> {
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.batch_get(&self.tables.events, attr::EVENT_ID, &keys, Read::KeyOnly)
            .await?
            .iter()
            .map(|item| Fields::of("events", item).uuid(attr::EVENT_ID, EventId))
            .collect()
    }

    async fn read_projection(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<StoredProjection>> {
        self.get(
            &self.tables.projections,
            attr::APPLICATION_ID,
            application.to_string(),
        )
        .await?
        .map(|item| records::projection_record(&item))
        .transpose()
    }

    /// Writes `chunk` (new events, in order) in one transaction.
    async fn record_chunk(&self, chunk: &[&EventRecord]) -> Result<(), ChunkError> {
        let t = &self.tables;
        let now = Utc::now();
        let mut projections: HashMap<ApplicationId, Option<StoredProjection>> = HashMap::new();
        let mut writes = Vec::new();
        let mut notifications: HashMap<&str, &Notification> = HashMap::new();
        for record in chunk {
            let event = &record.event;
            let put = Put::builder()
                .table_name(&t.events)
                .set_item(Some(event_item(event, now)?))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", attr::EVENT_ID)
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().put(put).build());
            let put = Put::builder()
                .table_name(&t.audit)
                .set_item(Some(records::audit_item(&record.audit)))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().put(put).build());
            for n in &record.notifications {
                notifications.entry(n.id.as_str()).or_insert(n);
            }
            if let Some(application) = event.application_id {
                let current = match projections.remove(&application) {
                    Some(known) => known,
                    None => self.read_projection(application).await?,
                };
                projections.insert(application, Some(fold(current, application, event, now)));
            }
        }
        // Unconditional: a notification's id comes from its event's, which is new here.
        for n in notifications.values() {
            let put = Put::builder()
                .table_name(&t.notifications)
                .set_item(Some(records::notification_item(n)))
                .build()
                .map_err(build_error)?;
            writes.push(TransactWriteItem::builder().put(put).build());
        }
        for p in projections.into_values().flatten() {
            let mut put =
                Put::builder()
                    .table_name(&t.projections)
                    .set_item(Some(records::projection_item(&StoredProjection {
                        version: p.version + 1,
                        ..p.clone()
                    })));
            put = if p.version == 0 {
                put.condition_expression("attribute_not_exists(#k)")
                    .expression_attribute_names("#k", attr::APPLICATION_ID)
            } else {
                put.condition_expression("#v = :v")
                    .expression_attribute_names("#v", "version")
                    .expression_attribute_values(":v", AttributeValue::N(p.version.to_string()))
            };
            writes.push(
                TransactWriteItem::builder()
                    .put(put.build().map_err(build_error)?)
                    .build(),
            );
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c))
                    if c.cancellation_reasons().iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    }) =>
                {
                    Err(ChunkError::Raced)
                }
                _ => Err(sdk_error("TransactWriteItems", e).into()),
            },
        }
    }
}

/// The writes one event costs: itself, its audit row, its notifications, and its
/// application's projection (counted once per transaction).
fn cost(record: &EventRecord) -> usize {
    2 + record.notifications.len() + usize::from(record.event.application_id.is_some())
}

/// Splits the events into transactions of at most [`MAX_TRANSACTION_ITEMS`] writes.
fn chunks<'a>(records: &[&'a EventRecord]) -> StoreResult<Vec<Vec<&'a EventRecord>>> {
    let mut chunks: Vec<Vec<&EventRecord>> = Vec::new();
    let mut used = 0;
    for record in records {
        let cost = cost(record);
        if cost > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::Other(format!(
                "event {} needs {cost} writes, above DynamoDB's limit of {MAX_TRANSACTION_ITEMS}",
                record.event.id
            )));
        }
        match chunks.last_mut() {
            Some(chunk) if used + cost <= MAX_TRANSACTION_ITEMS => chunk.push(record),
            _ => {
                chunks.push(vec![record]);
                used = 0;
            }
        }
        used += cost;
    }
    Ok(chunks)
}

#[async_trait]
impl EventLog for DynamoStore {
    async fn record_event(
        &self,
        event: &Envelope,
        audit: &AuditEntry,
        notifications: &[Notification],
    ) -> StoreResult<RecordOutcome> {
        let batch = [EventRecord {
            event: event.clone(),
            audit: audit.clone(),
            notifications: notifications.to_vec(),
        }];
        Ok(self.record_events(&batch).await?[0])
    }

    async fn record_events(&self, batch: &[EventRecord]) -> StoreResult<Vec<RecordOutcome>> {
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; batch.len()];
        // A second copy of an event within the batch is a duplicate of the first.
        let mut seen = HashSet::new();
        for (i, record) in batch.iter().enumerate() {
            if !seen.insert(record.event.id) {
                outcomes[i] = Some(RecordOutcome::Duplicate);
            }
        }
        for _ in 0..ROUNDS {
            let undecided: Vec<usize> = (0..batch.len())
                .filter(|&i| outcomes[i].is_none())
                .collect();
            if undecided.is_empty() {
                break;
            }
            let ids: Vec<EventId> = undecided.iter().map(|&i| batch[i].event.id).collect();
            let stored = self.stored_events(&ids).await?;
            let mut todo = Vec::new();
            for &i in &undecided {
                if stored.contains(&batch[i].event.id) {
                    outcomes[i] = Some(RecordOutcome::Duplicate);
                } else {
                    todo.push(i);
                }
            }
            let records: Vec<&EventRecord> = todo.iter().map(|&i| &batch[i]).collect();
            let mut written = 0;
            for chunk in chunks(&records)? {
                match self.record_chunk(&chunk).await {
                    Ok(()) => {
                        for &i in &todo[written..written + chunk.len()] {
                            outcomes[i] = Some(RecordOutcome::Inserted);
                        }
                        written += chunk.len();
                    }
                    Err(ChunkError::Raced) => break,
                    Err(ChunkError::Failed(e)) => return Err(e),
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.ok_or_else(|| {
                    StoreError::Unavailable(
                        "concurrent consumers kept recording the same events; retry".into(),
                    )
                })
            })
            .collect()
    }

    async fn events_after(
        &self,
        customer: &CustomerId,
        after_sequence: u64,
        limit: i64,
    ) -> StoreResult<Vec<Envelope>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let q = PartitionQuery {
            index: Some(index::EVENTS_BY_CUSTOMER),
            sort: Some((
                attr::SEQUENCE,
                ">",
                AttributeValue::N(after_sequence.to_string()),
            )),
            limit: usize::try_from(limit).ok(),
            ..PartitionQuery::new(&self.tables.events, attr::CUSTOMER_ID, s(customer.as_str()))
        };
        envelopes(&self.query(q).await?)
    }

    async fn event_of_customer(
        &self,
        customer: &CustomerId,
        event: EventId,
    ) -> StoreResult<Option<Envelope>> {
        let Some(item) = self
            .get(&self.tables.events, attr::EVENT_ID, event.to_string())
            .await?
        else {
            return Ok(None);
        };
        if Fields::of("events", &item).customer_id(attr::CUSTOMER_ID)? != *customer {
            return Ok(None);
        }
        Ok(envelopes(&[item])?.pop())
    }

    async fn application_events(&self, application: ApplicationId) -> StoreResult<Vec<Envelope>> {
        let q = PartitionQuery {
            index: Some(index::EVENTS_BY_APPLICATION),
            ..PartitionQuery::new(
                &self.tables.events,
                attr::APPLICATION_ID,
                s(application.to_string()),
            )
        };
        envelopes(&self.query(q).await?)
    }

    async fn last_stored_sequence(&self, customer: &CustomerId) -> StoreResult<u64> {
        let q = PartitionQuery {
            index: Some(index::EVENTS_BY_CUSTOMER),
            forward: false,
            limit: Some(1),
            ..PartitionQuery::new(&self.tables.events, attr::CUSTOMER_ID, s(customer.as_str()))
        };
        match self.query(q).await?.first() {
            Some(item) => Fields::of("events", item).unsigned(attr::SEQUENCE),
            None => Ok(0),
        }
    }

    /// The time index, newest first: one partition (`feed = "events"`) of the GSI.
    async fn recent_events(&self, limit: i64) -> StoreResult<Vec<Envelope>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let q = PartitionQuery {
            index: Some(index::EVENTS_BY_TIME),
            forward: false,
            limit: usize::try_from(limit).ok(),
            ..PartitionQuery::new(&self.tables.events, attr::FEED, s(FEED))
        };
        envelopes(&self.query(q).await?)
    }

    async fn application_projection(
        &self,
        application: ApplicationId,
    ) -> StoreResult<Option<ApplicationProjection>> {
        Ok(self
            .read_projection(application)
            .await?
            .map(|p| p.projection))
    }

    /// Oldest first by the audited action's instant.
    async fn audit_trail(&self, customer: &CustomerId, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let q = PartitionQuery {
            limit: usize::try_from(limit).ok(),
            ..PartitionQuery::new(&self.tables.audit, attr::CUSTOMER_ID, s(customer.as_str()))
        };
        self.query(q)
            .await?
            .iter()
            .map(records::audit_record)
            .collect()
    }
}
