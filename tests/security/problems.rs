//! Every error the server emits is problem+json, the framework's own included.

use crate::support::{answer, spawn_app, SEED_PAYLOAD};

#[tokio::test]
async fn the_frameworks_own_errors_and_extractor_rejections_are_problem_json() {
    let app = spawn_app().await;
    let token = app.token("attacker-customer-1");
    let http = &app.http;
    let bearer = format!("Bearer {token}");

    // Unknown route, asked for as an API client would.
    let unknown = answer(http.get(app.url("/v1/nothing-here")).send().await.unwrap()).await;
    unknown.assert_problem(404);

    // Wrong method: the Allow header survives the rewrite.
    let wrong_method = answer(
        http.get(app.url("/v1/customers"))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong_method.assert_problem(405);
    assert!(wrong_method.headers.contains_key("allow"));

    // A body over the 64 KiB JSON limit.
    let too_large = answer(
        http.post(app.url("/v1/customers"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(format!(r#"{{"email":"{}"}}"#, "a".repeat(200 * 1024)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    too_large.assert_problem(413);

    // Bad JSON and a wrong content type.
    for (content_type, body) in [
        ("application/json", "{not json"),
        ("text/plain", SEED_PAYLOAD),
    ] {
        let request = http
            .post(app.url("/v1/customers"))
            .header("authorization", &bearer)
            .header("content-type", content_type)
            .body(body);
        assert_refused(request, content_type).await;
    }

    // A bad query parameter and a bad path parameter on the events listing.
    for path in [
        "/v1/customers/attacker-customer-1/events?limit=1&limit=2",
        "/v1/customers/%FF%FE/events",
    ] {
        let request = http.get(app.url(path)).header("authorization", &bearer);
        assert_refused(request, path).await;
    }

    // A WebSocket handshake that is not one.
    assert_refused(http.get(app.url("/ws")), "/ws").await;
}

/// Sends `request` and checks it is refused with a 4xx problem+json.
async fn assert_refused(request: reqwest::RequestBuilder, what: &str) {
    let refused = answer(request.send().await.unwrap()).await;
    assert!(
        (400..500).contains(&refused.status),
        "{what}: {}",
        refused.status
    );
    refused.assert_problem(refused.status);
}
