//! The event-bus behaviour suite: what every [`EventBus`] adapter must do, written against the
//! port only so it runs unchanged on the embedded bus and on a shared Kafka broker.
//!
//! Use [`bus_suite!`](crate::bus_suite) in an integration test with an expression building a
//! [`BusHarness`]; it expands to one `#[tokio::test]` per case. Cases wait with generous
//! deadlines and settle consumer groups first, because a real broker rebalances in seconds.

use crate::ports::bus::{
    partition_for_key, BusError, ConsumedRecord, Delivered, EventBus, OutgoingRecord, StartFrom,
    SubscribeOptions, Subscription, TopicSpec,
};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a case reaches the bus under test.
#[async_trait]
pub trait BusHarness: Send + Sync {
    /// A fresh client on the same durable state, like a new process. Cases drop every earlier
    /// client (and its subscriptions) first, so the embedded bus can reopen its directory.
    async fn connect(&self) -> Arc<dyn EventBus>;

    /// A topic or group name no other case (or earlier run on a shared broker) uses.
    fn unique(&self, base: &str) -> String {
        format!(
            "{base}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    }
}

/// Partitions of every topic the suite creates.
const PARTITIONS: i32 = 3;
/// Upper bound for anything that involves a group (re)join on a real broker.
const PATIENCE: Duration = Duration::from_secs(60);
/// One poll's wait while collecting.
const POLL: Duration = Duration::from_millis(250);

async fn new_topic(h: &dyn BusHarness, bus: &dyn EventBus, base: &str) -> String {
    let name = h.unique(base);
    bus.create_topics(&[spec(&name, PARTITIONS)])
        .await
        .expect("create topic");
    name
}

fn spec(name: &str, partitions: i32) -> TopicSpec {
    TopicSpec {
        name: name.to_string(),
        partitions,
        replication_factor: 1,
        configs: vec![("retention.ms".into(), "604800000".into())],
    }
}

fn record(topic: &str, key: &str, value: &str) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_string(),
        key: key.to_string(),
        headers: vec![
            ("event-id".into(), format!("id-{value}")),
            ("event-type".into(), "test".into()),
        ],
        value: Bytes::from(value.to_string()),
    }
}

/// One key per partition, so a set of records is sure to touch every partition.
fn key_per_partition() -> Vec<String> {
    let mut keys: BTreeMap<i32, String> = BTreeMap::new();
    for i in 0.. {
        let key = format!("customer-{i}");
        keys.entry(partition_for_key(key.as_bytes(), PARTITIONS))
            .or_insert(key);
        if keys.len() == PARTITIONS as usize {
            break;
        }
    }
    keys.into_values().collect()
}

/// `n` records named `{prefix}-{i}`, spread over every partition.
fn spread(topic: &str, prefix: &str, n: usize) -> Vec<OutgoingRecord> {
    let keys = key_per_partition();
    (0..n)
        .map(|i| record(topic, &keys[i % keys.len()], &format!("{prefix}-{i}")))
        .collect()
}

fn value(r: &ConsumedRecord) -> String {
    String::from_utf8_lossy(&r.value).into_owned()
}

async fn subscribe(
    bus: &dyn EventBus,
    group: &str,
    topic: &str,
    start_from: StartFrom,
) -> Box<dyn Subscription> {
    bus.subscribe(SubscribeOptions {
        group: group.to_string(),
        topics: vec![topic.to_string()],
        start_from,
        max_batch: 100,
    })
    .await
    .expect("subscribe")
}

/// Polls once; acknowledges and commits the batch when `ack` is set.
async fn poll_once(sub: &mut dyn Subscription, ack: bool) -> Vec<ConsumedRecord> {
    let batch = sub.poll(POLL).await.expect("poll");
    if ack && !batch.is_empty() {
        for r in &batch {
            sub.ack(r);
        }
        sub.commit().await.expect("commit");
    }
    batch
}

