//! Reaching Kafka the way MSK's SCRAM listener is reached: SASL/SCRAM-SHA-512 over TLS with a CA
//! file works end to end, and wrong credentials or an unreachable broker fail clearly and fast.

mod kafka_support;

use bytes::Bytes;
use onboard::adapters::kafka::KafkaBus;
use onboard::ports::bus::{
    BusError, EventBus, OutgoingRecord, StartFrom, SubscribeOptions, TopicSpec,
};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_over_tls_publishes_and_consumes() {
    kafka_or_skip!();
    let bus = KafkaBus::connect(kafka_support::scram_settings(
        &kafka_support::scram_password(),
    ))
    .await
    .expect("SCRAM-SHA-512 over TLS connects");
    let topic = kafka_support::unique("scram");
    bus.create_topics(&[TopicSpec {
        name: topic.clone(),
        partitions: 3,
        replication_factor: 1,
        configs: vec![],
    }])
    .await
    .expect("create a topic over SASL_SSL");
    let delivered = bus
        .publish(vec![OutgoingRecord {
            topic: topic.clone(),
            key: "customer-1".into(),
            headers: vec![("event-id".into(), "e-1".into())],
            value: Bytes::from_static(b"over tls"),
        }])
        .await
        .expect("publish over SASL_SSL");
    assert_eq!(delivered.len(), 1);

    let mut sub = bus
        .subscribe(SubscribeOptions {
            group: kafka_support::unique("scram-g"),
            topics: vec![topic],
            start_from: StartFrom::Earliest,
            max_batch: 10,
        })
        .await
        .expect("subscribe over SASL_SSL");
    let started = Instant::now();
    let record = loop {
        let batch = sub.poll(Duration::from_millis(500)).await.expect("poll");
        if let Some(r) = batch.into_iter().next() {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing arrived"
        );
    };
    assert_eq!(record.value, Bytes::from_static(b"over tls"));
    assert_eq!(record.header("event-id"), Some("e-1"));
    sub.ack(&record);
    sub.commit().await.expect("commit over SASL_SSL");
    sub.close().await.expect("close");
}

#[tokio::test]
async fn a_wrong_password_fails_with_an_authentication_error_within_seconds() {
    kafka_or_skip!();
    let started = Instant::now();
    let result = KafkaBus::connect(kafka_support::scram_settings("not-the-password")).await;
    let waited = started.elapsed();
    match result {
        Err(BusError::Auth(message)) => {
            assert!(message.contains("refused the credentials"), "{message}");
            assert!(
                !message.contains("not-the-password"),
                "the password leaked: {message}"
            );
        }
        Err(other) => panic!("expected an authentication error, got {other:?}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
    assert!(waited < Duration::from_secs(12), "took {waited:?}");
}

#[tokio::test]
async fn an_unreachable_broker_fails_within_the_connect_timeout() {
    kafka_or_skip!();
    let mut settings = kafka_support::plaintext("127.0.0.1:1");
    settings.connect_timeout = Duration::from_secs(3);
    let started = Instant::now();
    let result = KafkaBus::connect(settings).await;
    let waited = started.elapsed();
    match result {
        Err(BusError::Unavailable(message)) => {
            assert!(message.contains("127.0.0.1:1"), "{message}")
        }
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("connected to nothing"),
    }
    assert!(waited < Duration::from_secs(8), "took {waited:?}");
}

/// The CLI answers a wrong password with one line and a non-zero exit, and the password
/// appears nowhere in what it prints.
#[test]
fn the_cli_reports_a_wrong_password_in_one_line() {
    if kafka_support::brokers().is_none() {
        return;
    }
    let dir = kafka_support::run_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_onboard"))
        .args(["topics", "list"])
        .env("KAFKA_BROKERS", "127.0.0.1:9096")
        .env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        .env("KAFKA_USERNAME", "onboard")
        .env("KAFKA_PASSWORD", "wrong-password-123")
        .env("KAFKA_CA_FILE", dir.join("tls/ca.pem"))
        .env("ONBOARD_LOG", "off")
        .output()
        .expect("run onboard");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("onboard: authentication"), "{stderr}");
    assert!(!stderr.contains("wrong-password-123"));
}
