//! Invalid input on every endpoint: problem+json naming each invalid field, and nothing accepted lost.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn invalid_user_info_names_every_invalid_field() {
    let app = spawn_app().await;
    let customer = app.customer("bad-input");
    let answer = customer
        .post_json(
            "/v1/customers",
            r#"{"email":"not-an-email","firstName":"","lastName":"Doe","dateOfBirth":"2020-02-30","phoneNumber":"12345","extra":1}"#,
            None,
        )
        .await;
    answer.assert_problem(422);
    let mut fields = answer.field_names();
    fields.sort();
    assert_eq!(
        fields,
        ["dateOfBirth", "email", "extra", "firstName", "phoneNumber"]
    );
    // The submitted values are never echoed back (they may be PII).
    assert!(!answer.body.to_string().contains("not-an-email"));

    let malformed = customer.post_json("/v1/customers", "{not json", None).await;
    malformed.assert_problem(400);
    let missing = customer.post_json("/v1/customers", "{}", None).await;
    missing.assert_problem(422);
    assert_eq!(missing.field_names().len(), 5);
    let minor = customer
        .post_json(
            "/v1/customers",
            &SEED_PAYLOAD.replace(
                "1990-01-01",
                &format!("{}-01-01", chrono::Utc::now().format("%Y")),
            ),
            None,
        )
        .await;
    minor.assert_problem(422);
    assert_eq!(minor.field_names(), ["dateOfBirth"]);
}

#[tokio::test]
async fn invalid_documents_are_refused_field_by_field() {
    let app = spawn_app().await;
    let customer = app.customer("bad-docs");
    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();

    let form = reqwest::multipart::Form::new()
        .text("documentType", "library_card")
        .text("expiryDate", "tomorrow")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"just text".to_vec()).file_name("a.txt"),
        );
    let answer = customer.upload(&application, form, None).await;
    answer.assert_problem(422);
    let mut fields = answer.field_names();
    fields.sort();
    assert_eq!(
        fields,
        [
            "documentNumber",
            "documentType",
            "expiryDate",
            "file",
            "fullName"
        ]
    );

    let big = vec![b'%'; 10 * 1024 * 1024 + 1];
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend_from_slice(&big);
    let form = passport_form("John Doe").part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("big.pdf"),
    );
    // A file just over its 10 MiB limit is refused 413 naming the file as soon as it passes
    // the limit while streaming.
    let too_big = customer.upload(&application, form, None).await;
    too_big.assert_problem(413);
    assert_eq!(too_big.field_names(), ["file"]);

    let not_multipart = customer
        .post_json(
            &format!("/v1/applications/{application}/documents"),
            "{}",
            None,
        )
        .await;
    not_multipart.assert_problem(400);

    // Nothing was accepted: the application still waits for documents.
    let view = customer
        .get(&format!("/v1/applications/{application}"))
        .await;
    assert_eq!(view.body["status"], "USER_INFO_SUBMITTED");
    assert_eq!(view.body["documents"].as_array().unwrap().len(), 0);
    // The accepted first step is intact, and each of the three failures was published on
    // workflow-errors, once: a valid upload now gets sequence 5.
    let uploaded = customer.upload_passport(&application).await;
    assert_eq!(uploaded.status, 201, "{}", uploaded.body);
    let events = events_through(&customer, "documents-processed").await;
    assert_eq!(events.len(), 5, "{:?}", types(&events));
    assert_eq!(events[0]["type"], "user-info-submitted");
    assert!(
        events[1..4]
            .iter()
            .all(|e| e["type"] == "workflow-errors" && e["data"]["step"] == "process-documents"),
        "{:?}",
        types(&events)
    );
    assert_eq!(events[4]["sequence"], 5);
}

/// The customer's stored events as `GET /v1/customers/{id}/events` lists them.
async fn stored_events(customer: &CustomerClient<'_>) -> Vec<serde_json::Value> {
    let feed = customer
        .get(&format!("/v1/customers/{}/events", customer.id))
        .await;
    feed.body["events"].as_array().cloned().unwrap_or_default()
}

/// The customer's feed once it holds an event of type `last` and every event before it (a
/// sequence is gap-free, so the feed is complete up to `last` when its length is its sequence).
/// A marker step like this one proves how many events were published before it.
pub async fn events_through(customer: &CustomerClient<'_>, last: &str) -> Vec<serde_json::Value> {
    eventually(|| async move {
        let events = stored_events(customer).await;
        let at = events.iter().position(|e| e["type"] == last)?;
        (events[at]["sequence"].as_u64() == Some(at as u64 + 1)).then_some(events)
    })
    .await
    .unwrap_or_else(|| panic!("the feed never held a complete run of events through {last}"))
}

