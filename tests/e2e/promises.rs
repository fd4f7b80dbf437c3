//! Documented promises that had no test (issue 12): failed steps and their idempotency keys
//! (docs/design-notes.md), the WebSocket handshake, `welcome`, `ack` and the shutdown close
//! (docs/websocket.md).

use crate::invalid_input::events_through;
use crate::support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A valid application id that names no application.
const UNKNOWN_APPLICATION: &str = "0190a0a0-0000-7000-8000-000000000000";

#[tokio::test]
async fn a_retried_failing_step_returns_the_same_problem_and_publishes_nothing_new() {
    let app = spawn_app().await;
    let customer = app.customer("retried-failure");
    let invalid = r#"{"email":"not-an-email"}"#;
    let first = customer
        .post_json("/v1/customers", invalid, Some("bad-1"))
        .await;
    first.assert_problem(422);
    let again = customer
        .post_json("/v1/customers", invalid, Some("bad-1"))
        .await;
    // The same problem; only `requestId` differs: it names each request (and its log lines).
    let without_request_id = |answer: &Answer| {
        let mut body = answer.body.clone();
        let id = body.as_object_mut().unwrap().remove("requestId");
        assert_eq!(
            id.as_ref().and_then(|v| v.as_str()),
            answer.headers["x-request-id"].to_str().ok()
        );
        body
    };
    assert_eq!(
        (again.status, without_request_id(&again)),
        (first.status, without_request_id(&first))
    );

    // The next step's event is the second one: the retry published nothing.
    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let events = events_through(&customer, "user-info-submitted").await;
    assert_eq!(types(&events), ["workflow-errors", "user-info-submitted"]);
}

#[tokio::test]
async fn refusals_without_a_trustworthy_customer_or_application_are_not_published() {
    let app = spawn_app().await;
    let customer = app.customer("not-published");
    // 404: an application that does not exist.
    let missing = customer
        .post_json(
            &format!("/v1/applications/{UNKNOWN_APPLICATION}/kyc"),
            "",
            None,
        )
        .await;
    missing.assert_problem(404);
    // 401: the same customer's request with a token that does not verify.
    let forged = answer(
        app.http
            .post(app.url("/v1/customers"))
            .bearer_auth(format!("{}x", customer.token))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    forged.assert_problem(401);

    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let events = events_through(&customer, "user-info-submitted").await;
    assert_eq!(types(&events), ["user-info-submitted"]);
}

/// The HTTP status a WebSocket handshake was answered with (101 when it opened).
async fn handshake(request: impl IntoClientRequest + Unpin) -> u16 {
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("the handshake failed without an answer: {other}"),
    }
}

fn with_origin(
    url: &str,
    origin: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", origin.parse().unwrap());
    request
}

/// A token that expired an hour ago (well past the verifier's leeway), signed with the secret.
fn expired_token(customer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": customer, "iat": now - 7200, "exp": now - 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn the_handshake_refuses_a_foreign_origin_a_missing_customer_id_and_an_expired_token() {
    let app = spawn_app().await;
    let token = app.token("handshake");
    let url = format!("ws://{}/ws?customerId=handshake&token={token}", app.addr);

    assert_eq!(
        handshake(with_origin(&url, "https://evil.example")).await,
        403
    );
    assert_eq!(
        handshake(with_origin(&url, &format!("http://{}", app.addr))).await,
        101,
        "the page the gateway served may connect"
    );
    assert_eq!(
        handshake(format!("ws://{}/ws?token={token}", app.addr)).await,
        400
    );
    let expired = format!(
        "ws://{}/ws?customerId=handshake&token={}",
        app.addr,
        expired_token("handshake")
    );
    assert_eq!(handshake(expired).await, 401);
}