/// Polls until `done` holds for everything collected (acking and committing each batch when
/// `ack` is set), or panics after [`PATIENCE`].
async fn collect_until(
    sub: &mut dyn Subscription,
    ack: bool,
    done: impl Fn(&[ConsumedRecord]) -> bool,
) -> Vec<ConsumedRecord> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(
            started.elapsed() < PATIENCE,
            "gave up after {PATIENCE:?} with {} records: {:?}",
            seen.len(),
            seen.iter().map(value).collect::<Vec<_>>()
        );
        seen.extend(poll_once(sub, ack).await);
    }
    seen
}

/// Collects until `n` records whose value starts with `prefix` arrived.
async fn collect_n(
    sub: &mut dyn Subscription,
    ack: bool,
    prefix: &str,
    n: usize,
) -> Vec<ConsumedRecord> {
    collect_until(sub, ack, |seen| count_prefixed(seen, prefix) >= n).await
}

fn count_prefixed(records: &[ConsumedRecord], prefix: &str) -> usize {
    records
        .iter()
        .filter(|r| value(r).starts_with(prefix))
        .count()
}

fn prefixed(records: &[ConsumedRecord], prefix: &str) -> Vec<String> {
    records
        .iter()
        .map(value)
        .filter(|v| v.starts_with(prefix))
        .collect()
}

/// Publishes warm-up records until every member received one, so all members have joined and
/// own partitions before a case starts counting (a broker rebalances asynchronously).
async fn settle(bus: &dyn EventBus, topic: &str, members: &mut [&mut dyn Subscription]) {
    let started = Instant::now();
    let mut got = vec![false; members.len()];
    let mut round = 0;
    while got.contains(&false) {
        assert!(started.elapsed() < PATIENCE, "the group never settled");
        bus.publish(spread(
            topic,
            &format!("warmup{round}"),
            PARTITIONS as usize,
        ))
        .await
        .expect("publish warm-up");
        round += 1;
        for (i, member) in members.iter_mut().enumerate() {
            if !poll_once(&mut **member, true).await.is_empty() {
                got[i] = true;
            }
        }
    }
}

/// `publish` answers with each record's partition and offset, and a consumer gets back exactly
/// those records with their key, headers and value.
pub async fn publish_reports_where_records_landed_and_consumers_get_them_back(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "landed").await;
    let keys = key_per_partition();
    let sent = vec![
        record(&topic, &keys[0], "a"),
        record(&topic, &keys[1], "b"),
        record(&topic, &keys[2], "c"),
        record(&topic, &keys[0], "d"),
    ];
    let delivered = bus.publish(sent.clone()).await.expect("publish");

    let expected: Vec<Delivered> = [(0, 0), (1, 0), (2, 0), (0, 1)]
        .iter()
        .map(|&(k, offset)| Delivered {
            partition: partition_for_key(keys[k].as_bytes(), PARTITIONS),
            offset,
        })
        .collect();
    assert_eq!(delivered, expected);

    let mut sub = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
    let got = collect_until(&mut *sub, true, |seen| seen.len() >= sent.len()).await;
    assert_eq!(got.len(), sent.len());
    for (out, at) in sent.iter().zip(&delivered) {
        let r = got
            .iter()
            .find(|r| r.partition == at.partition && r.offset == at.offset)
            .expect("a consumed record at the delivered position");
        assert_eq!(r.topic, topic);
        assert_eq!(r.key.as_deref(), Some(out.key.as_str()));
        assert_eq!(r.headers, out.headers);
        assert_eq!(r.value, out.value);
        assert_eq!(r.header("event-type"), Some("test"));
        assert!(r.timestamp_ms > 1_600_000_000_000, "timestamp is epoch ms");
    }
    sub.close().await.expect("close");
}

/// Records of one key land on one partition with rising offsets and are consumed in order,
/// whether they come in one call or many.
pub async fn records_with_one_key_stay_in_order_on_one_partition(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "order").await;
    let mut delivered = Vec::new();
    for i in 0..10 {
        delivered.extend(
            bus.publish(vec![record(&topic, "one-key", &format!("r-{i:02}"))])
                .await
                .expect("publish"),
        );
    }
    let batch = (10..20)
        .map(|i| record(&topic, "one-key", &format!("r-{i:02}")))
        .collect();
    delivered.extend(bus.publish(batch).await.expect("publish"));

    let partition = partition_for_key(b"one-key", PARTITIONS);
    assert!(delivered.iter().all(|d| d.partition == partition));
    assert!(delivered.windows(2).all(|w| w[0].offset < w[1].offset));

    let mut sub = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
    let got = collect_n(&mut *sub, true, "r-", 20).await;
    let expected: Vec<String> = (0..20).map(|i| format!("r-{i:02}")).collect();
    assert_eq!(prefixed(&got, "r-"), expected);
    sub.close().await.expect("close");
}

