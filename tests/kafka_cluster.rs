//! On a three-broker cluster with replication factor 3 and `min.insync.replicas=2`, killing a
//! broker (SIGKILL) while records are being published loses no acknowledged record.

mod kafka_support;

use bytes::Bytes;
use onboard::ports::bus::{EventBus, OutgoingRecord, StartFrom, SubscribeOptions, TopicSpec};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts the killed broker again (scripts/kafka.sh start is idempotent), even if the test fails.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
        let status = std::process::Command::new("bash")
            .args([script, "start", "--nodes", "3"])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "restarting the killed broker failed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_broker_under_load_loses_no_acknowledged_record() {
    let brokers = kafka_or_skip!();
    let bus = kafka_support::connect(&brokers).await;
    let brokers_up = bus.broker_count().await.expect("broker count");
    if brokers_up < 3 {
        assert!(
            std::env::var("ONBOARD_REQUIRE_KAFKA").is_err(),
            "this test needs a 3-broker cluster (scripts/kafka.sh start --nodes 3), found {brokers_up}"
        );
        kafka_support::say_skipped("needs a 3-broker cluster (scripts/kafka.sh start --nodes 3)");
        return;
    }
    let topic = kafka_support::unique("failover");
    bus.create_topics(&[TopicSpec {
        name: topic.clone(),
        partitions: 3,
        replication_factor: 3,
        configs: vec![("min.insync.replicas".into(), "2".into())],
    }])
    .await
    .expect("create a replicated topic");

    let total = 600;
    let acked = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let publisher = {
        let bus = bus.clone();
        let topic = topic.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut failures = 0;
            for batch in (0..total).collect::<Vec<usize>>().chunks(10) {
                let records = batch
                    .iter()
                    .map(|i| OutgoingRecord {
                        topic: topic.clone(),
                        key: format!("customer-{}", i % 17),
                        headers: vec![],
                        value: Bytes::from(format!("r-{i:04}")),
                    })
                    .collect();
                match bus.publish(records).await {
                    Ok(_) => acked.lock().unwrap().extend(batch.iter().copied()),
                    // Not acknowledged: the caller would retry; what matters is that nothing
                    // acknowledged is lost.
                    Err(_) => failures += 1,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            failures
        })
    };

    // Once a third of the load is acknowledged, kill broker 3 without warning.
    let started = Instant::now();
    while acked.lock().unwrap().len() < total / 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "publishing stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _restart = RestartOnDrop;
    let pid_file = kafka_support::run_dir().join("node-3/pid");
    let pid = std::fs::read_to_string(&pid_file).expect("broker 3's pid file");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .expect("kill");
    assert!(killed.success(), "broker 3 could not be killed");

    let failures = publisher.await.expect("publisher task");
    let acked: BTreeSet<usize> = acked.lock().unwrap().clone();
    assert!(
        acked.len() > total / 2,
        "most publishes succeed with two of three brokers: {} acknowledged, {failures} failed",
        acked.len()
    );

    let mut sub = bus
        .subscribe(SubscribeOptions {
            group: kafka_support::unique("failover-reader"),
            topics: vec![topic],
            start_from: StartFrom::Earliest,
            max_batch: 500,
        })
        .await
        .expect("subscribe");
    let mut seen = BTreeSet::new();
    let started = Instant::now();
    while !acked.is_subset(&seen) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "acknowledged records are missing: {:?}",
            acked.difference(&seen).take(10).collect::<Vec<_>>()
        );
        for r in sub.poll(Duration::from_millis(500)).await.expect("poll") {
            let value = String::from_utf8_lossy(&r.value).into_owned();
            if let Some(i) = value.strip_prefix("r-").and_then(|n| n.parse().ok()) {
                seen.insert(i);
            }
        }
    }
    sub.close().await.expect("close");
}
