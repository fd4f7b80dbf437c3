//! Reaching Kafka the way MSK's SCRAM listener is reached: SASL/SCRAM-SHA-512 over TLS with a CA
//! file works end to end, the application itself runs the workflow over it (SCRAM-SHA-512 and
//! -256), and wrong credentials or an unreachable broker fail clearly and fast.

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
        .env("KAFKA_BROKERS", kafka_support::sasl_brokers())
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

/// The application itself over the SCRAM listener: `onboard up` is given only the SASL_SSL
/// ports (`scripts/kafka.sh env --sasl`), the user, the password in a file and the CA, and a
/// customer's whole workflow reaches their WebSocket, every event in order, through Kafka.
async fn the_workflow_runs_over_scram(mechanism: &str) {
    let Some(brokers) = kafka_support::brokers() else {
        kafka_support::say_skipped("the workflow over SCRAM");
        return;
    };
    // Node i's SASL_SSL listener is its PLAINTEXT port + 4 (scripts/kafka.sh).
    let sasl_brokers: Vec<String> = brokers
        .split(',')
        .map(|broker| {
            let (host, port) = broker.rsplit_once(':').expect("host:port");
            format!("{host}:{}", port.parse::<u16>().expect("a port") + 4)
        })
        .collect();
    let dir = kafka_support::run_dir();
    let data = tempfile::tempdir().unwrap();
    let prefix = format!("{}.", kafka_support::unique("scram-e2e"));
    let port = onboard::testing::ports::free_port();
    let replication = std::env::var("ONBOARD_REPLICATION_FACTOR").unwrap_or_else(|_| "1".into());
    let mut child = onboard::testing::env::hermetic(&mut std::process::Command::new(env!(
        "CARGO_BIN_EXE_onboard"
    )))
    .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
    .arg(data.path())
    .env("ONBOARD_BUS", "kafka")
    .env("KAFKA_BROKERS", sasl_brokers.join(","))
    .env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    .env("KAFKA_SASL_MECHANISM", mechanism)
    .env(
        "KAFKA_USERNAME",
        std::fs::read_to_string(dir.join("sasl/username"))
            .expect("the SCRAM user of scripts/kafka.sh")
            .trim(),
    )
    .env("KAFKA_PASSWORD_FILE", dir.join("sasl/password"))
    .env("KAFKA_CA_FILE", dir.join("tls/ca.pem"))
    .env("ONBOARD_TOPIC_PREFIX", &prefix)
    .env("ONBOARD_CONSUMER_GROUP", prefix.trim_end_matches('.'))
    .env("ONBOARD_REPLICATION_FACTOR", replication)
    .env("ONBOARD_JWT_SECRET", SCRAM_E2E_SECRET)
    .env("ONBOARD_LOG", "warn")
    .stdout(std::process::Stdio::null())
    .spawn()
    .expect("the onboard binary starts");
    let result = workflow_against(port, mechanism, &mut child).await;
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap_or_else(|failure| panic!("{mechanism}: {failure}"));

    // The events went through this Kafka: the prefixed topic holds the customer's record.
    let reader: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("a Kafka client");
    let topic = format!("{prefix}workflow-completed");
    let records: i64 = (0..3)
        .map(|partition| {
            rdkafka::consumer::Consumer::fetch_watermarks(
                &reader,
                &topic,
                partition,
                Duration::from_secs(10),
            )
            .map_or(0, |(_, high)| high)
        })
        .sum();
    assert_eq!(records, 1, "records on {topic}");
}

const SCRAM_E2E_SECRET: &str = "scram-e2e-test-secret-that-is-long-enough-for-hs256";

