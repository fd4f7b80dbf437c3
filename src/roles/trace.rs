//! "What happened to customer X?": one customer's events, hop by hop, put together from what the
//! store keeps (`ports::trace`) — the step's answer, the outbox row, the publish and where the
//! record landed, the consumer's store and commit, the notifications and the pushes — with the
//! latency of each hop. `onboard trace` prints it; `GET /v1/ops/trace/{customerId}` serves the
//! same JSON to the operator page.

use crate::domain::ids::{ApplicationId, CustomerId};
use crate::ports::bus::TopicNames;
use crate::ports::store::{Store, StoreResult};
use crate::ports::trace::{EventTrace, NotificationHop, PushResult};
use crate::roles::notify::parked_until;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

/// Events shown per trace at most (the newest ones).
pub const TRACE_LIMIT: i64 = 500;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerTrace {
    pub customer_id: CustomerId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<ApplicationId>,
    pub events: Vec<TracedEvent>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracedEvent {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub sequence: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_id: Option<ApplicationId>,
    /// The step's request id (`X-Request-Id`), carried as the correlation id.
    pub correlation_id: String,
    /// When the step answered (the event's `occurredAt`, set in the step's transaction).
    pub answered_at: DateTime<Utc>,
    /// The bus topic (with the configured prefix).
    pub topic: String,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub outbox: Option<OutboxView>,
    /// When the record was sent to the bus (its timestamp; else when the bus acknowledged it).
    pub published_at: Option<DateTime<Utc>>,
    /// When a consumer stored the event.
    pub stored_at: Option<DateTime<Utc>>,
    /// When the consumer group committed the record's offset.
    pub committed_at: Option<DateTime<Utc>>,
    pub notifications: Vec<NotificationView>,
    pub pushes: Vec<PushView>,
    pub latency_ms: Latency,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxView {
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: String,
    pub kind: String,
    /// `sent`, `pending` (waiting for an attempt) or `parked` (failed for good).
    pub status: &'static str,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushView {
    pub connection_id: String,
    pub node_id: String,
    /// `delivered`, `gone` (the connection no longer existed) or `failed`.
    pub outcome: &'static str,
    pub at: DateTime<Utc>,
}

/// Milliseconds between hops; `None` where a hop has not happened (or was not recorded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub answer_to_publish: Option<i64>,
    pub publish_to_store: Option<i64>,
    pub store_to_commit: Option<i64>,
    /// To the first delivered push.
    pub answer_to_push: Option<i64>,
    /// To the first sent notification.
    pub answer_to_notification: Option<i64>,
}

/// Reads and assembles the customer's trace, optionally only one application's events.
pub async fn customer_trace(
    store: &dyn Store,
    topics: &TopicNames,
    customer: &CustomerId,
    application: Option<ApplicationId>,
) -> StoreResult<CustomerTrace> {
    let events = store
        .customer_trace(customer, TRACE_LIMIT)
        .await?
        .into_iter()
        .filter(|t| application.is_none() || t.event.application_id == application)
        .map(|t| traced(topics, t))
        .collect();
    Ok(CustomerTrace {
        customer_id: customer.clone(),
        application_id: application,
        events,
    })
}

fn traced(topics: &TopicNames, trace: EventTrace) -> TracedEvent {
    let event = &trace.event;
    let outbox = trace.outbox.as_ref();
    let consumed = trace.consumed.as_ref();
    // The record's own timestamp first: the outbox row is marked only after the whole relay
    // batch was acknowledged, sometimes after a consumer already stored the event.
    let published_at = consumed
        .and_then(|c| c.published_at)
        .or_else(|| outbox.and_then(|o| o.sent_at));
    let stored_at = consumed.map(|c| c.stored_at);
    let committed_at = consumed.and_then(|c| c.committed_at);
    let answered_at = event.occurred_at;
    let first_push = trace
        .pushes
        .iter()
        .filter(|p| p.outcome == PushResult::Delivered)
        .map(|p| p.at)
        .min();
    let first_mail = trace
        .notifications
        .iter()
        .filter_map(|n| n.delivered_at)
        .min();
    let parked_from = parked_until();
    TracedEvent {
        event_id: event.id.to_string(),
        event_type: event.topic.as_str().to_string(),
        sequence: event.sequence,
        application_id: event.application_id,
        correlation_id: event.correlation_id.clone(),
        answered_at,
        topic: topics.name(event.topic),
        // The consumer's record first: the outbox row may have been purged.
        partition: consumed
            .and_then(|c| c.partition)
            .or_else(|| outbox.and_then(|o| o.partition)),
        offset: consumed
            .and_then(|c| c.offset)
            .or_else(|| outbox.and_then(|o| o.offset)),
        outbox: outbox.map(|o| OutboxView {
            seq: o.seq,
            created_at: o.created_at,
            sent_at: o.sent_at,
        }),
        published_at,
        stored_at,
        committed_at,
        notifications: trace
            .notifications
            .iter()
            .map(|n| notification_view(n, parked_from))
            .collect(),
        pushes: trace
            .pushes
            .iter()
            .map(|p| PushView {
                connection_id: p.connection_id.to_string(),
                node_id: p.node_id.clone(),
                outcome: p.outcome.as_str(),
                at: p.at,
            })
            .collect(),
        latency_ms: Latency {
            answer_to_publish: between(Some(answered_at), published_at),
            publish_to_store: between(published_at, stored_at),
            store_to_commit: between(stored_at, committed_at),
            answer_to_push: between(Some(answered_at), first_push),
            answer_to_notification: between(Some(answered_at), first_mail),
        },
    }
}

fn notification_view(n: &NotificationHop, parked_from: DateTime<Utc>) -> NotificationView {
    let status = if n.delivered_at.is_some() {
        "sent"
    } else if n.next_attempt_at >= parked_from {
        "parked"
    } else {
        "pending"
    };
    NotificationView {
        id: n.id.clone(),
        kind: n.kind.as_str().to_string(),
        status,
        attempts: n.attempts,
        created_at: n.created_at,
        delivered_at: n.delivered_at,
        last_error: n.last_error.clone(),
    }
}

fn between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<i64> {
    Some((to? - from?).num_milliseconds())
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| "-".into())
}

