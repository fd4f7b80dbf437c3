//! The roles' operations driven one call at a time, without a listener or a supervisor, the
//! way a Lambda handler or a test harness uses them: a step through the API router
//! (`oneshot`), `publish_pending`, `process_batch`, `dispatch_due` and a gateway action, all
//! on components built over a temporary SQLite store and the embedded bus.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use onboard::app::{Components, Settings};
use onboard::auth::SecretSource;
use onboard::domain::event::Topic;
use onboard::domain::ids::{ApplicationId, ConnectionId, CustomerId};
use onboard::ports::bus::{ConsumedRecord, StartFrom, SubscribeOptions};
use onboard::roles::api;
use onboard::roles::consumer::RecordResult;
use onboard::roles::gateway::actions::{handle_action, Frame};
use onboard::roles::gateway::ordering::EventOrder;
use onboard::testing::pushes::{connection_elsewhere, RecordingPusher};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const SECRET: &str = "operations-test-secret-that-is-long-enough-for-hs256";
const SEED_PAYLOAD: &str = r#"{"email":"test@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;

struct Harness {
    components: Components,
    pushed: Arc<RecordingPusher>,
    _dir: tempfile::TempDir,
}

async fn harness(max_attempts: u32) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), dir.path().to_path_buf());
    settings.secret = SecretSource {
        inline: Some(SECRET.into()),
        file: None,
    };
    settings.consumer.max_attempts = max_attempts;
    let mut components = Components::build(&settings)
        .await
        .expect("components build");
    let pushed = Arc::new(RecordingPusher::default());
    components.pusher = pushed.clone();
    Harness {
        components,
        pushed,
        _dir: dir,
    }
}

impl Harness {
    fn token(&self, customer: &CustomerId) -> String {
        self.components.auth.issue(customer, 3600)
    }

    /// Serves one request through the API router, as a Lambda proxy handler would.
    async fn call(&self, request: Request<Body>) -> (StatusCode, Value, bool) {
        let router = api::router(self.components.api_state());
        let response = router.oneshot(request).await.expect("the router answers");
        let status = response.status();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, replayed)
    }

    fn post(&self, customer: &CustomerId, path: &str, key: &str) -> axum::http::request::Builder {
        Request::post(path)
            .header("authorization", format!("Bearer {}", self.token(customer)))
            .header("idempotency-key", key)
    }

    async fn submit_user_info(&self, customer: &CustomerId) -> String {
        self.submit_user_info_with(customer, SEED_PAYLOAD).await
    }

    async fn submit_user_info_with(&self, customer: &CustomerId, payload: &str) -> String {
        let request = self
            .post(customer, "/v1/customers", "submit-1")
            .header("content-type", "application/json")
            .body(Body::from(payload.to_owned()))
            .unwrap();
        let (status, body, _) = self.call(request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["applicationId"].as_str().unwrap().to_owned()
    }

    /// The `user-info-submitted` record of a new customer, published and consumed.
    async fn submitted_records(&self, customer: &CustomerId) -> Vec<ConsumedRecord> {
        self.submit_user_info(customer).await;
        self.components.relay().publish_pending().await.unwrap();
        self.consume(&self.topic(Topic::UserInfoSubmitted)).await
    }

    /// Every record waiting on `topic` (the embedded bus hands them over at once).
    async fn consume(&self, topic: &str) -> Vec<ConsumedRecord> {
        let mut subscription = self
            .components
            .bus
            .subscribe(SubscribeOptions {
                group: format!("operations-{topic}"),
                topics: vec![topic.to_owned()],
                start_from: StartFrom::Earliest,
                max_batch: 100,
            })
            .await
            .unwrap();
        let mut records = Vec::new();
        for _ in 0..20 {
            let batch = subscription.poll(Duration::from_millis(100)).await.unwrap();
            if batch.is_empty() && !records.is_empty() {
                break;
            }
            records.extend(batch);
        }
        subscription.close().await.unwrap();
        records
    }

    fn topic(&self, topic: Topic) -> String {
        self.components.settings.topics.name(topic)
    }

    async fn connect(&self, customer: &CustomerId) -> ConnectionId {
        let connection = connection_elsewhere(customer);
        self.components
            .store
            .register_connection(&connection)
            .await
            .unwrap();
        connection.connection_id
    }
}