/// Creating an existing topic again succeeds and changes neither its partitions nor its data.
pub async fn creating_a_topic_twice_is_harmless(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "twice").await;
    bus.publish(vec![record(&topic, "k", "kept")])
        .await
        .expect("publish");
    bus.create_topics(&[spec(&topic, PARTITIONS + 2)])
        .await
        .expect("second create");

    let info = bus
        .describe_topics(std::slice::from_ref(&topic))
        .await
        .expect("describe");
    assert_eq!(info[0].partitions.len(), PARTITIONS as usize);
    let records: i64 = info[0]
        .partitions
        .iter()
        .map(|p| p.end_offset - p.start_offset)
        .sum();
    assert_eq!(records, 1);
}

/// Publishing to a topic nobody created fails with `UnknownTopic` naming it.
pub async fn publishing_to_an_unknown_topic_fails(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let missing = h.unique("missing");
    match bus.publish(vec![record(&missing, "k", "v")]).await {
        Err(BusError::UnknownTopic(name)) => assert_eq!(name, missing),
        other => panic!("expected UnknownTopic, got {other:?}"),
    }
}

/// `list_topics` and `describe_topics` report created topics with their partitions, offsets
/// and configs.
pub async fn created_topics_are_listed_and_described(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let first = new_topic(h, &*bus, "listed").await;
    let second = new_topic(h, &*bus, "listed").await;
    bus.publish(spread(&first, "x", 6)).await.expect("publish");

    // A broker learns of a new topic from the controller asynchronously: on a freshly started
    // Kafka cluster the broker answering may not list it for a moment (not a loss, so waited
    // for, boundedly).
    let started = Instant::now();
    let info = loop {
        let names = bus.list_topics().await.expect("list");
        let listed = names.contains(&first) && names.contains(&second);
        if listed {
            match bus.describe_topics(&[first.clone(), second.clone()]).await {
                Ok(info) => break info,
                Err(BusError::UnknownTopic(_)) => {}
                Err(other) => panic!("describe: {other:?}"),
            }
        }
        assert!(started.elapsed() < PATIENCE, "never listed: {names:?}");
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(info.len(), 2);
    assert_eq!(info[0].name, first);
    for p in &info[0].partitions {
        assert_eq!(
            (p.start_offset, p.end_offset),
            (0, 2),
            "partition {}",
            p.partition
        );
        assert!(p.leader >= 0 && p.replicas.contains(&p.leader) && p.isr.contains(&p.leader));
    }
    let partitions: BTreeSet<i32> = info[1].partitions.iter().map(|p| p.partition).collect();
    assert_eq!(partitions, (0..PARTITIONS).collect());
    assert!(info[0]
        .configs
        .contains(&("retention.ms".to_string(), "604800000".to_string())));
}

/// Two members of one group own disjoint partitions and together see every record once.
pub async fn two_members_split_partitions_and_see_every_record_once(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "split").await;
    let group = h.unique("g");
    let mut m1 = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    let mut m2 = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    settle(&*bus, &topic, &mut [&mut *m1, &mut *m2]).await;

    let n = 30;
    bus.publish(spread(&topic, "real", n))
        .await
        .expect("publish");
    let (mut got1, mut got2) = (Vec::new(), Vec::new());
    let started = Instant::now();
    while count_prefixed(&got1, "real") + count_prefixed(&got2, "real") < n {
        assert!(started.elapsed() < PATIENCE, "records went missing");
        got1.extend(poll_once(&mut *m1, true).await);
        got2.extend(poll_once(&mut *m2, true).await);
    }
    // A marker after the records on every partition: a partition keeps its order, so once
    // every marker arrived, any duplicate of a record before it has arrived too.
    bus.publish(spread(&topic, "marker", PARTITIONS as usize))
        .await
        .expect("publish markers");
    while count_prefixed(&got1, "marker") + count_prefixed(&got2, "marker") < PARTITIONS as usize {
        assert!(started.elapsed() < PATIENCE, "a marker went missing");
        got1.extend(poll_once(&mut *m1, true).await);
        got2.extend(poll_once(&mut *m2, true).await);
    }

    let mut all: Vec<String> = prefixed(&got1, "real");
    all.extend(prefixed(&got2, "real"));
    all.sort();
    let mut expected: Vec<String> = (0..n).map(|i| format!("real-{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "every record exactly once");

    let partitions = |got: &[ConsumedRecord]| -> HashSet<i32> {
        got.iter()
            .filter(|r| value(r).starts_with("real"))
            .map(|r| r.partition)
            .collect()
    };
    let (p1, p2) = (partitions(&got1), partitions(&got2));
    assert!(
        !p1.is_empty() && !p2.is_empty(),
        "both members own partitions"
    );
    assert!(
        p1.is_disjoint(&p2),
        "a partition has one owner: {p1:?} {p2:?}"
    );
    m1.close().await.expect("close");
    m2.close().await.expect("close");
}

/// How a member leaves in [`a_leaving_member_hands_over_its_partitions`].
enum Leave {
    Close,
    Drop,
}

async fn a_leaving_member_hands_over_its_partitions(h: &dyn BusHarness, how: Leave) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "handover").await;
    let group = h.unique("g");
    let mut stays = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    let mut leaves = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    settle(&*bus, &topic, &mut [&mut *stays, &mut *leaves]).await;

    let n = 30;
    bus.publish(spread(&topic, "real", n))
        .await
        .expect("publish");
    let mut got = Vec::new();
    // The leaving member takes some records and never acknowledges them.
    collect_until(&mut *leaves, false, |seen| count_prefixed(seen, "real") > 0).await;
    got.extend(poll_once(&mut *stays, true).await);
    match how {
        Leave::Close => leaves.close().await.expect("close"),
        Leave::Drop => drop(leaves),
    }

    let distinct = |got: &[ConsumedRecord]| -> BTreeSet<String> {
        prefixed(got, "real").into_iter().collect()
    };
    let started = Instant::now();
    while distinct(&got).len() < n {
        assert!(
            started.elapsed() < PATIENCE,
            "lost in the hand-over: {} of {n} arrived",
            distinct(&got).len()
        );
        got.extend(poll_once(&mut *stays, true).await);
    }
    let expected: BTreeSet<String> = (0..n).map(|i| format!("real-{i}")).collect();
    assert_eq!(distinct(&got), expected, "nothing is lost in the hand-over");
    stays.close().await.expect("close");
}

