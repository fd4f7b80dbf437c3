//! The trace behaviour suite (`ports::trace`): what a store that keeps traces must do, run per
//! adapter through [`trace_suite!`](crate::trace_suite) with the store suite's harness.

use crate::domain::event::Topic;
use crate::domain::ids::{ConnectionId, EventId};
use crate::ports::store::{NotificationKind, Store};
use crate::ports::trace::{
    CommittedRecord, PublishedRow, PushRecord, PushResult, MAX_PUSHES_PER_EVENT,
};
use crate::testing::store_suite::{
    at, audit_of, customer_id, draft, notification_of, seed_customer,
};
use std::sync::Arc;

/// One `#[tokio::test]` per case, like [`store_suite!`](crate::store_suite).
#[macro_export]
macro_rules! trace_suite {
    ($harness:expr) => {
        $crate::trace_suite!(@cases $harness;
            the_trace_puts_each_hop_of_a_customers_events_together,
            the_first_commit_of_an_event_is_kept_and_pushes_are_bounded_per_event,
            the_trace_keeps_the_newest_events_within_its_limit,
            every_row_of_a_large_call_keeps_its_own_record_and_a_repeat_the_first,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness;
                if !$crate::testing::store_suite::StoreHarness::available(&harness) {
                    return;
                }
                let store = $crate::testing::store_suite::StoreHarness::fresh(&harness).await;
                $crate::testing::trace_suite::$case(store).await;
            }
        )*
    };
}

fn push(event: EventId, connection: ConnectionId, outcome: PushResult, seconds: i64) -> PushRecord {
    PushRecord {
        event_id: event,
        connection_id: connection,
        node_id: "node-1".into(),
        outcome,
        at: at(seconds),
    }
}

pub async fn the_trace_puts_each_hop_of_a_customers_events_together(store: Arc<dyn Store>) {
    let (customer, application) = seed_customer(store.as_ref(), "c-1", "ada@example.com").await;
    let (other, _) = seed_customer(store.as_ref(), "c-2", "bob@example.com").await;
    let who = &customer.customer_id;
    let mut tx = store.begin().await.expect("begin");
    let first = tx
        .enqueue_event(draft(
            who,
            Some(application.application_id),
            Topic::UserInfoSubmitted,
        ))
        .await
        .expect("enqueue");
    let second = tx
        .enqueue_event(draft(
            who,
            Some(application.application_id),
            Topic::DocumentsProcessed,
        ))
        .await
        .expect("enqueue");
    let theirs = tx
        .enqueue_event(draft(&other.customer_id, None, Topic::UserInfoSubmitted))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    let pending = store.outbox_pending(10).await.expect("outbox");
    store
        .outbox_mark_published(
            &[
                PublishedRow {
                    seq: pending[0].seq,
                    partition: 2,
                    offset: 7,
                },
                PublishedRow {
                    seq: pending[2].seq,
                    partition: 1,
                    offset: 4,
                },
            ],
            at(10),
        )
        .await
        .expect("mark published");
    store
        .record_event(
            &first,
            &audit_of(&first),
            &[notification_of(&first, NotificationKind::CustomerEmail)],
        )
        .await
        .expect("record");
    store
        .record_event(&theirs, &audit_of(&theirs), &[])
        .await
        .expect("record");
    store
        .events_committed(&[
            CommittedRecord {
                event_id: first.id,
                partition: 2,
                offset: 7,
                published_at: Some(at(12)),
                committed_at: at(20),
            },
            CommittedRecord {
                event_id: theirs.id,
                partition: 1,
                offset: 4,
                published_at: None,
                committed_at: at(20),
            },
        ])
        .await
        .expect("committed");
    let (a, b) = (ConnectionId::new(), ConnectionId::new());
    store
        .record_pushes(&[
            push(first.id, a, PushResult::Delivered, 21),
            push(first.id, b, PushResult::Gone, 21),
        ])
        .await
        .expect("pushes");

    let trace = store.customer_trace(who, 100).await.expect("trace");
    let ids: Vec<EventId> = trace.iter().map(|t| t.event.id).collect();
    assert_eq!(
        ids,
        [first.id, second.id],
        "only the customer's events, in sequence order"
    );

    let hop = &trace[0];
    assert_eq!(hop.event.correlation_id, "corr-1");
    // DynamoDB deletes an outbox row once the bus acknowledged it; SQL keeps it as sent.
    if store.name() != "dynamodb" {
        let outbox = hop.outbox.as_ref().expect("the outbox row");
        assert_eq!(
            (outbox.sent_at, outbox.partition, outbox.offset),
            (Some(at(10)), Some(2), Some(7))
        );
    }
    let consumed = hop.consumed.as_ref().expect("stored by the consumer");
    assert_eq!(
        (
            consumed.partition,
            consumed.offset,
            consumed.published_at,
            consumed.committed_at
        ),
        (Some(2), Some(7), Some(at(12)), Some(at(20)))
    );
    assert_eq!(hop.notifications.len(), 1);
    assert_eq!(hop.notifications[0].kind, NotificationKind::CustomerEmail);
    assert_eq!(
        (
            hop.notifications[0].attempts,
            hop.notifications[0].delivered_at
        ),
        (0, None)
    );
    let mut outcomes: Vec<(ConnectionId, PushResult)> = hop
        .pushes
        .iter()
        .map(|p| (p.connection_id, p.outcome))
        .collect();
    outcomes.sort_by_key(|(c, _)| *c);
    let mut expected = vec![(a, PushResult::Delivered), (b, PushResult::Gone)];
    expected.sort_by_key(|(c, _)| *c);
    assert_eq!(outcomes, expected);

    let waiting = &trace[1];
    let outbox = waiting.outbox.as_ref().expect("still in the outbox");
    assert_eq!((outbox.sent_at, outbox.partition), (None, None));
    assert!(waiting.consumed.is_none() && waiting.pushes.is_empty());

    // Rows published and committed in one call each get their own partition and offset.
    let trace = store
        .customer_trace(&other.customer_id, 100)
        .await
        .expect("trace");
    if store.name() != "dynamodb" {
        let outbox = trace[0].outbox.as_ref().expect("the outbox row");
        assert_eq!(
            (outbox.sent_at, outbox.partition, outbox.offset),
            (Some(at(10)), Some(1), Some(4))
        );
    }
    let consumed = trace[0].consumed.as_ref().expect("stored by the consumer");
    assert_eq!(
        (
            consumed.partition,
            consumed.offset,
            consumed.published_at,
            consumed.committed_at
        ),
        (Some(1), Some(4), None, Some(at(20)))
    );
}

