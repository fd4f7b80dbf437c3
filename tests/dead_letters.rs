//! `onboard dlq list|show|replay` on a real poison record, on the embedded bus and on Kafka:
//! the store refuses the customer's event for good (a trigger, as a broken schema change
//! would), so the consumer dead-letters it; the operator lists it, drops the trigger (the fix),
//! replays it, and the event is stored once with an audit row of who, when and why; a second
//! replay is refused.

mod kafka_support;

use axum::body::Body;
use axum::http::Request;
use onboard::app::{Components, Settings};
use onboard::auth::SecretSource;
use onboard::domain::event::Topic;
use onboard::domain::ids::CustomerId;
use onboard::ports::bus::{partition_for_key, ConsumedRecord};
use onboard::roles::consumer::RecordResult;
use onboard::roles::dead_letters::DeadLetters;
use onboard::wiring::BusSettings;
use serde_json::Value;
use sqlx::Connection;
use std::path::Path;
use std::process::{Command, Output};
use tower::ServiceExt;

const SECRET: &str = "dead-letter-replay-secret-long-enough-for-hs256";
const SEED_PAYLOAD: &str = r#"{"email":"poisoned@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;
const BLOCK: &str = "CREATE TRIGGER block_poisoned BEFORE INSERT ON events
                     WHEN NEW.customer_id = 'poisoned'
                     BEGIN SELECT RAISE(ABORT, 'events of this customer are blocked'); END";

fn settings(dir: &Path) -> Settings {
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), dir.to_path_buf());
    settings.secret = SecretSource {
        inline: Some(SECRET.into()),
        file: None,
    };
    settings.consumer.max_attempts = 2;
    settings
}

