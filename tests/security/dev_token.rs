//! `POST /dev/token` hands a token for any customer to whoever calls it: only a development
//! process serves it.

use crate::binary::Onboard;
use crate::support::answer;

async fn ask_for_a_token(onboard: &Onboard) -> crate::support::Answer {
    onboard.ready().await;
    let response = reqwest::Client::new()
        .post(onboard.url("/dev/token"))
        .header("content-type", "application/json")
        .body(r#"{"customerId":"victim-customer-1"}"#)
        .send()
        .await
        .unwrap();
    answer(response).await
}

#[tokio::test]
async fn onboard_up_on_a_non_loopback_address_does_not_hand_out_tokens() {
    let onboard = Onboard::up(&["--listen", "0.0.0.0:0"], &[]);
    assert!(
        onboard.banner.contains("Dev sign-in  off"),
        "the banner says the endpoint is off:\n{}",
        onboard.banner
    );
    let refused = ask_for_a_token(&onboard).await;
    refused.assert_problem(404);
    assert!(refused.body.get("token").is_none());
}

#[tokio::test]
async fn onboard_up_started_with_dev_serves_tokens_on_any_address() {
    let onboard = Onboard::up(&["--listen", "0.0.0.0:0", "--dev"], &[]);
    assert!(
        onboard.banner.contains("/dev/token  (development"),
        "{}",
        onboard.banner
    );
    let served = ask_for_a_token(&onboard).await;
    assert_eq!(served.status, 200, "{}", served.body);
    assert!(served.body["token"].as_str().is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn onboard_up_on_loopback_serves_tokens_and_says_so() {
    let onboard = Onboard::up(&["--listen", "127.0.0.1:0"], &[]);
    assert!(onboard.banner.contains("/dev/token  (development"));
    let served = ask_for_a_token(&onboard).await;
    assert_eq!(served.status, 200, "{}", served.body);
}