pub async fn the_first_commit_of_an_event_is_kept_and_pushes_are_bounded_per_event(
    store: Arc<dyn Store>,
) {
    let (customer, _) = seed_customer(store.as_ref(), "c-1", "ada@example.com").await;
    let event = crate::testing::store_suite::envelope(
        &customer.customer_id,
        None,
        1,
        Topic::UserInfoSubmitted,
        serde_json::json!({}),
    );
    store
        .record_event(&event, &audit_of(&event), &[])
        .await
        .expect("record");
    let commit = |offset, seconds| {
        let store = store.clone();
        async move {
            store
                .events_committed(&[CommittedRecord {
                    event_id: event.id,
                    partition: 0,
                    offset,
                    published_at: Some(at(seconds - 1)),
                    committed_at: at(seconds),
                }])
                .await
                .expect("committed")
        }
    };
    commit(3, 5).await;
    commit(9, 50).await; // a redelivery or a replay
    let connection = ConnectionId::new();
    store
        .record_pushes(&[push(event.id, connection, PushResult::Failed, 6)])
        .await
        .expect("push");
    store
        .record_pushes(&[push(event.id, connection, PushResult::Delivered, 7)])
        .await
        .expect("push again");
    let many: Vec<PushRecord> = (0..MAX_PUSHES_PER_EVENT + 4)
        .map(|i| {
            push(
                event.id,
                ConnectionId::new(),
                PushResult::Delivered,
                8 + i as i64,
            )
        })
        .collect();
    store.record_pushes(&many).await.expect("many pushes");

    let trace = store
        .customer_trace(&customer.customer_id, 10)
        .await
        .expect("trace");
    let consumed = trace[0].consumed.as_ref().expect("consumed");
    assert_eq!(
        (
            consumed.offset,
            consumed.published_at,
            consumed.committed_at
        ),
        (Some(3), Some(at(4)), Some(at(5)))
    );
    assert_eq!(trace[0].pushes.len(), MAX_PUSHES_PER_EVENT);
    let again = trace[0]
        .pushes
        .iter()
        .find(|p| p.connection_id == connection)
        .expect("the repeated push is kept once");
    assert_eq!((again.outcome, again.at), (PushResult::Delivered, at(7)));
}

