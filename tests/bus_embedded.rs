//! The bus behaviour suite against the embedded bus, plus what only a local log can show:
//! crash recovery of torn or corrupt log tails.

use async_trait::async_trait;
use bytes::Bytes;
use onboard::adapters::embedded_bus::{EmbeddedBus, EmbeddedOptions};
use onboard::ports::bus::{
    partition_for_key, BusError, EventBus, OutgoingRecord, StartFrom, SubscribeOptions, TopicSpec,
};
use onboard::testing::bus_suite::BusHarness;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// A fresh directory per case; `connect` reopens it, as a restarted process would.
struct EmbeddedHarness {
    dir: tempfile::TempDir,
}

impl EmbeddedHarness {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

#[async_trait]
impl BusHarness for EmbeddedHarness {
    async fn connect(&self) -> Arc<dyn EventBus> {
        EmbeddedBus::open(self.dir.path()).expect("open the embedded bus")
    }
}

onboard::bus_suite!(EmbeddedHarness::new());

const TOPIC: &str = "t";

async fn bus_with_topic(dir: &std::path::Path) -> Arc<EmbeddedBus> {
    let bus = EmbeddedBus::open(dir).expect("open");
    bus.create_topics(&[TopicSpec {
        name: TOPIC.into(),
        partitions: 3,
        replication_factor: 1,
        configs: vec![],
    }])
    .await
    .expect("create topic");
    bus
}

async fn publish(bus: &EmbeddedBus, value: &str) -> i64 {
    let delivered = bus
        .publish(vec![OutgoingRecord {
            topic: TOPIC.into(),
            key: "k".into(),
            headers: vec![],
            value: Bytes::from(value.to_string()),
        }])
        .await
        .expect("publish");
    delivered[0].offset
}

async fn read_all(bus: &EmbeddedBus) -> Vec<String> {
    let mut sub = bus
        .subscribe(SubscribeOptions {
            group: "reader".into(),
            topics: vec![TOPIC.into()],
            start_from: StartFrom::Earliest,
            max_batch: 100,
        })
        .await
        .expect("subscribe");
    let batch = sub.poll(Duration::from_millis(200)).await.expect("poll");
    batch
        .iter()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect()
}

fn log_path(dir: &std::path::Path) -> std::path::PathBuf {
    let partition = partition_for_key(b"k", 3);
    dir.join("topics")
        .join(TOPIC)
        .join(format!("{partition}.log"))
}

#[tokio::test]
async fn a_torn_tail_is_truncated_on_reopen_and_later_appends_follow_the_last_good_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus_with_topic(dir.path()).await;
    for v in ["a", "b", "c"] {
        publish(&bus, v).await;
    }
    drop(bus);
    let good_len = std::fs::metadata(log_path(dir.path())).expect("stat").len();
    // A crash mid-write: a frame header promising 64 bytes, followed by only a few.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(log_path(dir.path()))
        .expect("open log");
    log.write_all(&[64, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .expect("write torn frame");
    drop(log);

    let bus = EmbeddedBus::open(dir.path()).expect("reopen despite the torn tail");
    let size = std::fs::metadata(log_path(dir.path())).expect("stat").len();
    assert_eq!(size, good_len);
    assert_eq!(publish(&bus, "d").await, 3);
    assert_eq!(read_all(&bus).await, ["a", "b", "c", "d"]);
}

#[tokio::test]
async fn a_corrupt_last_record_is_dropped_on_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus_with_topic(dir.path()).await;
    for v in ["a", "b", "c"] {
        publish(&bus, v).await;
    }
    drop(bus);
    let mut bytes = std::fs::read(log_path(dir.path())).expect("read log");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(log_path(dir.path()), bytes).expect("corrupt log");

    let bus = EmbeddedBus::open(dir.path()).expect("reopen despite corruption");
    assert_eq!(publish(&bus, "d").await, 2);
    assert_eq!(read_all(&bus).await, ["a", "b", "d"]);
}

#[tokio::test]
async fn a_directory_cannot_be_opened_twice_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = EmbeddedBus::open(dir.path()).expect("open");
    assert!(matches!(
        EmbeddedBus::open(dir.path()),
        Err(BusError::Unavailable(_))
    ));
    drop(bus);
    EmbeddedBus::open(dir.path()).expect("open again after the first closed");
}

#[tokio::test]
async fn committed_offsets_are_stored_in_a_slot_of_the_group() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus_with_topic(dir.path()).await;
    publish(&bus, "a").await;
    let mut sub = bus
        .subscribe(SubscribeOptions {
            group: "g".into(),
            topics: vec![TOPIC.into()],
            start_from: StartFrom::Earliest,
            max_batch: 10,
        })
        .await
        .expect("subscribe");
    let batch = sub.poll(Duration::from_secs(1)).await.expect("poll");
    sub.ack(&batch[0]);
    sub.commit().await.expect("commit");
    // The first commit writes the first of the group's two slots (`group.rs`).
    let file =
        std::fs::read_to_string(dir.path().join("groups").join("g.0.json")).expect("group slot");
    let json: serde_json::Value = serde_json::from_str(&file).expect("json");
    assert_eq!(json["offsets"][0]["offset"], 1);
    assert_eq!(json["serial"], 1);
}

