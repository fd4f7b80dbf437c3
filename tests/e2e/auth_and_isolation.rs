//! Tokens: a missing or bad token is refused, and one customer's token never reaches another's data.

use crate::support::*;

#[tokio::test]
async fn requests_without_a_valid_token_are_unauthorized() {
    let app = spawn_app().await;
    let none = answer(
        app.http
            .post(app.url("/v1/customers"))
            .header("content-type", "application/json")
            .body(SEED_PAYLOAD)
            .send()
            .await
            .unwrap(),
    )
    .await;
    none.assert_problem(401);
    assert_eq!(none.headers.get("www-authenticate").unwrap(), "Bearer");
    let forged = onboard::auth::Authenticator::new(
        &onboard::auth::JwtSecret::new(b"some-other-secret-that-is-long-enough!!".to_vec())
            .unwrap(),
    )
    .issue(&onboard::domain::ids::CustomerId::parse("x").unwrap(), 60);
    for token in ["garbage", forged.as_str()] {
        let bad = answer(
            app.http
                .get(app.url("/v1/customers/x/events"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        bad.assert_problem(401);
    }
    let ws = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws?customerId=x&token=garbage",
        app.addr
    ))
    .await;
    match ws {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_for_one_customer_can_neither_read_nor_change_anothers_data() {
    let app = spawn_app().await;
    let alice = app.customer("alice");
    let mallory = app.customer("mallory");
    let created = alice.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();

    mallory
        .get(&format!("/v1/applications/{application}"))
        .await
        .assert_problem(404);
    mallory
        .get("/v1/customers/alice/events")
        .await
        .assert_problem(403);
    mallory
        .upload_passport(&application)
        .await
        .assert_problem(404);
    mallory
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await
        .assert_problem(404);

    let ws = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws?customerId=alice&token={}",
        app.addr, mallory.token
    ))
    .await;
    match ws {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let view = alice.get(&format!("/v1/applications/{application}")).await;
    assert_eq!(view.body["status"], "USER_INFO_SUBMITTED");
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    for role in ["http", "relay", "consumers", "notifier", "gateway"] {
        assert_eq!(ready["roles"][role], true, "{ready}");
    }
}