pub async fn the_trace_keeps_the_newest_events_within_its_limit(store: Arc<dyn Store>) {
    let who = customer_id("c-1");
    let mut sent = Vec::new();
    for topic in [
        Topic::UserInfoSubmitted,
        Topic::DocumentsProcessed,
        Topic::KycVerified,
    ] {
        let mut tx = store.begin().await.expect("begin");
        sent.push(
            tx.enqueue_event(draft(&who, None, topic))
                .await
                .expect("enqueue"),
        );
        tx.commit().await.expect("commit");
    }
    for event in &sent[..2] {
        store
            .record_event(event, &audit_of(event), &[])
            .await
            .expect("record");
    }
    let trace = store.customer_trace(&who, 2).await.expect("trace");
    let sequences: Vec<u64> = trace.iter().map(|t| t.event.sequence).collect();
    assert_eq!(sequences, [2, 3]);
    assert!(store
        .customer_trace(&customer_id("nobody"), 10)
        .await
        .expect("trace")
        .is_empty());
}

/// A relay batch and a consumer batch bigger than one statement's rows: each outbox row and
/// each event gets its own partition and offset, and a row or event named twice in one call
/// keeps the first.
pub async fn every_row_of_a_large_call_keeps_its_own_record_and_a_repeat_the_first(
    store: Arc<dyn Store>,
) {
    const EVENTS: i64 = 45;
    let who = customer_id("c-1");
    let mut tx = store.begin().await.expect("begin");
    let mut sent = Vec::new();
    for _ in 0..EVENTS {
        sent.push(
            tx.enqueue_event(draft(&who, None, Topic::UserInfoSubmitted))
                .await
                .expect("enqueue"),
        );
    }
    tx.commit().await.expect("commit");
    let pending = store.outbox_pending(100).await.expect("outbox");
    assert_eq!(pending.len(), EVENTS as usize);
    let mut published: Vec<PublishedRow> = pending
        .iter()
        .enumerate()
        .map(|(i, row)| PublishedRow {
            seq: row.seq,
            partition: (i % 3) as i32,
            offset: 1_000 + i as i64,
        })
        .collect();
    let mut republished = published[7];
    republished.offset = 9_999;
    published.insert(30, republished);
    store
        .outbox_mark_published(&published, at(10))
        .await
        .expect("mark published");
    for event in &sent {
        store
            .record_event(event, &audit_of(event), &[])
            .await
            .expect("record");
    }
    let mut committed: Vec<CommittedRecord> = sent
        .iter()
        .enumerate()
        .map(|(i, event)| CommittedRecord {
            event_id: event.id,
            partition: (i % 3) as i32,
            offset: 2_000 + i as i64,
            published_at: Some(at(11)),
            committed_at: at(20 + i as i64),
        })
        .collect();
    let mut again = committed[7];
    again.offset = 9_999;
    again.committed_at = at(99);
    committed.insert(30, again);
    store.events_committed(&committed).await.expect("committed");

    let trace = store.customer_trace(&who, 100).await.expect("trace");
    assert_eq!(trace.len(), EVENTS as usize);
    for (i, hop) in trace.iter().enumerate() {
        assert_eq!(hop.event.id, sent[i].id, "in sequence order");
        let consumed = hop.consumed.as_ref().expect("stored by the consumer");
        assert_eq!(
            (consumed.partition, consumed.offset, consumed.committed_at),
            (
                Some((i % 3) as i32),
                Some(2_000 + i as i64),
                Some(at(20 + i as i64))
            ),
            "event {i}"
        );
        if store.name() != "dynamodb" {
            let outbox = hop.outbox.as_ref().expect("the outbox row");
            assert_eq!(
                (outbox.sent_at, outbox.partition, outbox.offset),
                (Some(at(10)), Some((i % 3) as i32), Some(1_000 + i as i64)),
                "outbox row {i}"
            );
        }
    }
}