fn ms(value: Option<i64>) -> String {
    value
        .map(|v| format!("{v} ms"))
        .unwrap_or_else(|| "-".into())
}

/// The trace for a terminal: one block per event, one line per hop.
pub fn render_text(trace: &CustomerTrace) -> String {
    let mut out = String::new();
    if trace.events.is_empty() {
        out.push_str(&format!("No events for customer {}.\n", trace.customer_id));
        return out;
    }
    for e in &trace.events {
        out.push_str(&format!(
            "#{} {} event {}\n  request/correlation id  {}\n  step answered           {}\n",
            e.sequence,
            e.event_type,
            e.event_id,
            e.correlation_id,
            time(Some(e.answered_at)),
        ));
        match &e.outbox {
            Some(o) => out.push_str(&format!(
                "  outbox row              seq {} created {} sent {}\n",
                o.seq,
                time(Some(o.created_at)),
                time(o.sent_at)
            )),
            None => out.push_str("  outbox row              - (purged or written elsewhere)\n"),
        }
        let position = match (e.partition, e.offset) {
            (Some(p), Some(o)) => format!("{} partition {p} offset {o}", e.topic),
            _ => format!("{} (position not recorded)", e.topic),
        };
        out.push_str(&format!(
            "  published               {}  {}  (+{})\n",
            time(e.published_at),
            position,
            ms(e.latency_ms.answer_to_publish)
        ));
        out.push_str(&format!(
            "  stored by consumer      {}  (+{})\n  offset committed        {}  (+{})\n",
            time(e.stored_at),
            ms(e.latency_ms.publish_to_store),
            time(e.committed_at),
            ms(e.latency_ms.store_to_commit)
        ));
        for n in &e.notifications {
            out.push_str(&format!(
                "  notification            {} {} after {} attempt(s){}\n",
                n.kind,
                n.status,
                n.attempts,
                n.last_error
                    .as_deref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            ));
        }
        for p in &e.pushes {
            out.push_str(&format!(
                "  push                    {} to connection {} on {} at {}\n",
                p.outcome,
                p.connection_id,
                p.node_id,
                time(Some(p.at))
            ));
        }
        if e.pushes.is_empty() {
            out.push_str("  push                    - (no open connection)\n");
        }
        out.push_str(&format!(
            "  answer to push          {}\n",
            ms(e.latency_ms.answer_to_push)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_that_did_not_happen_has_no_latency() {
        let at = Utc::now();
        assert_eq!(between(Some(at), None), None);
        assert_eq!(
            between(Some(at), Some(at + chrono::Duration::milliseconds(12))),
            Some(12)
        );
    }
}