/// A member that closes hands its partitions to the others, which pick up every record it did
/// not acknowledge.
pub async fn a_member_that_closes_hands_over_its_partitions_without_loss(h: &dyn BusHarness) {
    a_leaving_member_hands_over_its_partitions(h, Leave::Close).await;
}

/// Dropping a member without `close` also hands its partitions over without loss.
pub async fn a_member_that_is_dropped_hands_over_its_partitions_without_loss(h: &dyn BusHarness) {
    a_leaving_member_hands_over_its_partitions(h, Leave::Drop).await;
}

/// After a crash (client dropped without `close`) and a reconnect, the group resumes from the
/// last commit: unacknowledged records come again, committed ones do not.
pub async fn uncommitted_records_are_redelivered_after_a_reconnect(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "redeliver").await;
    let group = h.unique("g");
    let batch = (0..10)
        .map(|i| record(&topic, "one-key", &format!("r-{i}")))
        .collect();
    bus.publish(batch).await.expect("publish");

    let mut sub = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    let got = collect_n(&mut *sub, false, "r-", 10).await;
    for r in got.iter().take(4) {
        sub.ack(r);
    }
    sub.commit().await.expect("commit");
    drop(sub);
    drop(bus);

    let bus = h.connect().await;
    let mut sub = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    let again = collect_n(&mut *sub, true, "r-", 6).await;
    let expected: Vec<String> = (4..10).map(|i| format!("r-{i}")).collect();
    assert_eq!(prefixed(&again, "r-"), expected);
    sub.close().await.expect("close");
}