/// The five steps of one customer against the server on `port`, and its tab's five events.
async fn workflow_against(
    port: u16,
    mechanism: &str,
    server: &mut std::process::Child,
) -> Result<(), String> {
    use futures::StreamExt;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("the server exited before it was ready: {status}"));
        }
        if started.elapsed() > Duration::from_secs(120) {
            return Err("the server never became ready".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let customer = format!("scram-{}", mechanism.to_ascii_lowercase());
    let secret = onboard::auth::JwtSecret::new(SCRAM_E2E_SECRET.as_bytes().to_vec()).unwrap();
    let token = onboard::auth::Authenticator::new(&secret).issue(
        &onboard::domain::ids::CustomerId::parse(&customer).unwrap(),
        3600,
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/ws?customerId={customer}&token={token}"
    ))
    .await
    .map_err(|e| format!("the WebSocket did not open: {e}"))?;

    let step = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
    };
    let created: serde_json::Value = step(
        "/v1/customers",
        serde_json::json!({"email": format!("{customer}@example.com"), "firstName": "John",
            "lastName": "Doe", "dateOfBirth": "1990-01-01", "phoneNumber": "+1234567890"}),
    )
    .send()
    .await
    .map_err(|e| e.to_string())?
    .json()
    .await
    .map_err(|e| e.to_string())?;
    let application = created["applicationId"]
        .as_str()
        .ok_or(format!("not created: {created}"))?
        .to_string();
    let uploaded = http
        .post(format!("{base}/v1/applications/{application}/documents"))
        .bearer_auth(&token)
        .multipart(onboard::testing::requests::passport_form("John Doe"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if uploaded.status() != 201 {
        return Err(format!("documents: {}", uploaded.status()));
    }
    let kyc = http
        .post(format!("{base}/v1/applications/{application}/kyc"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if kyc.status() != 200 {
        return Err(format!("kyc: {}", kyc.status()));
    }
    let policy: serde_json::Value = step(
        &format!("/v1/applications/{application}/policy-recommendation"),
        serde_json::json!({"coverageType": "life", "monthlyBudget": 100}),
    )
    .send()
    .await
    .map_err(|e| e.to_string())?
    .json()
    .await
    .map_err(|e| e.to_string())?;
    let completed = step(
        &format!("/v1/applications/{application}/complete"),
        serde_json::json!({"policyId": policy["policyId"]}),
    )
    .send()
    .await
    .map_err(|e| e.to_string())?;
    if completed.status() != 200 {
        return Err(format!("complete: {}", completed.status()));
    }

    let mut topics = Vec::new();
    while topics.len() < 5 {
        let message = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .map_err(|_| format!("the tab got only {topics:?} within 60 s"))?;
        let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = message else {
            match message {
                Some(Ok(_)) => continue,
                other => return Err(format!("the socket ended after {topics:?}: {other:?}")),
            }
        };
        let frame: serde_json::Value = serde_json::from_str(text.as_str()).unwrap_or_default();
        if frame["type"] == "event" {
            topics.push(frame["event"]["type"].as_str().unwrap_or("?").to_string());
        }
    }
    let expected = [
        "user-info-submitted",
        "documents-processed",
        "kyc-verified",
        "policy-recommended",
        "workflow-completed",
    ];
    if topics != expected {
        return Err(format!("the tab's events: {topics:?}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_runs_the_workflow_over_scram_sha_512() {
    the_workflow_runs_over_scram("SCRAM-SHA-512").await;
}

/// Clusters started by an older scripts/kafka.sh gave the user a SCRAM-SHA-512 credential only
/// (and wrote no `sasl/mechanisms`); `scripts/kafka.sh stop && scripts/kafka.sh start` makes one
/// with both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_runs_the_workflow_over_scram_sha_256() {
    let mechanisms = std::fs::read_to_string(kafka_support::run_dir().join("sasl/mechanisms"))
        .unwrap_or_default();
    if kafka_support::brokers().is_some()
        && !mechanisms.split_whitespace().any(|m| m == "SCRAM-SHA-256")
    {
        kafka_support::say_skipped(
            "the workflow over SCRAM-SHA-256: this cluster's user has no SCRAM-SHA-256 credential \
             (started by an older scripts/kafka.sh; stop and start it again)",
        );
        return;
    }
    the_workflow_runs_over_scram("SCRAM-SHA-256").await;
}
