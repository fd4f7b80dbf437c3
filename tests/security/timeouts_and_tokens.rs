//! Slow clients cannot hold connections, and long-lived tokens are refused.

use crate::support::{answer, settings, spawn_app, spawn_with};
use onboard::domain::ids::CustomerId;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = settings(tmp.path(), 0);
    settings.http.header_read_timeout = Duration::from_secs(1);
    let app = spawn_with(settings).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HT").await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 512];
    // Closed (0 bytes, possibly after a 408) or reset; anything but waiting forever.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the half-sent request is still open after 10 s"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));

    // An idle keep-alive connection is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle connection is still open after 10 s"
    );
}

#[tokio::test]
async fn a_token_valid_for_ten_years_is_refused_naming_why() {
    let app = spawn_app().await;
    let customer = CustomerId::parse("patient-customer-1").unwrap();
    let secret = onboard::auth::JwtSecret::new(crate::support::SECRET.as_bytes().to_vec()).unwrap();
    let authenticator = onboard::auth::Authenticator::new(&secret);
    let ten_years = authenticator.issue(&customer, 10 * 365 * 86400);
    let refused = answer(
        app.http
            .get(app.url("/v1/customers/patient-customer-1/events"))
            .bearer_auth(&ten_years)
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
            .contains("lifetime"),
        "{}",
        refused.body
    );

    // What `onboard token` issues (12 hours) stays valid.
    let twelve_hours = authenticator.issue(&customer, onboard::auth::DEFAULT_TOKEN_TTL_SECS);
    let served = answer(
        app.http
            .get(app.url("/v1/customers/patient-customer-1/events"))
            .bearer_auth(&twelve_hours)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(served.status, 200, "{}", served.body);
}
