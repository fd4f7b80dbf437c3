//! The seed's workflow end to end: producers, bus, consumers, store, mail and live pushes.

use crate::support::*;
use serde_json::Value;
use std::time::Duration;

/// The events of an application that passed its first two steps and then had its KYC step
/// answered, followed by one workflow error.
const THROUGH_KYC_AND_A_WORKFLOW_ERROR: [&str; 4] = [
    "user-info-submitted",
    "documents-processed",
    "kyc-verified",
    "workflow-errors",
];

#[tokio::test]
async fn the_seeds_payload_is_accepted_and_its_event_arrives_over_the_websocket() {
    let app = spawn_app().await;
    let customer = app.customer("test-customer-123");
    let mut tab = customer.tab().await;

    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["customerId"], "test-customer-123");
    assert_eq!(created.body["status"], "USER_INFO_SUBMITTED");
    let application = created.body["applicationId"].as_str().unwrap();

    let event = &tab.events(1).await[0];
    assert_eq!(event["type"], "user-info-submitted");
    assert_eq!(event["customerId"], "test-customer-123");
    assert_eq!(event["applicationId"], application);
    assert_eq!(event["sequence"], 1);
    // Events carry no PII (DESIGN.md §3).
    let text = event.to_string();
    for pii in [
        "John",
        "Doe",
        "1990-01-01",
        "+1234567890",
        "test@example.com",
    ] {
        assert!(!text.contains(pii), "event leaks {pii}: {text}");
    }
}

