//! `onboard topics create|describe` and `onboard groups describe` as an operator runs them
//! against a real Kafka: the twelve topics with the documented configs, existing ones left alone,
//! and the tables naming what an operator reads from them (README, "Commands").

mod kafka_support;

use onboard::ports::bus::{BusError, EventBus, StartFrom, SubscribeOptions, TopicNames, TopicSpec};
use std::process::{Command, Output};
use std::time::Duration;

/// The binary on the test broker with its own topic prefix, and nothing else from the shell.
fn onboard(brokers: &str, prefix: &str, args: &[&str]) -> Output {
    let output = onboard::testing::env::hermetic(&mut Command::new(env!("CARGO_BIN_EXE_onboard")))
        .args(args)
        .env("KAFKA_BROKERS", brokers)
        .env("ONBOARD_BUS", "kafka")
        .env("ONBOARD_TOPIC_PREFIX", prefix)
        .env("ONBOARD_LOG", "off")
        .output()
        .expect("the onboard binary runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The whitespace-separated fields of the line of `text` whose fields include every one of `has`.
fn row<'a>(text: &'a str, has: &[&str]) -> Vec<&'a str> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|fields| has.iter().all(|h| fields.contains(h)))
        .unwrap_or_else(|| panic!("no line with {has:?} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_makes_the_twelve_topics_with_their_configs_and_leaves_existing_ones_alone() {
    let brokers = kafka_or_skip!();
    let prefix = format!("{}.", kafka_support::unique("cli"));
    let names = TopicNames::with_prefix(&prefix).unwrap();
    let bus = kafka_support::connect(&brokers).await;
    // One topic exists already, made differently: `create` must not touch it.
    let existing = format!("{prefix}kyc-verified");
    bus.create_topics(&[TopicSpec {
        name: existing.clone(),
        partitions: 1,
        replication_factor: 1,
        configs: vec![("retention.ms".into(), "3600000".into())],
    }])
    .await
    .expect("create the existing topic");

    let created = stdout(&onboard(
        &brokers,
        &prefix,
        &["topics", "create", "--replication-factor", "1"],
    ));

    let expected: Vec<String> = names
        .all()
        .into_iter()
        .chain(names.dead_letters())
        .collect();
    assert_eq!(
        expected.len(),
        12,
        "six topics and their dead-letter topics"
    );
    assert!(expected.iter().any(|t| t.ends_with(".dlq")));
    // `topics create` returns once the broker it asked has every topic with its leaders; the
    // broker this client asks may learn of them a moment later (KRaft: each broker follows the
    // metadata log on its own), so allow it that moment.
    let infos = {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match bus.describe_topics(&expected).await {
                Err(BusError::UnknownTopic(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other.expect("describe"),
            }
        }
    };
    assert_eq!(infos.len(), 12);
    for info in &infos {
        let retention = info.configs.iter().find(|(k, _)| k == "retention.ms");
        if info.name == existing {
            assert!(
                created.contains(&existing) && created.contains("left unchanged"),
                "{created}"
            );
            assert_eq!(
                info.partitions.len(),
                1,
                "the existing topic keeps its partitions"
            );
            assert_eq!(retention.map(|(_, v)| v.as_str()), Some("3600000"));
            continue;
        }
        assert_eq!(info.partitions.len(), 3, "{}", info.name);
        assert_eq!(
            retention.map(|(_, v)| v.as_str()),
            Some("604800000"),
            "{}",
            info.name
        );
        assert!(
            info.configs
                .contains(&("cleanup.policy".into(), "delete".into())),
            "{}: {:?}",
            info.name,
            info.configs
        );
    }

    // `topics describe` names each topic with its partition count, and each partition's leader.
    let described = stdout(&onboard(&brokers, &prefix, &["topics", "describe"]));
    for info in &infos {
        let header = row(&described, &["Topic:", &info.name]);
        let count = header
            .iter()
            .position(|f| *f == "PartitionCount:")
            .map(|at| header[at + 1]);
        assert_eq!(
            count,
            Some(info.partitions.len().to_string().as_str()),
            "{described}"
        );
    }
    assert!(described.contains("retention.ms=604800000"), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_describe_shows_each_partitions_committed_offset_end_and_lag() {
    let brokers = kafka_or_skip!();
    let prefix = format!("{}.", kafka_support::unique("cli"));
    let group = kafka_support::unique("cli-group");
    onboard(
        &brokers,
        &prefix,
        &["topics", "create", "--replication-factor", "1"],
    );
    let topic = format!("{prefix}kyc-verified");
    let bus = kafka_support::connect(&brokers).await;
    let records = (0..3)
        .map(|i| onboard::ports::bus::OutgoingRecord {
            topic: topic.clone(),
            key: "one-customer".into(),
            headers: Vec::new(),
            value: bytes::Bytes::from(format!("r-{i}")),
        })
        .collect();
    let delivered = bus.publish(records).await.expect("publish");
    let partition = delivered[0].partition;

    // The group reads all three and acknowledges the first one only.
    let mut sub = bus
        .subscribe(SubscribeOptions {
            group: group.clone(),
            topics: vec![topic.clone()],
            start_from: StartFrom::Earliest,
            max_batch: 10,
        })
        .await
        .expect("subscribe");
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    while got.len() < 3 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "records missing"
        );
        got.extend(
            sub.poll(std::time::Duration::from_millis(250))
                .await
                .expect("poll"),
        );
    }
    sub.ack(&got[0]);
    sub.commit().await.expect("commit");
    sub.close().await.expect("close");

    let described = stdout(&onboard(&brokers, &prefix, &["groups", "describe", &group]));
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG, as kafka-consumer-groups.sh.
    let partition = partition.to_string();
    let fields = described
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 6 && f[0] == group && f[1] == topic && f[2] == partition)
        .unwrap_or_else(|| panic!("no row for {topic} [{partition}] in:\n{described}"));
    assert_eq!(fields[3..], ["1", "3", "2"], "{described}");
}
