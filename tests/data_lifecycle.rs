//! The data lifecycle pass against the embedded setup (SQLite and the embedded bus): it purges
//! sent outbox rows and the bus's old segments, and keeps what is still needed.

use bytes::Bytes;
use onboard::adapters::embedded_bus::{EmbeddedBus, EmbeddedOptions};
use onboard::adapters::sqlite::SqliteStore;
use onboard::domain::event::Topic;
use onboard::ports::bus::{EventBus, OutgoingRecord, TopicSpec};
use onboard::ports::store::Store;
use onboard::roles::lifecycle::{Lifecycle, LifecycleConfig};
use onboard::testing::store_suite::{customer_id, draft};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_pass_purges_sent_outbox_rows_and_old_bus_segments_but_keeps_pending_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = SqliteStore::open(&dir.path().join("onboard.db"))
        .await
        .expect("store");
    let bus = EmbeddedBus::open_with(
        &dir.path().join("bus"),
        EmbeddedOptions { segment_bytes: 1 },
    )
    .expect("bus");
    bus.create_topics(&[TopicSpec {
        name: "t".into(),
        partitions: 1,
        replication_factor: 1,
        configs: vec![("retention.ms".into(), "1".into())],
    }])
    .await
    .expect("topic");
    for v in ["a", "b", "c"] {
        bus.publish(vec![OutgoingRecord {
            topic: "t".into(),
            key: "k".into(),
            headers: vec![],
            value: Bytes::from(v),
        }])
        .await
        .expect("publish");
    }
    let who = customer_id("c-1");
    for _ in 0..3 {
        let mut tx = store.begin().await.expect("begin");
        tx.enqueue_event(draft(&who, None, Topic::UserInfoSubmitted))
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
    }
    let pending = store.outbox_pending(10).await.expect("outbox");
    store
        .outbox_mark_sent(&[pending[0].seq, pending[1].seq])
        .await
        .expect("mark sent");

    let lifecycle = Lifecycle::new(
        store.clone(),
        bus.clone(),
        LifecycleConfig {
            interval: Duration::from_secs(1),
            outbox_retention: Duration::ZERO,
            idempotency_retention: Duration::from_secs(3_600),
            batch_size: 1,
        },
    );
    // The records are 1 ms old only once the clock moved on: wait for that, with a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut purged = lifecycle.pass().await;
    let (mut outbox, mut records) = (purged.sent_outbox, purged.bus_records);
    while records < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "bus retention never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        purged = lifecycle.pass().await;
        outbox += purged.sent_outbox;
        records += purged.bus_records;
    }
    assert_eq!(outbox, 2, "both sent rows, one batch of 1 at a time");
    assert_eq!(records, 2, "all but the active segment");
    assert_eq!(bus.segment_count("t", 0), Some(1));
    let left = store.outbox_pending(10).await.expect("outbox");
    assert_eq!(left.len(), 1, "the pending row stays");
    assert_eq!(left[0].seq, pending[2].seq);
}