#[tokio::test]
async fn a_step_served_without_a_listener_is_published_stored_pushed_and_mailed_once() {
    let h = harness(5).await;
    let customer = CustomerId::parse("operations-customer").unwrap();
    let connection = h.connect(&customer).await;
    let application = h.submit_user_info(&customer).await;

    let relay = h.components.relay();
    assert_eq!(relay.publish_pending().await.unwrap(), 1);
    assert_eq!(relay.publish_pending().await.unwrap(), 0, "published once");

    let records = h.consume(&h.topic(Topic::UserInfoSubmitted)).await;
    assert_eq!(records.len(), 1);
    let consumer = h.components.consumer(None);
    let report = consumer
        .process_batch(Topic::UserInfoSubmitted, &records)
        .await;
    assert_eq!(report.results, [RecordResult::Stored]);
    assert!(report.is_complete());

    let stored = h
        .components
        .store
        .events_after(&customer, 0, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].topic, Topic::UserInfoSubmitted);
    assert_eq!(
        stored[0].application_id.map(|a| a.to_string()),
        Some(application)
    );
    assert_eq!(h.pushed.pushes(), [(connection, stored[0].id)]);

    let dispatcher = h.components.dispatcher();
    let round = dispatcher
        .dispatch_due(chrono::Utc::now(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((round.due, round.delivered), (1, 1), "{round:?}");

    // A redelivered batch stores nothing and queues no second e-mail.
    let again = consumer
        .process_batch(Topic::UserInfoSubmitted, &records)
        .await;
    assert_eq!(again.results, [RecordResult::Duplicate]);
    let round = dispatcher
        .dispatch_due(chrono::Utc::now(), &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(round.due, 0, "{round:?}");
}

/// A batch holding several customers' events reads their contact data together: each e-mail
/// goes to its own customer's address, with that customer's name.
#[tokio::test]
async fn a_batch_of_several_customers_events_mails_each_at_their_own_address() {
    let h = harness(5).await;
    let customers = [("Ada", "ada"), ("Bob", "bob"), ("Cyd", "cyd")];
    for (first_name, id) in customers {
        let payload = json!({
            "email": format!("{id}@example.com"), "firstName": first_name, "lastName": "Doe",
            "dateOfBirth": "1990-01-01", "phoneNumber": "+1234567890",
        });
        h.submit_user_info_with(&CustomerId::parse(id).unwrap(), &payload.to_string())
            .await;
    }
    h.components.relay().publish_pending().await.unwrap();
    let records = h.consume(&h.topic(Topic::UserInfoSubmitted)).await;
    assert_eq!(records.len(), 3, "one batch of the three");

    let report = h
        .components
        .consumer(None)
        .process_batch(Topic::UserInfoSubmitted, &records)
        .await;
    assert_eq!(report.results, vec![RecordResult::Stored; 3]);
    h.components
        .dispatcher()
        .dispatch_due(chrono::Utc::now(), &CancellationToken::new())
        .await
        .unwrap();

    let mails = onboard::adapters::maildir::read_maildir(h._dir.path().join("mail")).unwrap();
    let mut greeted: Vec<(String, bool)> = mails
        .iter()
        .map(|mail| {
            let to = mail.header("To").unwrap_or_default().to_owned();
            let name = customers
                .iter()
                .find(|(_, id)| to.contains(&format!("{id}@example.com")))
                .map_or("nobody", |(name, _)| name);
            let greets_them = mail.body.contains(&format!("Hello {name},"));
            (to, greets_them)
        })
        .collect();
    greeted.sort();
    assert_eq!(greeted.len(), 3, "{greeted:?}");
    for ((to, greets_them), (_, id)) in greeted.iter().zip(customers) {
        assert!(to.contains(&format!("{id}@example.com")), "{greeted:?}");
        assert!(greets_them, "the mail to {to} greets someone else");
    }
}

#[tokio::test]
async fn a_poison_record_is_dead_lettered_and_the_rest_of_its_batch_stored() {
    let h = harness(1).await;
    let customer = CustomerId::parse("poison-batch-customer").unwrap();
    let topic = h.topic(Topic::UserInfoSubmitted);
    let good = h.submitted_records(&customer).await;
    assert_eq!(good.len(), 1);
    let poison = ConsumedRecord {
        offset: good[0].offset + 1,
        value: Bytes::from_static(b"not an event"),
        ..good[0].clone()
    };

    let report = h
        .components
        .consumer(None)
        .process_batch(Topic::UserInfoSubmitted, &[poison, good[0].clone()])
        .await;
    assert!(
        matches!(&report.results[0], RecordResult::DeadLettered { reason } if reason.contains("not an event envelope")),
        "{report:?}"
    );
    assert_eq!(report.results[1], RecordResult::Stored);
    assert!(report.is_complete());

    let dead = h.consume(&format!("{topic}.dlq")).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value, Bytes::from_static(b"not an event"));
    assert_eq!(dead[0].header("dlq-origin-topic"), Some(topic.as_str()));
}

/// A poison record is tried exactly the configured number of times before it is dead-lettered
/// (docs/design-notes.md), and the dead letter says how many: checked for one and for three
/// attempts, so an off-by-one in either direction shows.
#[tokio::test]
async fn a_poison_record_is_dead_lettered_after_exactly_the_configured_attempts() {
    for max_attempts in [1, 3] {
        let h = harness(max_attempts).await;
        let customer = CustomerId::parse("poison-attempts-customer").unwrap();
        let topic = h.topic(Topic::UserInfoSubmitted);
        let good = h.submitted_records(&customer).await;
        let poison = ConsumedRecord {
            value: Bytes::from_static(b"{\"not\":\"an envelope\"}"),
            ..good[0].clone()
        };
        let report = h
            .components
            .consumer(None)
            .process_batch(Topic::UserInfoSubmitted, &[poison])
            .await;
        assert!(
            matches!(&report.results[0], RecordResult::DeadLettered { .. }),
            "{report:?}"
        );
        let dead = h.consume(&format!("{topic}.dlq")).await;
        assert_eq!(dead.len(), 1, "one dead letter per poison record");
        assert_eq!(
            dead[0].header("dlq-attempts"),
            Some(max_attempts.to_string().as_str()),
            "attempts before dead-lettering with max_attempts = {max_attempts}"
        );
    }
}

#[tokio::test]
async fn a_record_of_another_topic_is_not_stored_by_this_topics_consumer() {
    let h = harness(1).await;
    let customer = CustomerId::parse("wrong-topic-customer").unwrap();
    let records = h.submitted_records(&customer).await;

    let report = h
        .components
        .consumer(None)
        .process_batch(Topic::KycVerified, &records)
        .await;
    assert!(
        matches!(&report.results[..], [RecordResult::DeadLettered { .. }]),
        "{report:?}"
    );
    let stored = h.components.store.events_after(&customer, 0, 10).await;
    assert!(stored.unwrap().is_empty());
}

#[tokio::test]
async fn a_record_that_cannot_be_dead_lettered_fails_with_the_rest_of_its_batch_for_a_retry() {
    let h = harness(1).await;
    let customer = CustomerId::parse("no-dead-letter-customer").unwrap();
    let good = h.submitted_records(&customer).await;
    // Its dead-letter topic does not exist, so the poison record can go nowhere.
    let stray = ConsumedRecord {
        topic: "no-such-topic".into(),
        ..good[0].clone()
    };

    let report = h
        .components
        .consumer(None)
        .process_batch(Topic::UserInfoSubmitted, &[stray, good[0].clone()])
        .await;
    assert!(!report.is_complete());
    assert_eq!(report.failed().collect::<Vec<_>>(), [0, 1], "{report:?}");
    assert!(
        report.first_failure().unwrap().contains("dead-lettering"),
        "{report:?}"
    );
    // Nothing after the failed record was stored ahead of it.
    let stored = h.components.store.events_after(&customer, 0, 10).await;
    assert!(stored.unwrap().is_empty());
}

#[tokio::test]
async fn a_gateway_action_is_answered_without_a_socket() {
    let h = harness(5).await;
    let customer = CustomerId::parse("gateway-action-customer").unwrap();
    let records = h.submitted_records(&customer).await;
    h.components
        .consumer(None)
        .process_batch(Topic::UserInfoSubmitted, &records)
        .await;
    let store = h.components.store.as_ref();
    let mut order = EventOrder::default();

    let texts = |frames: &[Frame]| -> Vec<Value> {
        frames
            .iter()
            .map(|f| serde_json::from_str(f.text()).unwrap())
            .collect()
    };
    let reply = handle_action(store, &customer, &mut order, r#"{"action":"ping","id":7}"#).await;
    assert_eq!(texts(&reply.frames), [json!({"type": "pong", "id": 7})]);

    let reply = handle_action(store, &customer, &mut order, r#"{"action":"resume"}"#).await;
    let frames = texts(&reply.frames);
    assert!(matches!(reply.frames[0], Frame::Event(_)));
    assert_eq!(frames[0]["event"]["type"], "user-info-submitted");
    assert_eq!(
        frames[1],
        json!({"type": "resumed", "after": null, "replayed": 1, "lastSequence": 1})
    );
    let event_id = frames[0]["event"]["id"].as_str().unwrap().to_owned();

    let ack = format!(r#"{{"action":"ack","eventId":"{event_id}"}}"#);
    let reply = handle_action(store, &customer, &mut order, &ack).await;
    assert_eq!(reply.acked.map(|id| id.to_string()), Some(event_id.clone()));
    assert_eq!(texts(&reply.frames)[0]["type"], "acked");

    let reply = handle_action(store, &customer, &mut order, r#"{"action":"dance"}"#).await;
    assert_eq!(texts(&reply.frames)[0]["code"], "unknown_action");

    // Another customer cannot resume after this customer's event.
    let stranger = CustomerId::parse("someone-else").unwrap();
    let resume = format!(r#"{{"action":"resume","after":"{event_id}"}}"#);
    let reply = handle_action(store, &stranger, &mut EventOrder::default(), &resume).await;
    assert_eq!(texts(&reply.frames)[0]["code"], "unknown_event");
}

/// A multipart upload of a small PDF passport.
fn passport_upload() -> (String, Vec<u8>) {
    let boundary = "operations-boundary";
    let mut body = Vec::new();
    for (name, value) in [
        ("documentType", "passport"),
        ("documentNumber", "X1234567"),
        ("fullName", "John Doe"),
        ("expiryDate", "2035-01-01"),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 passport\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_kyc_retry_with_another_body_under_the_same_key_is_refused() {
    let h = harness(5).await;
    let customer = CustomerId::parse("kyc-retry-customer").unwrap();
    let application = h.submit_user_info(&customer).await;
    let (content_type, upload) = passport_upload();
    let request = h
        .post(
            &customer,
            &format!("/v1/applications/{application}/documents"),
            "upload-1",
        )
        .header("content-type", content_type)
        .body(Body::from(upload))
        .unwrap();
    let (status, document, _) = h.call(request).await;
    assert_eq!(status, StatusCode::CREATED, "{document}");

    // The upload went through the document store, under the key its record holds.
    let records = h
        .components
        .store
        .documents(ApplicationId::parse(&application).unwrap())
        .await
        .unwrap();
    let key = onboard::ports::documents::DocumentKey::parse(&records[0].stored_path).unwrap();
    let bytes = h.components.documents.get(&key).await.unwrap();
    assert_eq!(bytes, b"%PDF-1.7 passport");

    let kyc = |body: &'static str| {
        h.post(
            &customer,
            &format!("/v1/applications/{application}/kyc"),
            "kyc-1",
        )
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
    };
    let (status, first, replayed) = h.call(kyc("{}")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(!replayed);

    let (status, refused, _) = h.call(kyc(r#"{"decision":"approved"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["code"], "idempotency-key-reused");

    // An empty body means the same as `{}`: the first answer again.
    let (status, again, replayed) = h.call(kyc("")).await;
    assert_eq!((status, replayed), (StatusCode::OK, true));
    assert_eq!(again, first);
}
