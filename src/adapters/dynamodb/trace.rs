//! The trace port on DynamoDB, kept on the items that exist anyway: the record's position, its
//! timestamp and the group's commit as attributes of the event's item (the first commit only,
//! by a condition), each push as a `push_<connection>` attribute of it (a later push to the same
//! connection replaces it). The outbox deletes a row once the bus acknowledged it, so a trace
//! shows outbox rows only while they are pending; notifications are read by their
//! deterministic ids (`{event}.{kind}`).

use super::codec::{n, s, Fields, Item};
use super::notifications::conditionally;
use super::outbox::PENDING;
use super::state::PartitionQuery;
use super::tables::{attr, index};
use super::DynamoStore;
use crate::domain::event::Envelope;
use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::store::{NotificationKind, StoreResult};
use crate::ports::trace::{
    CommittedRecord, ConsumedHop, EventTrace, NotificationHop, OutboxHop, PushRecord, PushResult,
    TraceLog, MAX_PUSHES_PER_EVENT,
};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

/// Prefix of the attributes holding one push each.
const PUSH_PREFIX: &str = "push_";

fn instant(f: &Fields<'_>, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(f.opt_int(name)?
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single()))
}

/// `outcome node-id millis`: node ids are one word (`node-…`).
fn push_value(push: &PushRecord) -> String {
    format!(
        "{} {} {}",
        push.outcome.as_str(),
        push.node_id,
        push.at.timestamp_millis()
    )
}

fn pushes_of(item: &Item, trace: &EventTrace) -> Vec<PushRecord> {
    let mut pushes: Vec<PushRecord> = item
        .iter()
        .filter_map(|(name, value)| {
            let connection = ConnectionId::parse(name.strip_prefix(PUSH_PREFIX)?).ok()?;
            let mut parts = value.as_s().ok()?.split(' ');
            let outcome = PushResult::parse(parts.next()?)?;
            let node_id = parts.next()?.to_string();
            let at = Utc
                .timestamp_millis_opt(parts.next()?.parse().ok()?)
                .single()?;
            Some(PushRecord {
                event_id: trace.event.id,
                connection_id: connection,
                node_id,
                outcome,
                at,
            })
        })
        .collect();
    pushes.sort_by_key(|p| (p.at, p.connection_id));
    pushes
}