pub async fn wait_for_event_count(
    customer: &CustomerClient<'_>,
    n: usize,
) -> Vec<serde_json::Value> {
    eventually(|| async move {
        let events = stored_events(customer).await;
        (events.len() >= n).then_some(events)
    })
    .await
    .unwrap_or_else(|| panic!("fewer than {n} events were stored"))
}

#[tokio::test]
async fn invalid_kyc_policy_and_completion_requests_are_refused() {
    let app = spawn_app().await;
    let customer = app.customer("bad-steps");
    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    customer.upload_passport(&application).await;

    let kyc_with_body = customer
        .post_json(
            &format!("/v1/applications/{application}/kyc"),
            r#"{"force":true}"#,
            None,
        )
        .await;
    kyc_with_body.assert_problem(422);
    assert_eq!(kyc_with_body.field_names(), ["force"]);
    let kyc = customer
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await;
    assert_eq!(kyc.status, 200);

    let bad_policy = customer
        .post_json(
            &format!("/v1/applications/{application}/policy-recommendation"),
            r#"{"coverageType":"pets","monthlyBudget":-5}"#,
            None,
        )
        .await;
    bad_policy.assert_problem(422);
    let mut fields = bad_policy.field_names();
    fields.sort();
    assert_eq!(fields, ["coverageType", "monthlyBudget"]);
    let too_cheap = customer
        .post_json(
            &format!("/v1/applications/{application}/policy-recommendation"),
            r#"{"coverageType":"life","monthlyBudget":0.5}"#,
            None,
        )
        .await;
    too_cheap.assert_problem(422);
    assert_eq!(too_cheap.field_names(), ["monthlyBudget"]);

    let policy = customer.recommend(&application).await;
    let wrong = customer
        .post_json(
            &format!("/v1/applications/{application}/complete"),
            r#"{"policyId":"NOPE"}"#,
            None,
        )
        .await;
    wrong.assert_problem(422);
    assert_eq!(wrong.field_names(), ["policyId"]);
    let missing = customer
        .post_json(
            &format!("/v1/applications/{application}/complete"),
            "{}",
            None,
        )
        .await;
    missing.assert_problem(422);
    customer.accept(&application, &policy).await;
}

#[tokio::test]
async fn a_step_out_of_order_is_a_conflict_and_is_published_on_workflow_errors() {
    let app = spawn_app().await;
    let customer = app.customer("out-of-order");
    let mut tab = customer.tab().await;
    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();

    let early = customer
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await;
    early.assert_problem(409);
    let early = customer
        .post_json(
            &format!("/v1/applications/{application}/complete"),
            &json!({"policyId": "x"}).to_string(),
            None,
        )
        .await;
    early.assert_problem(409);
    let twice = customer.submit_seed_payload().await;
    twice.assert_problem(409);

    let events = tab.events(4).await;
    assert_eq!(
        types(&events),
        [
            "user-info-submitted",
            "workflow-errors",
            "workflow-errors",
            "workflow-errors"
        ]
    );
    assert_eq!(events[1]["data"]["step"], "perform-kyc");
    assert_eq!(events[1]["data"]["code"], "step-out-of-order");
    // The refused steps changed nothing.
    let view = customer
        .get(&format!("/v1/applications/{application}"))
        .await;
    assert_eq!(view.body["status"], "USER_INFO_SUBMITTED");
}

#[tokio::test]
async fn unknown_or_malformed_application_ids_are_not_found() {
    let app = spawn_app().await;
    let customer = app.customer("lost");
    customer
        .get("/v1/applications/not-a-uuid")
        .await
        .assert_problem(404);
    customer
        .get(&format!("/v1/applications/{}", uuid::Uuid::now_v7()))
        .await
        .assert_problem(404);
    customer
        .post_json(
            &format!("/v1/applications/{}/kyc", uuid::Uuid::now_v7()),
            "",
            None,
        )
        .await
        .assert_problem(404);
    let bad_after = customer
        .get("/v1/customers/lost/events?after=nope&limit=0")
        .await;
    bad_after.assert_problem(422);
    let mut fields = bad_after.field_names();
    fields.sort();
    assert_eq!(fields, ["after", "limit"]);
    let bad_key = answer(
        app.http
            .post(app.url("/v1/customers"))
            .bearer_auth(&customer.token)
            .header("Idempotency-Key", "")
            .header("content-type", "application/json")
            .body(SEED_PAYLOAD)
            .send()
            .await
            .unwrap(),
    )
    .await;
    bad_key.assert_problem(400);
    assert_eq!(bad_key.field_names(), ["Idempotency-Key"]);
}