/// Runs a statement on the SQLite file the way an operator's `sqlite3` would.
async fn sqlite(dir: &Path, statement: &str) {
    let url = format!("sqlite://{}", dir.join("onboard.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    sqlx::query(statement)
        .execute(&mut conn)
        .await
        .expect(statement);
    conn.close().await.expect("close");
}

/// The customer's `user-info-submitted` event, submitted through the API and published.
async fn submit_and_publish(components: &Components) {
    let customer = CustomerId::parse("poisoned").unwrap();
    let token = components.auth.issue(&customer, 3600);
    let request = Request::post("/v1/customers")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(SEED_PAYLOAD))
        .unwrap();
    let response = onboard::roles::api::router(components.api_state())
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(components.relay().publish_pending().await.unwrap(), 1);
}

/// Every record of the customer's partition of `topic` (fresh topics: from offset 0).
async fn partition_of_customer(components: &Components, topic: &str) -> Vec<ConsumedRecord> {
    components
        .bus
        .read_partition(topic, partition_for_key(b"poisoned", 3), 0, 100)
        .await
        .expect("read the partition")
}

fn onboard(dir: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command)
        .arg("dlq")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("ONBOARD_LOG", "off");
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().expect("the onboard binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Dead-letters the poison record with the consumer's own code and returns its event id.
async fn dead_letter_the_poison_record(components: &Components, dir: &Path) -> String {
    sqlite(dir, BLOCK).await;
    submit_and_publish(components).await;
    let topic = components.settings.topics.name(Topic::UserInfoSubmitted);
    let records = partition_of_customer(components, &topic).await;
    assert_eq!(records.len(), 1);
    let report = components
        .consumer(None)
        .process_batch(Topic::UserInfoSubmitted, &records)
        .await;
    assert!(
        matches!(&report.results[..], [RecordResult::DeadLettered { reason }] if reason.contains("blocked")),
        "{report:?}"
    );
    records[0].header("event-id").unwrap().to_string()
}

/// Checks the listing, then replays (after the fix) through the CLI, twice.
fn list_fix_and_replay_with_the_cli(
    dir: &Path,
    env: &[(&str, &str)],
    prefix: &str,
    event_id: &str,
) -> String {
    let listed: Value =
        serde_json::from_str(&stdout(&onboard(dir, env, &["list", "--json"]))).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let dead = &listed[0];
    let origin = format!("{prefix}user-info-submitted");
    assert_eq!(dead["originTopic"], origin.as_str());
    assert_eq!(dead["eventId"], event_id);
    assert_eq!(dead["eventType"], "user-info-submitted");
    assert_eq!(dead["attempts"], 2);
    assert!(
        dead["reason"].as_str().unwrap().contains("blocked"),
        "{dead}"
    );
    assert_eq!(dead["replays"], Value::Array(vec![]));
    let id = dead["id"].as_str().unwrap().to_string();
    assert!(id.starts_with(&format!("{origin}.dlq:")), "{id}");
    // The table and `show` name the record too; the listing carries no personal data.
    let table = stdout(&onboard(dir, env, &["list"]));
    assert!(table.contains(&id) && table.contains("blocked"), "{table}");
    assert!(!table.contains("poisoned@example.com"));
    let shown = stdout(&onboard(dir, env, &["show", &id]));
    assert!(shown.contains("dlq-reason: "), "{shown}");

    let without_reason = onboard(dir, env, &["replay", &id]);
    assert!(!without_reason.status.success(), "a replay needs --reason");

    // The fix, then the replay.
    let replayed = onboard(
        dir,
        env,
        &[
            "replay",
            &id,
            "--reason",
            "dropped the blocking trigger",
            "--by",
            "alice",
        ],
    );
    assert!(stdout(&replayed).contains(&format!("Replayed {id} to {origin}:")));
    let again = onboard(
        dir,
        env,
        &["replay", &id, "--reason", "once more", "--by", "bob"],
    );
    assert!(!again.status.success(), "a second replay is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("replayed before"),
        "{again:?}"
    );
    let listed: Value =
        serde_json::from_str(&stdout(&onboard(dir, env, &["list", "--json"]))).unwrap();
    let replays = listed[0]["replays"].as_array().unwrap();
    assert_eq!(replays.len(), 1, "{listed}");
    assert_eq!(replays[0]["replayedBy"], "alice");
    assert_eq!(replays[0]["reason"], "dropped the blocking trigger");
    id
}

/// The replayed copy is processed and stored once; the audit row says who, why and where.
async fn the_replay_is_stored_and_audited(components: &Components, id: &str, event_id: &str) {
    let replays = components.store.dead_letter_replays(id).await.unwrap();
    assert_eq!(replays.len(), 1);
    let replay = &replays[0];
    assert_eq!(
        (replay.replayed_by.as_str(), replay.forced),
        ("alice", false)
    );
    assert_eq!(replay.event_id.as_deref(), Some(event_id));
    let topic = components.settings.topics.name(Topic::UserInfoSubmitted);
    let records = partition_of_customer(components, &topic).await;
    assert_eq!(records.len(), 2, "the original and its replayed copy");
    let copy = &records[1];
    assert_eq!(
        replay.replayed_to,
        format!("{topic}:{}:{}", copy.partition, copy.offset)
    );
    assert_eq!(copy.header("dlq-replayed-from"), Some(id));
    assert_eq!(copy.header("dlq-reason"), None);
    assert_eq!(copy.value, records[0].value);
    let report = components
        .consumer(None)
        .process_batch(Topic::UserInfoSubmitted, std::slice::from_ref(copy))
        .await;
    assert_eq!(report.results, vec![RecordResult::Stored]);
    let customer = CustomerId::parse("poisoned").unwrap();
    let stored = components
        .store
        .events_after(&customer, 0, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id.to_string(), event_id);

    // Refused in-process too, and forced on request.
    let dead_letters = DeadLetters {
        bus: components.bus.as_ref(),
        store: components.store.as_ref(),
        topics: &components.settings.topics,
    };
    assert!(matches!(
        dead_letters
            .replay(id, "carol", "again", false)
            .await
            .unwrap(),
        onboard::roles::dead_letters::ReplayOutcome::AlreadyReplayed(_)
    ));
    let forced = dead_letters
        .replay(id, "carol", "again", true)
        .await
        .unwrap();
    assert!(matches!(
        forced,
        onboard::roles::dead_letters::ReplayOutcome::Replayed(ref r) if r.forced
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_on_the_embedded_bus_is_dead_lettered_listed_replayed_once_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let components = Components::build(&settings(dir.path())).await.unwrap();
    let event_id = dead_letter_the_poison_record(&components, dir.path()).await;
    // The embedded bus is one process's: the operator's commands run once it is released.
    drop(components);
    sqlite(dir.path(), "DROP TRIGGER block_poisoned").await;
    let id = list_fix_and_replay_with_the_cli(dir.path(), &[], "", &event_id);
    let components = Components::build(&settings(dir.path())).await.unwrap();
    the_replay_is_stored_and_audited(&components, &id, &event_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_on_kafka_is_dead_lettered_listed_replayed_once_and_stored() {
    let brokers = kafka_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}.", kafka_support::unique("dlq-replay"));
    let mut settings = settings(dir.path());
    settings.bus = BusSettings::Kafka(kafka_support::plaintext(&brokers));
    settings.topics = onboard::ports::bus::TopicNames::with_prefix(&prefix).unwrap();
    let components = Components::build(&settings).await.unwrap();
    let event_id = dead_letter_the_poison_record(&components, dir.path()).await;
    sqlite(dir.path(), "DROP TRIGGER block_poisoned").await;
    let env = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("ONBOARD_TOPIC_PREFIX", prefix.as_str()),
    ];
    let id = list_fix_and_replay_with_the_cli(dir.path(), &env, &prefix, &event_id);
    the_replay_is_stored_and_audited(&components, &id, &event_id).await;
}

/// Serves one request through the operator endpoints, as the operator page sends it.
async fn operator_call(
    components: &Components,
    request: Request<Body>,
) -> (axum::http::StatusCode, Value) {
    let state = onboard::roles::operator_api::OperatorApiState {
        store: components.store.clone(),
        bus: components.bus.clone(),
        topics: components.settings.topics.clone(),
        stalls: components.stall_monitor(),
        management_token: components.management_token.clone(),
    };
    let response = onboard::roles::operator_api::router(state)
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_endpoints_list_and_replay_a_dead_letter_and_name_missing_fields() {
    let dir = tempfile::tempdir().unwrap();
    let components = Components::build(&settings(dir.path())).await.unwrap();
    let event_id = dead_letter_the_poison_record(&components, dir.path()).await;
    let token = format!("Bearer {}", components.management_token);

    let (status, _) = operator_call(
        &components,
        Request::get("/v1/ops/dead-letters")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401, "the management token is required");
    let (status, listed) = operator_call(
        &components,
        Request::get("/v1/ops/dead-letters")
            .header("authorization", &token)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let dead = &listed["deadLetters"][0];
    assert_eq!(dead["eventId"], event_id.as_str());
    let id = dead["id"].as_str().unwrap().to_string();

    let replay = |body: Value| {
        Request::post("/v1/ops/dead-letters/replay")
            .header("authorization", &token)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (status, problem) =
        operator_call(&components, replay(serde_json::json!({"ids": [id]}))).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["reason", "by"], "{problem}");

    sqlite(dir.path(), "DROP TRIGGER block_poisoned").await;
    let ok = serde_json::json!({"ids": [id], "reason": "dropped the trigger", "by": "alice"});
    let (status, answer) = operator_call(&components, replay(ok.clone())).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "replayed");
    let (status, answer) = operator_call(&components, replay(ok)).await;
    assert_eq!(status, 207, "{answer}");
    assert_eq!(answer["results"][0]["outcome"], "already-replayed");
    the_replay_is_stored_and_audited(&components, &id, &event_id).await;
}
