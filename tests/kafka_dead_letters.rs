//! Dead letters on Kafka: a record the consumer cannot process lands, after bounded retries, in
//! its topic's `.dlq` topic with origin and reason headers, and the partition keeps moving: the
//! same customer's next event (same key, same partition, later offset) is processed.

mod kafka_support;

use bytes::Bytes;
use onboard::app::{Application, Settings};
use onboard::auth::SecretSource;
use onboard::domain::ids::CustomerId;
use onboard::ports::bus::{
    partition_for_key, EventBus, OutgoingRecord, StartFrom, SubscribeOptions, TopicNames,
};
use onboard::wiring::BusSettings;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_lands_in_the_dead_letter_topic_and_the_partition_keeps_moving() {
    let brokers = kafka_or_skip!();
    let dir = tempfile::tempdir().expect("temp dir");
    let id = kafka_support::unique("dlq");
    let names = TopicNames::with_prefix(&format!("{id}.")).unwrap();
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), dir.path().to_path_buf());
    settings.secret = SecretSource {
        inline: Some("dead-letter-test-secret-long-enough-for-hs256".into()),
        file: None,
    };
    settings.bus = BusSettings::Kafka(kafka_support::plaintext(&brokers));
    settings.topics = names.clone();
    settings.consumer.group = id.clone();
    let app = Application::build(settings).await.expect("the app builds");
    let addr = app.local_addr();
    let token = app
        .authenticator()
        .issue(&CustomerId::parse("poisoned").unwrap(), 3600);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));

    // A record no consumer can read, keyed like the customer's own events.
    let bus = kafka_support::connect(&brokers).await;
    let topic = names.name(onboard::domain::event::Topic::UserInfoSubmitted);
    let poison = bus
        .publish(vec![OutgoingRecord {
            topic: topic.clone(),
            key: "poisoned".into(),
            headers: vec![("event-id".into(), "not-an-event".into())],
            value: Bytes::from_static(b"{this is not an envelope"),
        }])
        .await
        .expect("publish the poison record")[0];
    assert_eq!(poison.partition, partition_for_key(b"poisoned", 3));

    // Behind it on the same partition: the customer's real first event.
    let http = reqwest::Client::new();
    let created = http
        .post(format!("http://{addr}/v1/customers"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"email":"poisoned@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(created.status(), 201);

    let started = Instant::now();
    loop {
        let feed: serde_json::Value = http
            .get(format!("http://{addr}/v1/customers/poisoned/events"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the API answers")
            .json()
            .await
            .expect("json");
        if feed["events"].as_array().is_some_and(|e| e.len() == 1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the event behind the poison record was never processed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut dlq = bus
        .subscribe(SubscribeOptions {
            group: kafka_support::unique("dlq-reader"),
            topics: vec![format!("{topic}.dlq")],
            start_from: StartFrom::Earliest,
            max_batch: 10,
        })
        .await
        .expect("subscribe to the dead-letter topic");
    let started = Instant::now();
    let dead = loop {
        if let Some(r) = dlq
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
            .into_iter()
            .next()
        {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no dead letter"
        );
    };
    assert_eq!(dead.value, Bytes::from_static(b"{this is not an envelope"));
    assert_eq!(dead.key.as_deref(), Some("poisoned"));
    assert_eq!(dead.header("event-id"), Some("not-an-event"));
    assert_eq!(dead.header("dlq-origin-topic"), Some(topic.as_str()));
    assert_eq!(
        dead.header("dlq-origin-partition"),
        Some(poison.partition.to_string().as_str())
    );
    assert_eq!(
        dead.header("dlq-origin-offset"),
        Some(poison.offset.to_string().as_str())
    );
    assert!(
        dead.header("dlq-reason")
            .is_some_and(|r| r.contains("not an event envelope")),
        "{:?}",
        dead.header("dlq-reason")
    );
    dlq.close().await.expect("close");

    // The group moved past the poison record: its committed offset is past it and nothing is
    // left to read on that partition. A partition missing from the answer is not "no lag".
    let started = Instant::now();
    loop {
        let lag = bus
            .describe_group(&id, std::slice::from_ref(&topic))
            .await
            .expect("describe the group")
            .into_iter()
            .find(|l| l.partition == poison.partition);
        if lag
            .as_ref()
            .is_some_and(|l| l.committed.is_some_and(|c| c > poison.offset) && l.lag() == 0)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the partition is stuck: {lag:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the app stops")
        .expect("join")
        .expect("the app ran cleanly");
}