#[tokio::test]
async fn the_full_workflow_reaches_both_tabs_in_order_and_no_other_customer() {
    let app = spawn_app().await;
    let customer = app.customer("customer-a");
    let other = app.customer("customer-b");
    let mut tab1 = customer.tab().await;
    let mut tab2 = customer.tab().await;
    let mut foreign = other.tab().await;

    let application = customer.complete_workflow().await;

    for tab in [&mut tab1, &mut tab2] {
        let events = tab.events(5).await;
        assert_eq!(types(&events), WORKFLOW_TOPICS);
        let sequences: Vec<u64> = events
            .iter()
            .map(|e| e["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(sequences, vec![1, 2, 3, 4, 5]);
        assert!(events
            .iter()
            .all(|e| e["applicationId"] == application.as_str()));
        tab.assert_no_event(Duration::from_millis(300)).await;
    }
    foreign.assert_no_event(Duration::from_millis(500)).await;

    let view = customer
        .get(&format!("/v1/applications/{application}"))
        .await;
    assert_eq!(view.status, 200);
    assert_eq!(view.body["status"], "COMPLETED");
    assert_eq!(
        types(view.body["timeline"].as_array().unwrap()),
        WORKFLOW_TOPICS
    );
    assert_eq!(view.body["kyc"]["decision"], "APPROVED");
    assert!(view.body["policyId"].is_string());

    let feed = customer.get("/v1/customers/customer-a/events").await;
    let feed_events = feed.body["events"].as_array().unwrap().clone();
    assert_eq!(types(&feed_events), WORKFLOW_TOPICS);
    let second = feed_events[1]["id"].as_str().unwrap();
    let after = customer
        .get(&format!("/v1/customers/customer-a/events?after={second}"))
        .await;
    assert_eq!(
        types(after.body["events"].as_array().unwrap()),
        &WORKFLOW_TOPICS[2..]
    );
}

#[tokio::test]
async fn every_milestone_sends_one_email_to_the_customer() {
    let app = spawn_app().await;
    let customer = app.customer("mail-customer");
    let mut tab = customer.tab().await;
    customer.complete_workflow().await;
    tab.events(5).await;
    let mails = wait_for_mails(&app, 5).await;
    assert_eq!(mails.len(), 5);
    for mail in &mails {
        assert_eq!(mail.header("To").unwrap_or_default(), "test@example.com");
        assert!(mail.header("Message-ID").is_some());
        assert!(!mail.body.is_empty());
    }
}

pub async fn wait_for_mails(
    app: &TestApp,
    at_least: usize,
) -> Vec<onboard::adapters::maildir::StoredMail> {
    let enough = eventually(|| async { (app.mails().len() >= at_least).then_some(()) }).await;
    if enough.is_some() {
        // Give a straggler the chance to show up, so "exactly" assertions mean something.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.mails()
}

#[tokio::test]
async fn a_kyc_rejection_publishes_the_decision_and_a_workflow_error_with_an_operator_alert() {
    let app = spawn_app().await;
    let customer = app.customer("mismatch");
    let mut tab = customer.tab().await;
    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    let uploaded = customer
        .upload(&application, passport_form("Somebody Else"), None)
        .await;
    assert_eq!(uploaded.status, 201);
    let kyc = customer
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await;
    assert_eq!(kyc.status, 200, "{}", kyc.body);
    assert_eq!(kyc.body["decision"], "REJECTED");
    assert_eq!(kyc.body["status"], "KYC_REJECTED");

    let events = tab.events(4).await;
    assert_eq!(types(&events), THROUGH_KYC_AND_A_WORKFLOW_ERROR);
    assert_eq!(events[3]["data"]["step"], "perform-kyc");
    let alerts: Vec<_> = wait_for_mails(&app, 4)
        .await
        .into_iter()
        .filter(|m| m.header("To").unwrap_or_default().contains("operators"))
        .collect();
    assert_eq!(alerts.len(), 1);
    assert!(!alerts[0].body.contains("Somebody"), "alerts carry no PII");

    let next = customer
        .post_json(
            &format!("/v1/applications/{application}/policy-recommendation"),
            r#"{"coverageType":"life"}"#,
            None,
        )
        .await;
    next.assert_problem(409);
}

#[tokio::test]
async fn a_retried_post_with_the_same_idempotency_key_returns_the_first_answer_and_publishes_nothing_new(
) {
    let app = spawn_app().await;
    let customer = app.customer("idempotent");
    let mut tab = customer.tab().await;
    let first = customer
        .post_json("/v1/customers", SEED_PAYLOAD, Some("key-1"))
        .await;
    let again = customer
        .post_json("/v1/customers", SEED_PAYLOAD, Some("key-1"))
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(again.status, 201);
    assert_eq!(first.body, again.body);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    tab.events(1).await;
    tab.assert_no_event(Duration::from_millis(500)).await;

    let reused = customer
        .post_json(
            "/v1/customers",
            r#"{"email":"x@example.com"}"#,
            Some("key-1"),
        )
        .await;
    reused.assert_problem(422);
    // Nothing was published for the reused key: the next step's event is the second one.
    let application = first.body["applicationId"].as_str().unwrap();
    let uploaded = customer.upload_passport(application).await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let events = crate::invalid_input::events_through(&customer, "documents-processed").await;
    assert_eq!(
        types(&events),
        ["user-info-submitted", "documents-processed"]
    );
}

#[tokio::test]
async fn a_retried_upload_with_its_idempotency_key_gets_the_first_answer_after_the_next_step() {
    let app = spawn_app().await;
    let customer = app.customer("idempotent-upload");
    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let application = created.body["applicationId"].as_str().unwrap();
    let first = customer
        .upload(application, passport_form("John Doe"), Some("upload-1"))
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let kyc = customer
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await;
    assert_eq!(kyc.status, 200, "{}", kyc.body);

    // The application no longer takes documents, but the retry is the same request: it is
    // answered from the first answer, not refused as out of order.
    let again = customer
        .upload(application, passport_form("John Doe"), Some("upload-1"))
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    let fresh = customer
        .upload(application, passport_form("John Doe"), Some("upload-2"))
        .await;
    fresh.assert_problem(409);

    // The replay published nothing; the fresh key's refusal is one workflow error.
    let events = crate::invalid_input::events_through(&customer, "workflow-errors").await;
    assert_eq!(types(&events), THROUGH_KYC_AND_A_WORKFLOW_ERROR);
    assert_eq!(events[3]["data"]["step"], "process-documents");
    assert_eq!(events[3]["data"]["code"], "step-out-of-order");
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let app = spawn_app().await;
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/customers",
        "/v1/applications/{applicationId}/documents",
        "/v1/applications/{applicationId}/kyc",
        "/v1/applications/{applicationId}/policy-recommendation",
        "/v1/applications/{applicationId}/complete",
        "/v1/applications/{applicationId}",
        "/v1/customers/{customerId}/events",
        "/ws",
        "/@connections/{connectionId}",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(path), "openapi.json lacks {path}");
    }
}
