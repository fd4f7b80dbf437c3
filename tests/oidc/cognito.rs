//! Tokens of a real provider (moto's Cognito) on HTTP and on the WebSocket handshake: accepted
//! when they are the trusted pool's and client's, refused naming why otherwise.

use crate::provider::Pool;
use crate::support::{answer, settings, spawn_with, Tab, TestApp, SEED_PAYLOAD};
use onboard::auth::oidc::{Clock, OidcVerifier};
use onboard::auth::AuthError;
use std::time::Duration;

/// The app trusting `pool`'s `web` client; the temporary directory must outlive it.
async fn app_trusting(
    pool: &Pool,
    max_token_lifetime: Option<Duration>,
) -> (tempfile::TempDir, TestApp) {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = settings(tmp.path(), 0);
    settings.oidc = Some(pool.oidc_settings());
    if let Some(max) = max_token_lifetime {
        settings.max_token_lifetime = max;
    }
    let app = spawn_with(settings).await;
    (tmp, app)
}

async fn submit(app: &TestApp, token: &str) -> crate::support::Answer {
    answer(
        app.http
            .post(app.url("/v1/customers"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(SEED_PAYLOAD)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The WebSocket handshake's answer to `token` for `customer` (a refusal is problem+json).
async fn handshake(app: &TestApp, customer: &str, token: &str) -> crate::support::Answer {
    answer(
        app.http
            .get(app.url(&format!("/ws?customerId={customer}&token={token}")))
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn detail(answer: &crate::support::Answer) -> String {
    answer.body["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_user_pool_sign_in_submits_and_watches_the_timeline_live() {
    let Some(endpoint) = onboard::testing::aws::endpoint_from_env("oidc sign-in") else {
        return;
    };
    let pool = Pool::create(&endpoint).await;
    let customer = pool.user("alice@example.com").await;
    let tokens = pool.sign_in(&pool.web_client, "alice@example.com").await;
    let (_tmp, app) = app_trusting(&pool, None).await;

    let mut tab = Tab::open(&app, &customer, &tokens.id).await;
    assert_eq!(tab.welcome["customerId"], customer.as_str());
    let submitted = submit(&app, &tokens.id).await;
    assert_eq!(submitted.status, 201, "{}", submitted.body);
    let events = tab.events(1).await;
    assert_eq!(events[0]["type"], "user-info-submitted");
    assert_eq!(events[0]["customerId"], customer.as_str());

    // Cognito's access token names the app client in `client_id` instead of `aud`.
    let timeline = answer(
        app.http
            .get(app.url(&format!("/v1/customers/{customer}/events")))
            .bearer_auth(&tokens.access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(timeline.status, 200, "{}", timeline.body);

    // The page renews its token on the open socket; the session now lives until the new `exp`.
    let renewed = pool.sign_in(&pool.web_client, "alice@example.com").await;
    tab.send(&serde_json::json!({"action": "auth", "token": renewed.id}).to_string())
        .await;
    let frame = tab.next_frame().await.expect("an answer to auth");
    assert_eq!(frame["type"], "authenticated", "{frame}");
    assert!(
        frame["tokenExpiresAt"].as_u64().unwrap()
            >= tab.welcome["tokenExpiresAt"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn tokens_of_another_pool_or_client_or_with_a_forged_signature_are_refused_naming_why() {
    let Some(endpoint) = onboard::testing::aws::endpoint_from_env("oidc refusals") else {
        return;
    };
    let pool = Pool::create(&endpoint).await;
    let elsewhere = Pool::create(&endpoint).await;
    let customer = pool.user("bob@example.com").await;
    let stranger = elsewhere.user("bob@example.com").await;
    let (_tmp, app) = app_trusting(&pool, None).await;

    let other_pool = elsewhere
        .sign_in(&elsewhere.web_client, "bob@example.com")
        .await
        .id;
    let other_client = pool.sign_in(&pool.other_client, "bob@example.com").await.id;
    let genuine = pool.sign_in(&pool.web_client, "bob@example.com").await.id;
    // One character of the signature changed: the same claims, no longer the provider's.
    let mut forged = genuine.clone().into_bytes();
    let last = forged.len() - 5;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();

    for (token, owner, reason) in [
        (&other_pool, &stranger, "iss"),
        (&other_client, &customer, "aud"),
        (&forged, &customer, "signature"),
    ] {
        let refused = submit(&app, token).await;
        refused.assert_problem(401);
        assert!(
            detail(&refused).contains(reason),
            "{reason}: {}",
            refused.body
        );
        assert!(
            !refused.body.to_string().contains(token.as_str()),
            "the token is echoed"
        );
        let refused = handshake(&app, owner, token).await;
        refused.assert_problem(401);
        assert!(
            detail(&refused).contains(reason),
            "{reason}: {}",
            refused.body
        );
    }
    // The genuine token still works, and is the customer's only.
    assert_eq!(submit(&app, &genuine).await.status, 201);
    handshake(&app, &stranger, &genuine)
        .await
        .assert_problem(403);
}

#[tokio::test]
async fn a_provider_token_outliving_the_accepted_lifetime_or_already_expired_is_refused() {
    let Some(endpoint) = onboard::testing::aws::endpoint_from_env("oidc lifetimes") else {
        return;
    };
    let pool = Pool::create(&endpoint).await;
    pool.user("carol@example.com").await;
    let token = pool.sign_in(&pool.web_client, "carol@example.com").await.id;

    // Cognito's ID tokens live an hour; a server accepting ten minutes at most refuses them.
    let (_tmp, app) = app_trusting(&pool, Some(Duration::from_secs(600))).await;
    let refused = submit(&app, &token).await;
    refused.assert_problem(401);
    assert!(detail(&refused).contains("lifetime"), "{}", refused.body);

    // moto cannot issue a token that is already expired (its lifetime is fixed at an hour), so
    // the same real token is checked by the verifier the app uses, as of two hours from now.
    let verifier = OidcVerifier::new(pool.oidc_settings());
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let now = chrono::Utc::now().timestamp() as u64;
    let at = |now| Clock {
        now,
        leeway: 30,
        max_lifetime: 86_400,
    };
    let verify = |now| verifier.verify(&token, header.alg, header.kid.as_deref(), at(now));
    assert!(verify(now).await.is_ok());
    assert_eq!(verify(now + 2 * 3600).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn the_page_learns_the_issuer_and_client_from_config_json() {
    let Some(endpoint) = onboard::testing::aws::endpoint_from_env("oidc config.json") else {
        return;
    };
    let pool = Pool::create(&endpoint).await;
    let (_tmp, app) = app_trusting(&pool, None).await;
    let config = answer(app.http.get(app.url("/config.json")).send().await.unwrap()).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body["oidc"]["issuer"], pool.issuer().as_str());
    assert_eq!(config.body["oidc"]["clientId"], pool.web_client.as_str());
    assert!(config.body["oidc"]["scopes"]
        .as_str()
        .unwrap()
        .contains("openid"));
    // Settings::new (a test's) serves development sign-in.
    assert_eq!(config.body["devSignIn"], true);

    // The page may reach the provider (discovery, token endpoint), and nothing else new.
    let page = app
        .http
        .get(app.url("/"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com;"),
        "{policy}"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
}

#[tokio::test]
async fn a_burst_from_one_signed_in_customer_is_limited_for_that_customer_not_their_address() {
    let Some(endpoint) = onboard::testing::aws::endpoint_from_env("oidc rate limit") else {
        return;
    };
    let pool = Pool::create(&endpoint).await;
    let bursty = pool.user("bursty@example.com").await;
    let neighbour = pool.user("neighbour@example.com").await;
    let bursty_token = pool
        .sign_in(&pool.web_client, "bursty@example.com")
        .await
        .id;
    let neighbour_token = pool
        .sign_in(&pool.web_client, "neighbour@example.com")
        .await
        .id;
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = settings(tmp.path(), 0);
    settings.oidc = Some(pool.oidc_settings());
    settings.api_limits.requests_per_second = 1;
    settings.api_limits.request_burst = 3;
    let app = spawn_with(settings).await;
    let timeline = |customer: &str, token: &str| {
        app.http
            .get(app.url(&format!("/v1/customers/{customer}/events")))
            .bearer_auth(token.to_owned())
            .send()
    };

    // The burst (3) is served, then the customer is refused well before ten requests.
    let mut statuses = Vec::new();
    let limited = loop {
        let response = timeline(&bursty, &bursty_token).await.unwrap();
        if response.status() == 429 {
            break response;
        }
        statuses.push(response.status());
        assert!(statuses.len() < 10, "never limited: {statuses:?}");
    };
    assert!(statuses.len() >= 3, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(limited.headers().contains_key("retry-after"));
    // Another customer from the same address has a bucket of their own.
    let served = timeline(&neighbour, &neighbour_token).await.unwrap();
    assert_eq!(served.status(), 200);
}