#[async_trait]
impl TraceLog for DynamoStore {
    async fn events_committed(&self, records: &[CommittedRecord]) -> StoreResult<()> {
        for record in records {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.tables.events)
                .key(attr::EVENT_ID, s(record.event_id.to_string()))
                .update_expression("SET recordPartition = :p, recordOffset = :o, committedAt = :c")
                .condition_expression("attribute_exists(#id) AND attribute_not_exists(committedAt)")
                .expression_attribute_names("#id", attr::EVENT_ID)
                .expression_attribute_values(":p", n(record.partition))
                .expression_attribute_values(":o", n(record.offset))
                .expression_attribute_values(":c", n(record.committed_at.timestamp_millis()));
            if let Some(published) = record.published_at {
                update = update
                    .update_expression(
                        "SET recordPartition = :p, recordOffset = :o, committedAt = :c, \
                         recordTimestamp = :t",
                    )
                    .expression_attribute_values(":t", n(published.timestamp_millis()));
            }
            // A condition that failed: an event already committed, or one not stored here.
            conditionally(update).await?;
        }
        Ok(())
    }

    /// A push to a connection already recorded replaces it; a new one is added while the event
    /// holds fewer than [`MAX_PUSHES_PER_EVENT`] (counted in `pushCount`).
    async fn record_pushes(&self, pushes: &[PushRecord]) -> StoreResult<()> {
        for push in pushes {
            let update = |expression: &str, condition: &str| {
                self.client
                    .update_item()
                    .table_name(&self.tables.events)
                    .key(attr::EVENT_ID, s(push.event_id.to_string()))
                    .update_expression(expression)
                    .condition_expression(condition)
                    .expression_attribute_names(
                        "#push",
                        format!("{PUSH_PREFIX}{}", push.connection_id),
                    )
                    .expression_attribute_values(":push", s(push_value(push)))
            };
            let replaced =
                conditionally(update("SET #push = :push", "attribute_exists(#push)")).await?;
            if !replaced {
                let added = update(
                    "SET #push = :push ADD pushCount :one",
                    "attribute_exists(#id) AND (attribute_not_exists(pushCount) OR pushCount < :max)",
                )
                .expression_attribute_names("#id", attr::EVENT_ID)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(MAX_PUSHES_PER_EVENT));
                // A condition that failed: the event is not stored here, or holds enough pushes.
                conditionally(added).await?;
            }
        }
        Ok(())
    }

    async fn customer_trace(
        &self,
        customer: &CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<EventTrace>> {
        let keep = usize::try_from(limit).unwrap_or(0);
        let q = PartitionQuery {
            index: Some(index::EVENTS_BY_CUSTOMER),
            forward: false,
            limit: Some(keep),
            ..PartitionQuery::new(&self.tables.events, attr::CUSTOMER_ID, s(customer.as_str()))
        };
        let mut traces = Vec::new();
        for item in self.query(q).await? {
            let f = Fields::of("events", &item);
            let event: Envelope = f.json("envelope")?;
            let mut trace = EventTrace {
                event,
                outbox: None,
                consumed: Some(ConsumedHop {
                    stored_at: f.instant("storedAt")?,
                    partition: f
                        .opt_int("recordPartition")?
                        .and_then(|p| i32::try_from(p).ok()),
                    offset: f.opt_int("recordOffset")?,
                    published_at: instant(&f, "recordTimestamp")?,
                    committed_at: instant(&f, "committedAt")?,
                }),
                notifications: Vec::new(),
                pushes: Vec::new(),
            };
            trace.pushes = pushes_of(&item, &trace);
            for kind in [
                NotificationKind::CustomerEmail,
                NotificationKind::OperatorAlert,
            ] {
                let id = format!("{}.{}", trace.event.id, kind.as_str());
                if let Some(item) = self
                    .get(
                        &self.tables.notifications,
                        attr::NOTIFICATION_ID,
                        id.clone(),
                    )
                    .await?
                {
                    let f = Fields::of("notifications", &item);
                    trace.notifications.push(NotificationHop {
                        id,
                        kind,
                        attempts: f.unsigned("attempts")?,
                        created_at: f.instant("createdAt")?,
                        next_attempt_at: f.instant(attr::NEXT_ATTEMPT_AT)?,
                        delivered_at: instant(&f, "deliveredAt")?,
                        last_error: f.opt_text("lastError")?,
                    });
                }
            }
            traces.push(trace);
        }
        // Pending outbox rows of the customer (sent ones are deleted on DynamoDB).
        let pending = self
            .query(PartitionQuery::new(
                &self.tables.outbox,
                attr::STREAM,
                s(PENDING),
            ))
            .await?;
        for item in &pending {
            let f = Fields::of("outbox", item);
            if f.text(attr::CUSTOMER_ID)? != customer.as_str() {
                continue;
            }
            let event: Envelope = f.json("envelope")?;
            let hop = OutboxHop {
                seq: f.int(attr::SEQ)?,
                created_at: f.instant("createdAt")?,
                sent_at: None,
                partition: None,
                offset: None,
            };
            match traces.iter_mut().find(|t| t.event.id == event.id) {
                Some(trace) => trace.outbox = Some(hop),
                None => traces.push(EventTrace {
                    event,
                    outbox: Some(hop),
                    consumed: None,
                    notifications: Vec::new(),
                    pushes: Vec::new(),
                }),
            }
        }
        traces.sort_by_key(|t| (t.event.sequence, t.event.id));
        if traces.len() > keep {
            traces.drain(..traces.len() - keep);
        }
        Ok(traces)
    }
}
