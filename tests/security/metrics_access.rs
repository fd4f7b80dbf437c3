//! Finding: "/metrics needs no token". Now it needs the management token unless
//! `metrics.public` says otherwise.

use crate::binary::Onboard;
use crate::child::{management_token, token, LOOPBACK};

#[tokio::test]
async fn metrics_need_the_management_token_unless_configured_public() {
    let onboard = Onboard::up(LOOPBACK, &[]);
    onboard.ready().await;
    let http = reqwest::Client::new();
    let url = onboard.url("/metrics");

    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    // A customer's token is not an operator's.
    let customer = http
        .get(&url)
        .bearer_auth(token("curious"))
        .send()
        .await
        .unwrap();
    assert_eq!(customer.status(), 401);
    let operator = http
        .get(&url)
        .bearer_auth(management_token())
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), 200);
    assert!(operator
        .text()
        .await
        .unwrap()
        .contains("onboard_websocket_connections"));

    let public = Onboard::up(LOOPBACK, &[("ONBOARD_METRICS_PUBLIC", "true")]);
    public.ready().await;
    let open = http.get(public.url("/metrics")).send().await.unwrap();
    assert_eq!(open.status(), 200);
}

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_without_a_token_and_not_publicly() {
    let onboard = Onboard::up(LOOPBACK, &[("ONBOARD_METRICS_LISTEN", "127.0.0.1:0")]);
    onboard.ready().await;
    let metrics_url = onboard
        .banner
        .split_whitespace()
        .find(|word| word.starts_with("http://") && word.ends_with("/metrics"))
        .expect("the banner names the metrics address")
        .to_owned();
    assert_ne!(metrics_url, onboard.url("/metrics"), "{}", onboard.banner);
    let http = reqwest::Client::new();

    let scraped = http.get(&metrics_url).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped
        .text()
        .await
        .unwrap()
        .contains("onboard_websocket_connections"));

    // The public listener no longer serves it, not even to an operator.
    let public = http
        .get(onboard.url("/metrics"))
        .bearer_auth(management_token())
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    assert_eq!(public.headers()["content-type"], "application/problem+json");
    // And the metrics listener serves nothing else.
    let elsewhere = http
        .get(metrics_url.replace("/metrics", "/v1/ops/overview"))
        .bearer_auth(management_token())
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
}