/// Records published before a reconnect are all still there afterwards.
pub async fn published_records_survive_a_reconnect(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "durable").await;
    bus.publish(spread(&topic, "kept", 9))
        .await
        .expect("publish");
    drop(bus);

    let bus = h.connect().await;
    let info = bus
        .describe_topics(std::slice::from_ref(&topic))
        .await
        .expect("describe");
    let total: i64 = info[0].partitions.iter().map(|p| p.end_offset).sum();
    assert_eq!(total, 9);
    let mut sub = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
    let got = collect_n(&mut *sub, true, "kept", 9).await;
    let seen: BTreeSet<String> = prefixed(&got, "kept").into_iter().collect();
    assert_eq!(seen.len(), 9);
    sub.close().await.expect("close");
}

/// A new group starting at `Latest` sees only records published after it joined; one starting
/// at `Earliest` sees the older ones too.
pub async fn a_new_group_starts_at_latest_or_earliest_as_asked(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "start").await;
    bus.publish(spread(&topic, "old", 6))
        .await
        .expect("publish");

    let mut earliest = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
    let got = collect_n(&mut *earliest, true, "old", 6).await;
    assert_eq!(count_prefixed(&got, "old"), 6);
    earliest.close().await.expect("close");

    let mut latest = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Latest).await;
    let started = Instant::now();
    let mut got = Vec::new();
    let mut round = 0;
    // The group may take a while to join; keep publishing until something new arrives.
    while count_prefixed(&got, "new") == 0 {
        assert!(started.elapsed() < PATIENCE, "no new record arrived");
        bus.publish(spread(&topic, &format!("new{round}"), 3))
            .await
            .expect("publish");
        round += 1;
        got.extend(poll_once(&mut *latest, true).await);
    }
    assert_eq!(count_prefixed(&got, "old"), 0, "Latest skipped old records");
    latest.close().await.expect("close");
}

/// Each group has its own offsets: two groups each receive every record.
pub async fn separate_groups_each_get_every_record(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "fanout").await;
    let n = 12;
    bus.publish(spread(&topic, "r", n)).await.expect("publish");
    for _ in 0..2 {
        let mut sub = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
        let got = collect_n(&mut *sub, true, "r", n).await;
        let seen: BTreeSet<String> = prefixed(&got, "r").into_iter().collect();
        assert_eq!(seen.len(), n);
        sub.close().await.expect("close");
    }
}

/// `describe_group` reports, per partition, the committed offset, the end offset and the lag.
pub async fn describe_group_reports_committed_end_and_lag(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "lag").await;
    let group = h.unique("g");
    let batch = (0..5)
        .map(|i| record(&topic, "one-key", &format!("r-{i}")))
        .collect();
    bus.publish(batch).await.expect("publish");
    let partition = partition_for_key(b"one-key", PARTITIONS);

    let mut sub = subscribe(&*bus, &group, &topic, StartFrom::Earliest).await;
    let got = collect_n(&mut *sub, false, "r-", 5).await;
    for r in got.iter().take(3) {
        sub.ack(r);
    }
    sub.commit().await.expect("commit");

    let lags = bus
        .describe_group(&group, std::slice::from_ref(&topic))
        .await
        .expect("describe group");
    assert_eq!(lags.len(), PARTITIONS as usize);
    for lag in &lags {
        assert_eq!(lag.topic, topic);
        if lag.partition == partition {
            assert_eq!((lag.committed, lag.end, lag.lag()), (Some(3), 5, 2));
        } else {
            assert_eq!((lag.committed, lag.end, lag.lag()), (None, 0, 0));
        }
    }
    sub.close().await.expect("close");
}

/// With nothing to read, `poll` waits about `max_wait` and returns an empty batch.
pub async fn poll_times_out_with_an_empty_batch(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "quiet").await;
    let mut sub = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
    let started = Instant::now();
    let batch = sub.poll(Duration::from_millis(300)).await.expect("poll");
    let waited = started.elapsed();
    assert!(batch.is_empty());
    assert!(
        waited >= Duration::from_millis(250),
        "returned early: {waited:?}"
    );
    assert!(waited < PATIENCE, "did not time out: {waited:?}");
    sub.close().await.expect("close");
}

