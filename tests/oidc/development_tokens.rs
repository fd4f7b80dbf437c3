//! Development tokens beside an issuer: once customers sign in with an identity provider, a
//! token signed with the JWT secret is refused outside development (anyone holding the secret
//! could otherwise act as any customer without the provider), and accepted in development
//! (`onboard up` on loopback or `--dev`). The management token is not a customer token and is
//! unaffected.

use crate::issuer_fixture::Issuer;
use crate::support::{answer, settings, spawn_with, TestApp};

async fn app_with_issuer(development: bool) -> (tempfile::TempDir, TestApp, Issuer) {
    let provider = Issuer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = settings(tmp.path(), 0);
    settings.oidc = Some(provider.settings());
    settings.dev_token_endpoint = development;
    (tmp, spawn_with(settings).await, provider)
}

#[tokio::test]
async fn outside_development_a_customer_token_signed_with_the_secret_is_refused_beside_an_issuer() {
    let (_tmp, app, _provider) = app_with_issuer(false).await;
    let token = app.token("secret-holder");
    let refused = answer(
        app.http
            .get(app.url("/v1/customers/secret-holder/events"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused.assert_problem(401);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("development tokens"),
        "{}",
        refused.body
    );
    // The WebSocket handshake follows the same rule.
    let url = format!(
        "ws://{}/ws?customerId=secret-holder&token={token}",
        app.addr
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("the handshake was not refused 401: {:?}", other.map(|_| ())),
    }
    // Operators' management token still works.
    let overview = app
        .http
        .get(app.url("/v1/ops/overview"))
        .bearer_auth(&app.management_token)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
}

#[tokio::test]
async fn in_development_a_customer_token_signed_with_the_secret_stays_accepted_beside_an_issuer() {
    let (_tmp, app, _provider) = app_with_issuer(true).await;
    let served = answer(
        app.http
            .get(app.url("/v1/customers/local-developer/events"))
            .bearer_auth(app.token("local-developer"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(served.status, 200, "{}", served.body);
}