#[tokio::test]
async fn an_allowed_origin_may_connect_and_others_still_may_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), 0);
    settings.gateway.allowed_origins = vec!["https://app.example".into()];
    let app = spawn_with(settings).await;
    let url = format!(
        "ws://{}/ws?customerId=origins&token={}",
        app.addr,
        app.token("origins")
    );
    assert_eq!(
        handshake(with_origin(&url, "https://app.example")).await,
        101
    );
    assert_eq!(
        handshake(with_origin(&url, "https://other.example")).await,
        403
    );
}

#[tokio::test]
async fn welcome_names_the_last_stored_sequence_and_an_ack_shows_as_the_last_acked_event() {
    let app = spawn_app().await;
    let customer = app.customer("welcome-ack");
    let first_tab = customer.tab().await;
    assert_eq!(
        first_tab.welcome["lastSequence"], 0,
        "nothing stored yet: {}",
        first_tab.welcome
    );
    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let application = created.body["applicationId"].as_str().unwrap();
    customer.upload_passport(application).await;
    let stored = events_through(&customer, "documents-processed").await;

    // A tab opened now starts after both stored events.
    let mut tab = customer.tab().await;
    assert_eq!(tab.welcome["lastSequence"], 2, "{}", tab.welcome);
    let id = tab.welcome["connectionId"].as_str().unwrap().to_string();
    let info = app.connection_info(&id).await;
    assert_eq!(info["lastAckedEventId"], serde_json::Value::Null, "{info}");

    // The first event is acknowledged, not the latest: the server records what the client sent.
    let event_id = stored[0]["id"].as_str().unwrap();
    tab.send(&format!(r#"{{"action":"ack","eventId":"{event_id}"}}"#))
        .await;
    let acked = tab.next_frame().await.expect("an acked frame");
    assert_eq!(
        (&acked["type"], &acked["eventId"]),
        (&"acked".into(), &event_id.into())
    );
    let info = app.connection_info(&id).await;
    assert_eq!(info["lastAckedEventId"], event_id, "{info}");
}

#[tokio::test]
async fn a_server_shutting_down_closes_open_websockets_with_1001() {
    let app = spawn_app().await;
    let mut tab = app.customer("shutdown").tab().await;
    let (_, code) = tokio::join!(app.stop(), tab.close_code());
    assert_eq!(code, Some(1001));
}

/// Personal data a failing step must never copy into `workflow-errors` events or operator mail.
const PII: [&str; 6] = [
    "adaline",
    "quixotic",
    "4915112345678",
    "1970-05-06",
    "Q9876543",
    "adaline.second",
];

fn customer_payload(email: &str, date_of_birth: &str) -> String {
    serde_json::json!({
        "email": email,
        "firstName": "Adaline",
        "lastName": "Quixotic",
        "dateOfBirth": date_of_birth,
        "phoneNumber": "+4915112345678",
    })
    .to_string()
}

/// Every failing step publishes `workflow-errors` (docs/design-notes.md), and none of the
/// applicant's data goes with it: neither the values of an invalid field nor those of a
/// conflicting one.
#[tokio::test]
async fn workflow_errors_of_every_failing_step_carry_no_personal_data() {
    let app = spawn_app().await;
    let other = app.customer("pii-first-owner");
    let taken = other
        .post_json(
            "/v1/customers",
            &customer_payload("adaline@example.com", "1970-05-06"),
            None,
        )
        .await;
    assert_eq!(taken.status, 201, "{}", taken.body);

    let customer = app.customer("pii-applicant");
    // 1. user info: one invalid field among valid personal data, and a member the API does
    //    not know whose very name is personal data (it may be counted, never copied).
    let mut invalid: serde_json::Value = serde_json::from_str(&customer_payload(
        "adaline.second@example.com",
        "1970-13-45",
    ))
    .unwrap();
    invalid["adalineMaidenName"] = "x".into();
    customer
        .post_json("/v1/customers", &invalid.to_string(), None)
        .await
        .assert_problem(422);
    // 2. user info: an e-mail address another customer holds.
    customer
        .post_json(
            "/v1/customers",
            &customer_payload("adaline@example.com", "1970-05-06"),
            None,
        )
        .await
        .assert_problem(409);
    let created = customer
        .post_json(
            "/v1/customers",
            &customer_payload("adaline.second@example.com", "1970-05-06"),
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    // 3. documents: the holder's name and number beside an invalid expiry date.
    let form = reqwest::multipart::Form::new()
        .text("documentType", "passport")
        .text("documentNumber", "Q9876543")
        .text("fullName", "Adaline Quixotic")
        .text("expiryDate", "1970-05-06T")
        .part(
            "file",
            reqwest::multipart::Part::bytes(onboard::testing::requests::pdf_bytes())
                .file_name("adaline-quixotic-passport.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    customer
        .upload(&application, form, None)
        .await
        .assert_problem(422);
    // 4. KYC before any document, 5. completion before a recommendation: out of order.
    customer
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await
        .assert_problem(409);
    customer
        .post_json(
            &format!("/v1/applications/{application}/complete"),
            r#"{"policyId":"adaline-quixotic"}"#,
            None,
        )
        .await
        .assert_problem(409);

    let events = crate::invalid_input::wait_for_event_count(&customer, 6).await;
    let errors: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "workflow-errors")
        .collect();
    let steps: Vec<_> = errors.iter().map(|e| e["data"]["step"].clone()).collect();
    assert_eq!(
        steps,
        [
            "submit-user-info",
            "submit-user-info",
            "process-documents",
            "perform-kyc",
            "complete-workflow"
        ],
        "one workflow-errors event per failing step"
    );
    assert_eq!(
        errors[0]["data"]["fields"],
        serde_json::json!(["dateOfBirth"]),
        "the invalid field is named, the unknown member only counted: {}",
        errors[0]
    );
    assert!(
        errors[0]["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 unknown field(s)")),
        "{}",
        errors[0]
    );
    for event in &errors {
        let text = event.to_string().to_lowercase();
        for value in PII {
            assert!(
                !text.contains(&value.to_lowercase()),
                "a workflow-errors event carries the applicant's {value:?}: {event}"
            );
        }
    }
    // Customer e-mails greet the applicant by name; operator alerts must not name them.
    let operator_mails: Vec<_> = app
        .mails()
        .into_iter()
        .filter(|mail| {
            mail.header("To")
                .is_some_and(|to| to.contains("operators@"))
        })
        .collect();
    for mail in &operator_mails {
        let text = format!("{:?}\n{}", mail.headers, mail.body).to_lowercase();
        for value in PII {
            assert!(
                !text.contains(&value.to_lowercase()),
                "an operator alert carries the applicant's {value:?}: {text}"
            );
        }
    }
}

/// A connection row whose node no longer holds the socket: the node's `@connections` answers
/// 410 Gone to the consumer's push, and the consumer deletes the row at once (docs/websocket.md)
/// instead of pushing to it until the row expires.
#[tokio::test]
async fn a_push_answered_410_by_the_node_deletes_the_registry_row() {
    let app = spawn_app().await;
    let customer = app.customer("gone-connection");
    // The app's own store, opened a second time beside it.
    let store = settings(&app.data_dir, 0)
        .store
        .open()
        .await
        .expect("open the app's store");
    let now = chrono::Utc::now();
    let stale = onboard::ports::store::ConnectionRecord {
        connection_id: onboard::domain::ids::ConnectionId::new(),
        customer_id: onboard::domain::ids::CustomerId::parse(&customer.id).unwrap(),
        // Another node id, so the push goes over HTTP to the real management API, which does
        // not know this connection.
        node_id: "a-node-that-restarted".into(),
        node_url: format!("http://{}", app.addr),
        source_ip: "192.0.2.7".into(),
        connected_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::hours(1),
    };
    store.register_connection(&stale).await.expect("register");

    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let row = store
            .connection(stale.connection_id, chrono::Utc::now())
            .await
            .expect("read the registry");
        if row.is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the row of a connection its node answered 410 for is still registered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Per-customer ordering at the default gap wait (docs/websocket.md, "Ordering, gaps and
/// duplicates"): an event that arrives before its predecessor waits for it; a gap that does not
/// fill in time is skipped after the wait, and the missing event is still sent if it arrives
/// later, once; an event already delivered reaches the client again only through `resume`.
/// Events are posted through the node's management API, as a consumer on another process
/// would, with sequences above what the store holds.
#[tokio::test]
async fn events_are_delivered_in_sequence_order_gaps_are_skipped_after_the_wait_late_ones_follow_and_resume_recovers(
) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), 0);
    settings.gateway.gap_wait = onboard::roles::gateway::GatewayConfig::default().gap_wait;
    let gap_wait = settings.gateway.gap_wait;
    let app = spawn_with(settings).await;
    let customer = app.customer("ordering");
    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let first = events_through(&customer, "user-info-submitted").await[0].clone();
    let mut tab = customer.tab().await;
    assert_eq!(tab.welcome["lastSequence"], 1);
    let connection = tab.welcome["connectionId"].as_str().unwrap().to_string();

    let post = |sequence: u64| {
        let mut event = first.clone();
        event["id"] = serde_json::json!(uuid::Uuid::now_v7().to_string());
        event["sequence"] = serde_json::json!(sequence);
        let request = app
            .http
            .post(app.url(&format!("/@connections/{connection}")))
            .bearer_auth(&app.management_token)
            .json(&serde_json::json!({"type": "event", "event": event}));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "the node takes the event");
        }
    };
    let sequence = |event: &serde_json::Value| event["sequence"].as_u64();

    // 3 before 2: nothing until 2 arrives, then 2 and 3 in order.
    post(3).await;
    tab.assert_no_event(gap_wait / 2).await;
    post(2).await;
    let delivered = tab.events(2).await;
    assert_eq!(
        delivered.iter().map(sequence).collect::<Vec<_>>(),
        [Some(2), Some(3)]
    );

    // 5 while 4 never comes: held for the gap wait, then delivered anyway.
    let posted_at = std::time::Instant::now();
    post(5).await;
    let after_gap = tab.events(1).await;
    assert_eq!(
        after_gap.iter().map(sequence).collect::<Vec<_>>(),
        [Some(5)]
    );
    assert!(
        posted_at.elapsed() >= gap_wait.mul_f32(0.9),
        "event 5 was sent after {:?}, before the gap wait of {gap_wait:?}",
        posted_at.elapsed()
    );

    // 4 arrives after all: sent late, once.
    post(4).await;
    let late = tab.events(1).await;
    assert_eq!(late.iter().map(sequence).collect::<Vec<_>>(), [Some(4)]);
    post(4).await;
    tab.assert_no_event(std::time::Duration::from_millis(500))
        .await;

    // The customer's next real event is stored as sequence 2: live it is older than the
    // cursor and dropped; `resume` after the first event replays it from the store.
    customer
        .upload_passport(created.body["applicationId"].as_str().unwrap())
        .await;
    let stored = events_through(&customer, "documents-processed").await;
    assert_eq!(stored[1]["sequence"], 2);
    tab.assert_no_event(std::time::Duration::from_millis(500))
        .await;
    tab.send(&serde_json::json!({"action": "resume", "after": first["id"]}).to_string())
        .await;
    let replayed = tab.next_frame().await.expect("the replayed event");
    assert_eq!(replayed["type"], "event");
    assert_eq!(replayed["event"]["id"], stored[1]["id"]);
    let resumed = tab.next_frame().await.expect("resumed");
    assert_eq!(resumed["type"], "resumed");
    assert_eq!(resumed["replayed"], 1);
}
