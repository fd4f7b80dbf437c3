//! With an issuer configured, the page's Content-Security-Policy lets the code flow reach the
//! provider: the issuer's origin (discovery) and every origin its discovery document names
//! (Cognito's hosted UI domain for the token endpoint), and nothing else.

use crate::issuer_fixture::Issuer;
use crate::support::{settings, spawn_with};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_page_may_connect_to_every_origin_the_providers_discovery_document_names() {
    let provider = Issuer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = settings(tmp.path(), 0);
    settings.oidc = Some(provider.settings());
    let app = spawn_with(settings).await;

    // The document is read in the background: wait until the page's policy names the hosted UI.
    let deadline = Instant::now() + Duration::from_secs(15);
    let policy = loop {
        let page = app.http.get(app.url("/")).send().await.unwrap();
        let policy = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        if policy.contains(&provider.hosted_ui) {
            break policy;
        }
        // Until then the issuer's origin is allowed already.
        assert!(policy.contains(&provider.issuer), "{policy}");
        assert!(
            Instant::now() < deadline,
            "the page never may reach {}: {policy}",
            provider.hosted_ui
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let connect = policy
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("connect-src"))
        .expect("a connect-src directive");
    let mut sources: Vec<&str> = connect.split_whitespace().skip(1).collect();
    sources.sort();
    let mut expected = vec![
        "'self'",
        provider.issuer.as_str(),
        provider.hosted_ui.as_str(),
    ];
    expected.sort();
    assert_eq!(sources, expected, "{policy}");
    // The rest of the edge's policy is unchanged.
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    // The API's answers keep the edge's own policy.
    let api = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(api.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("connect-src 'self';"));
}
