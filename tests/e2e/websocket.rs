//! The WebSocket gateway: actions, limits, resume and the management API.

use crate::support::*;
use std::time::Duration;

#[tokio::test]
async fn ping_gets_pong_and_an_unknown_action_gets_an_error_frame_without_closing() {
    let app = spawn_app().await;
    let customer = app.customer("ws-actions");
    let mut tab = customer.tab().await;
    tab.send(r#"{"action":"ping","id":7}"#).await;
    let pong = tab.next_frame().await.unwrap();
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["id"], 7);

    tab.send(r#"{"action":"sendmessage","data":"hi"}"#).await;
    let error = tab.next_frame().await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "unknown_action");
    tab.send("not json").await;
    assert_eq!(tab.next_frame().await.unwrap()["code"], "invalid_message");

    // Still open and working.
    tab.send(r#"{"action":"ping"}"#).await;
    assert_eq!(tab.next_frame().await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn a_message_of_16_kib_is_accepted_and_one_byte_more_closes_the_connection_with_1009() {
    /// docs/websocket.md: "a client message over 16 KiB" closes with 1009.
    const LIMIT: usize = 16 * 1024;
    let ping_of = |len: usize| {
        let frame =
            |pad: usize| format!(r#"{{"action":"ping","id":1,"pad":"{}"}}"#, "x".repeat(pad));
        let pad = len - frame(0).len();
        let text = frame(pad);
        assert_eq!(text.len(), len);
        text
    };
    let app = spawn_app().await;
    let customer = app.customer("ws-big");
    let mut tab = customer.tab().await;
    tab.send(&ping_of(LIMIT)).await;
    assert_eq!(tab.next_frame().await.expect("a pong")["type"], "pong");
    tab.send(&ping_of(LIMIT + 1)).await;
    assert_eq!(tab.close_code().await, Some(1009));
}

#[tokio::test]
async fn the_token_may_come_in_the_authorization_header() {
    let app = spawn_app().await;
    let customer = app.customer("ws-header");
    let tab = Tab::open_with_header(&app, "ws-header", &customer.token)
        .await
        .unwrap();
    assert_eq!(tab.welcome["customerId"], "ws-header");
}

#[tokio::test]
async fn resume_replays_what_was_missed_then_continues_live_without_duplicates() {
    let app = spawn_app().await;
    let customer = app.customer("ws-resume");
    let mut tab = customer.tab().await;
    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    let first = tab.events(1).await.remove(0);
    drop(tab);

    // Missed while disconnected.
    customer.upload_passport(&application).await;
    let kyc = customer
        .post_json(&format!("/v1/applications/{application}/kyc"), "", None)
        .await;
    assert_eq!(kyc.status, 200);
    crate::invalid_input::wait_for_event_count(&customer, 3).await;

    let mut tab = customer.tab().await;
    tab.send(&format!(
        r#"{{"action":"resume","after":"{}"}}"#,
        first["id"].as_str().unwrap()
    ))
    .await;
    let replayed = tab.events(2).await;
    assert_eq!(types(&replayed), ["documents-processed", "kyc-verified"]);
    let resumed = tab.next_frame().await.unwrap();
    assert_eq!(resumed["type"], "resumed");
    assert_eq!(resumed["replayed"], 2);
    assert_eq!(resumed["after"], first["id"], "{resumed}");
    assert_eq!(resumed["lastSequence"], 3, "{resumed}");

    let policy = customer.recommend(&application).await;
    customer.accept(&application, &policy).await;
    let live = tab.events(2).await;
    assert_eq!(types(&live), ["policy-recommended", "workflow-completed"]);
    tab.assert_no_event(Duration::from_millis(500)).await;

    // Resuming from the start replays everything, once.
    tab.send(r#"{"action":"resume"}"#).await;
    assert_eq!(types(&tab.events(5).await), WORKFLOW_TOPICS);
    let resumed = tab.next_frame().await.unwrap();
    assert_eq!(resumed["replayed"], 5);
    assert_eq!(resumed["after"], serde_json::Value::Null, "{resumed}");
    assert_eq!(resumed["lastSequence"], 5, "{resumed}");
    tab.send(r#"{"action":"resume","after":"0190a0a0-0000-7000-8000-000000000000"}"#)
        .await;
    let error = tab.next_frame().await.unwrap();
    assert_eq!(error["code"], "unknown_event", "{error}");
}

#[tokio::test]
async fn the_management_api_posts_reads_and_closes_connections_and_answers_410_for_unknown_ids() {
    let app = spawn_app().await;
    let customer = app.customer("ws-mgmt");
    let mut tab = customer.tab().await;
    let id = tab.welcome["connectionId"].as_str().unwrap().to_string();
    let url = app.url(&format!("/@connections/{id}"));

    let unauthenticated = app.http.post(&url).body("hello").send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let posted = app
        .http
        .post(&url)
        .bearer_auth(&app.management_token)
        .body(r#"{"type":"notice","text":"hello"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(tab.next_frame().await.unwrap()["text"], "hello");

    let info = app.connection_info(&id).await;
    assert_eq!(info["customerId"], "ws-mgmt");
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert!(info["connectedAt"].is_string() && info["lastActiveAt"].is_string());

    let deleted = app
        .http
        .delete(&url)
        .bearer_auth(&app.management_token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(tab.close_code().await, Some(1000));

    for _ in 0..50 {
        let gone = app
            .http
            .post(&url)
            .bearer_auth(&app.management_token)
            .body("x")
            .send()
            .await
            .unwrap();
        if gone.status() == 410 {
            assert_eq!(
                app.http
                    .get(&url)
                    .bearer_auth(&app.management_token)
                    .send()
                    .await
                    .unwrap()
                    .status(),
                410
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a closed connection never answered 410");
}

#[tokio::test]
async fn a_slow_client_is_disconnected_without_stalling_other_tabs() {
    let mut settings = settings(tempfile::tempdir().unwrap().keep().as_path(), 0);
    settings.gateway.send_queue = 2;
    let app = spawn_with(settings).await;
    let customer = app.customer("ws-slow");
    let mut slow = customer.tab().await; // does not read until it is disconnected
    let mut fast = customer.tab().await;
    let id = slow.welcome["connectionId"].as_str().unwrap().to_string();
    let url = app.url(&format!("/@connections/{id}"));
    let blob = "y".repeat(256 * 1024);
    let mut gone = false;
    for _ in 0..400 {
        let status = app
            .http
            .post(&url)
            .bearer_auth(&app.management_token)
            .body(blob.clone())
            .send()
            .await
            .unwrap()
            .status();
        if status == 410 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the slow client was never disconnected");
    customer.submit_seed_payload().await;
    assert_eq!(types(&fast.events(1).await), ["user-info-submitted"]);
    // Reading now drains what was queued before the close: docs/websocket.md says 1008.
    assert_eq!(slow.close_code().await, Some(1008));
}
