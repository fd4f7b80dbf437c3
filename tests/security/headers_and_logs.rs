//! What a browser is told to enforce (security headers) and what the logs never hold (tokens).

use crate::binary::Onboard;
use crate::support::{settings, spawn_with, Tab};

#[tokio::test]
async fn the_page_and_the_api_answers_carry_the_security_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let web = tmp.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>Onboard</title>",
    )
    .unwrap();
    let mut settings = settings(&tmp.path().join("data"), 0);
    settings.web_dir = web;
    let app = spawn_with(settings).await;
    for (path, accept) in [
        ("/", "text/html"),
        ("/v1/customers/someone-1/events", "application/json"),
        ("/no-such-api", "application/json"),
    ] {
        let response = app
            .http
            .get(app.url(path))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let csp = header("content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("script-src 'self' 'unsafe"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn a_websocket_token_never_reaches_the_log_even_at_debug() {
    let onboard = Onboard::up(
        &["--listen", "127.0.0.1:0"],
        &[("ONBOARD_LOG", "debug"), ("ONBOARD_LOG_FORMAT", "text")],
    );
    onboard.ready().await;
    let probe = crate::support::TestApp::remote(&onboard.data_dir, onboard.addr.port()).await;
    let token = probe.token("logged-customer-1");
    let mut tab = Tab::open(&probe, "logged-customer-1", &token).await;
    tab.send(r#"{"action":"ping"}"#).await;
    let _ = tab
        .next_frame_within(std::time::Duration::from_millis(500))
        .await;
    drop(tab);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = onboard.stderr();
    assert!(
        log.contains("/ws"),
        "the request was logged at debug: {log}"
    );
    // The signature alone identifies the token; no part of it may appear.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature), "the token is in the log");
    assert!(!log.contains("token="), "a token parameter is in the log");
}