/// A one-partition topic whose every publish lands in its own segment (1-byte segments roll
/// before each append), keeping records for `retention_ms`.
async fn segmented_bus(dir: &std::path::Path, retention_ms: &str) -> Arc<EmbeddedBus> {
    let bus = EmbeddedBus::open_with(dir, EmbeddedOptions { segment_bytes: 1 }).expect("open");
    bus.create_topics(&[TopicSpec {
        name: TOPIC.into(),
        partitions: 1,
        replication_factor: 1,
        configs: vec![("retention.ms".into(), retention_ms.into())],
    }])
    .await
    .expect("create topic");
    for v in ["a", "b", "c", "d", "e"] {
        publish(&bus, v).await;
    }
    bus
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("topics").join(TOPIC))
        .expect("list topic")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count()
}

async fn log_start(bus: &EmbeddedBus) -> i64 {
    bus.describe_topics(&[TOPIC.into()])
        .await
        .expect("describe")[0]
        .partitions[0]
        .start_offset
}

#[tokio::test]
async fn retention_deletes_whole_old_segments_but_keeps_the_active_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = segmented_bus(dir.path(), "300").await;
    assert_eq!(bus.segment_count(TOPIC, 0), Some(5));
    assert_eq!(segment_files(dir.path()), 5);
    // A group that read "a" and "b" before retention ran.
    let mut early = bus
        .subscribe(SubscribeOptions {
            group: "behind".into(),
            topics: vec![TOPIC.into()],
            start_from: StartFrom::Earliest,
            max_batch: 2,
        })
        .await
        .expect("subscribe");
    let first = early.poll(Duration::from_secs(1)).await.expect("poll");
    for r in &first {
        early.ack(r);
    }
    early.close().await.expect("close");

    // The records age past 300 ms; wait for the passes that delete them (each pass deletes
    // the segments old by then).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (mut segments, mut records) = (0, 0);
    while bus.segment_count(TOPIC, 0) != Some(1) {
        for outcome in bus.enforce_retention().await.expect("retention") {
            assert_eq!((outcome.topic.as_str(), outcome.partition), (TOPIC, 0));
            segments += outcome.segments;
            records += outcome.records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention left {:?} segments after 10 s",
            bus.segment_count(TOPIC, 0)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((segments, records), (4, 4));
    assert_eq!(bus.segment_count(TOPIC, 0), Some(1));
    assert_eq!(segment_files(dir.path()), 1);
    assert_eq!(log_start(&bus).await, 4);
    // Like Kafka, retention does not wait for groups: the group behind reads on from the start.
    let mut behind = bus
        .subscribe(SubscribeOptions {
            group: "behind".into(),
            topics: vec![TOPIC.into()],
            start_from: StartFrom::Earliest,
            max_batch: 10,
        })
        .await
        .expect("subscribe");
    let rest = behind.poll(Duration::from_secs(1)).await.expect("poll");
    let values: Vec<_> = rest.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, [Bytes::from("e")]);
    assert_eq!(rest[0].offset, 4);
    drop(behind);

    // Appends continue the offsets, and a restart keeps the new start.
    assert_eq!(publish(&bus, "f").await, 5);
    drop(bus);
    let bus = EmbeddedBus::open(dir.path()).expect("reopen");
    assert_eq!(log_start(&bus).await, 4);
    assert_eq!(read_all(&bus).await, ["e", "f"]);
}

#[tokio::test]
async fn retention_keeps_segments_younger_than_the_topics_retention() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = segmented_bus(dir.path(), "3600000").await;
    assert!(bus.enforce_retention().await.expect("retention").is_empty());
    assert_eq!(bus.segment_count(TOPIC, 0), Some(5));
    assert_eq!(log_start(&bus).await, 0);
    assert_eq!(read_all(&bus).await, ["a", "b", "c", "d", "e"]);
}

#[tokio::test]
async fn records_spread_over_segments_read_back_in_order_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = segmented_bus(dir.path(), "-1").await;
    drop(bus);
    let bus = EmbeddedBus::open(dir.path()).expect("reopen");
    assert_eq!(bus.segment_count(TOPIC, 0), Some(5));
    assert!(bus.enforce_retention().await.expect("retention").is_empty());
    assert_eq!(publish(&bus, "f").await, 5);
    assert_eq!(read_all(&bus).await, ["a", "b", "c", "d", "e", "f"]);
}

/// A rough throughput check, run on demand: `cargo test --test bus_embedded -- --ignored`.
/// Concurrent single-record publishers share fsyncs through group commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing report, run on demand"]
async fn concurrent_publishers_share_fsyncs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = bus_with_topic(dir.path()).await;
    let (publishers, each) = (32, 100);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..publishers)
        .map(|p| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    let record = OutgoingRecord {
                        topic: TOPIC.into(),
                        key: format!("customer-{p}"),
                        headers: vec![("event-id".into(), format!("{p}-{i}"))],
                        value: Bytes::from(vec![b'x'; 512]),
                    };
                    bus.publish(vec![record]).await.expect("publish");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("publisher");
    }
    let elapsed = started.elapsed();
    let total = publishers * each;
    let info = bus
        .describe_topics(&[TOPIC.into()])
        .await
        .expect("describe");
    let stored: i64 = info[0].partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(stored, total as i64);
    println!(
        "{total} durable single-record publishes in {elapsed:?}: {:.0}/s",
        total as f64 / elapsed.as_secs_f64()
    );
}
