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
