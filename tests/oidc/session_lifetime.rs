//! A WebSocket session lives as long as its token: closed with 4401 when the token expires,
//! extended by an `auth` action carrying a newer token of the same customer. The provider does
//! not matter here (tokens of any issuer end the same way), so these use development tokens,
//! the only ones that can be made to expire within seconds.

use crate::support::{spawn_app, Tab, TestApp, SECRET};
use onboard::auth::{Authenticator, JwtSecret};
use onboard::domain::ids::CustomerId;
use std::time::{Duration, Instant};

const TOKEN_EXPIRED: u16 = 4401;

fn token(customer: &str, ttl_secs: u64) -> String {
    let secret = JwtSecret::new(SECRET.as_bytes().to_vec()).unwrap();
    Authenticator::new(&secret).issue(&CustomerId::parse(customer).unwrap(), ttl_secs)
}

async fn open(app: &TestApp, customer: &str, ttl_secs: u64) -> Tab {
    Tab::open(app, customer, &token(customer, ttl_secs)).await
}

#[tokio::test]
async fn a_session_whose_token_expires_is_closed_with_4401() {
    let app = spawn_app().await;
    let started = Instant::now();
    let mut tab = open(&app, "short-lived-1", 2).await;
    let expires_at = tab.welcome["tokenExpiresAt"].as_u64().unwrap();
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(expires_at <= now + 2, "{}", tab.welcome);
    assert_eq!(tab.close_code().await, Some(TOKEN_EXPIRED));
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn an_auth_action_renews_the_session_and_a_token_of_anyone_else_is_refused() {
    let app = spawn_app().await;
    let mut tab = open(&app, "renewing-1", 3).await;

    tab.send(&auth_action(&token("someone-else", 3600))).await;
    let refused = tab.next_frame().await.unwrap();
    assert_eq!(refused["type"], "error");
    assert_eq!(refused["code"], "wrong_customer", "{refused}");

    tab.send(&auth_action("not-a-token")).await;
    let refused = tab.next_frame().await.unwrap();
    assert_eq!(refused["code"], "auth_failed", "{refused}");
    assert!(
        !refused.to_string().contains("not-a-token"),
        "the token is echoed"
    );

    tab.send(&auth_action(&token("renewing-1", 3600))).await;
    let renewed = tab.next_frame().await.unwrap();
    assert_eq!(renewed["type"], "authenticated", "{renewed}");
    let now = chrono::Utc::now().timestamp() as u64;
    assert!(renewed["tokenExpiresAt"].as_u64().unwrap() >= now + 3500);

    // Past the first token's expiry the session is still open and answering.
    tab.assert_no_event(Duration::from_secs(5)).await;
    tab.send(r#"{"action":"ping","id":7}"#).await;
    assert_eq!(tab.next_frame().await.unwrap()["type"], "pong");
}

#[tokio::test]
async fn a_refused_renewal_leaves_the_old_expiry_in_force() {
    let app = spawn_app().await;
    let mut tab = open(&app, "not-renewed-1", 2).await;
    tab.send(&auth_action(&token("someone-else", 3600))).await;
    assert_eq!(tab.next_frame().await.unwrap()["code"], "wrong_customer");
    assert_eq!(tab.close_code().await, Some(TOKEN_EXPIRED));
}

fn auth_action(token: &str) -> String {
    serde_json::json!({"action": "auth", "token": token}).to_string()
}