/// Many publishers at once lose nothing, and each key's records keep their order.
pub async fn concurrent_publishers_lose_nothing_and_keep_per_key_order(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "concurrent").await;
    let (publishers, each) = (8, 25);
    let tasks: Vec<_> = (0..publishers)
        .map(|p| {
            let bus = bus.clone();
            let topic = topic.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    let r = record(&topic, &format!("key-{p}"), &format!("p{p}-{i:03}"));
                    bus.publish(vec![r]).await.expect("publish");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("publisher task");
    }

    let mut sub = subscribe(&*bus, &h.unique("g"), &topic, StartFrom::Earliest).await;
    let got = collect_until(&mut *sub, true, |s| s.len() >= publishers * each).await;
    assert_eq!(got.len(), publishers * each);
    for p in 0..publishers {
        let mine = prefixed(&got, &format!("p{p}-"));
        let expected: Vec<String> = (0..each).map(|i| format!("p{p}-{i:03}")).collect();
        assert_eq!(mine, expected, "publisher {p}'s records in order");
    }
    sub.close().await.expect("close");
}

/// `read_partition` reads one partition from an offset, in order, outside any group: what it
/// returns matches what was published there, and past the end is empty.
pub async fn a_partition_is_read_from_an_offset_without_a_group(h: &dyn BusHarness) {
    let bus = h.connect().await;
    let topic = new_topic(h, &*bus, "read").await;
    let key = &key_per_partition()[1];
    let sent: Vec<OutgoingRecord> = (0..5)
        .map(|i| record(&topic, key, &format!("r{i}")))
        .collect();
    let delivered = bus.publish(sent.clone()).await.expect("publish");
    let partition = delivered[0].partition;

    let all = bus
        .read_partition(&topic, partition, 0, 100)
        .await
        .expect("read all");
    assert_eq!(
        all.iter().map(value).collect::<Vec<_>>(),
        ["r0", "r1", "r2", "r3", "r4"]
    );
    assert_eq!(all[2].headers, sent[2].headers);
    assert_eq!(all[2].key.as_deref(), Some(key.as_str()));
    let middle = bus
        .read_partition(&topic, partition, 2, 2)
        .await
        .expect("read two from offset 2");
    assert_eq!(middle.iter().map(|r| r.offset).collect::<Vec<_>>(), [2, 3]);
    assert!(bus
        .read_partition(&topic, partition, 5, 10)
        .await
        .expect("read past the end")
        .is_empty());
    let other = (partition + 1) % PARTITIONS;
    assert!(bus
        .read_partition(&topic, other, 0, 10)
        .await
        .expect("read an empty partition")
        .is_empty());
}

/// Expands to one `#[tokio::test]` per suite case; `$harness` is evaluated afresh for each.
///
/// ```ignore
/// onboard::bus_suite!(EmbeddedHarness::new());
/// ```
#[macro_export]
macro_rules! bus_suite {
    ($harness:expr) => {
        $crate::bus_suite!(@cases $harness;
            publish_reports_where_records_landed_and_consumers_get_them_back,
            records_with_one_key_stay_in_order_on_one_partition,
            creating_a_topic_twice_is_harmless,
            publishing_to_an_unknown_topic_fails,
            created_topics_are_listed_and_described,
            two_members_split_partitions_and_see_every_record_once,
            a_member_that_closes_hands_over_its_partitions_without_loss,
            a_member_that_is_dropped_hands_over_its_partitions_without_loss,
            uncommitted_records_are_redelivered_after_a_reconnect,
            published_records_survive_a_reconnect,
            a_new_group_starts_at_latest_or_earliest_as_asked,
            separate_groups_each_get_every_record,
            describe_group_reports_committed_end_and_lag,
            poll_times_out_with_an_empty_batch,
            concurrent_publishers_lose_nothing_and_keep_per_key_order,
            a_partition_is_read_from_an_offset_without_a_group,
        );
    };
    (@cases $harness:expr; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $harness;
                $crate::testing::bus_suite::$case(&harness).await;
            }
        )+
    };
}
