//! The webhook notifier against a real HTTP receiver: the request it sends, its signature, and
//! how answers are classified.

use crate::support::webhook_receiver::WebhookReceiver;
use crate::support::*;
use hmac::{Hmac, Mac};
use onboard::adapters::secret::Secret;
use onboard::adapters::webhook::{self, WebhookConfig, WebhookNotifier};
use onboard::ports::notifier::{Notifier, NotifyError};
use onboard::ports::store::NotificationKind;
use serde_json::{json, Value};
use sha2::Sha256;

pub const SECRET: &str = "whsec-onboard-tests-0123456789";

pub fn notifier(url: &str) -> WebhookNotifier {
    WebhookNotifier::new(WebhookConfig {
        url: url.into(),
        secret: Secret::new(SECRET),
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap()
}

/// Verifies the signature header the way a receiver in another language would: parse
/// `t=…,v1=…`, HMAC-SHA256 over `"{t}.{body}"`, compare hex.
pub fn assert_signed(header: &str, body: &[u8]) {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (t, v1) = (t.expect("a t= part"), v1.expect("a v1= part"));
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().expect("a unix time");
    assert!((0..60).contains(&age), "signed {age} s ago");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()), "the v1 HMAC");
    // The library's own verifier agrees.
    let now = chrono::Utc::now().timestamp();
    webhook::verify(SECRET.as_bytes(), header, body, now, 300).expect("verifies");
}

#[tokio::test]
async fn a_delivered_notification_is_a_signed_json_post_with_its_id_as_idempotency_key() {
    let receiver = WebhookReceiver::start(&[]).await;
    let n = notification(NotificationKind::CustomerEmail);

    notifier(&receiver.url).deliver(&n).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("x-onboard-notification-id"),
        Some(n.id.as_str())
    );
    assert_eq!(
        request.header("x-onboard-event-id"),
        Some(n.event_id.to_string().as_str())
    );
    assert_signed(
        request.header("x-onboard-signature").expect("signed"),
        &request.body,
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "id": n.id,
            "kind": "customer_email",
            "eventId": n.event_id.to_string(),
            "recipient": "jose@example.com",
            "subject": n.subject,
            "body": n.body,
            "createdAt": "2024-05-01T10:30:00.000Z",
        })
    );
}

#[tokio::test]
async fn a_body_changed_in_transit_no_longer_verifies() {
    let receiver = WebhookReceiver::start(&[]).await;
    notifier(&receiver.url)
        .deliver(&notification(NotificationKind::OperatorAlert))
        .await
        .unwrap();
    let request = receiver.requests().remove(0);
    let mut tampered = request.body.to_vec();
    tampered.extend_from_slice(b" ");

    let result = webhook::verify(
        SECRET.as_bytes(),
        request.header("x-onboard-signature").unwrap(),
        &tampered,
        chrono::Utc::now().timestamp(),
        300,
    );

    assert_eq!(result, Err(webhook::SignatureError::Mismatch));
}

#[tokio::test]
async fn answers_408_429_and_5xx_are_transient_and_other_4xx_and_redirects_are_permanent() {
    let cases = [
        (408, true),
        (429, true),
        (500, true),
        (503, true),
        (400, false),
        (401, false),
        (404, false),
        (422, false),
        (302, false),
    ];
    let receiver = WebhookReceiver::start(&cases.map(|(status, _)| status)).await;
    let webhook = notifier(&receiver.url);

    for (status, transient) in cases {
        let err = webhook
            .deliver(&notification(NotificationKind::CustomerEmail))
            .await
            .unwrap_err();
        assert_eq!(
            matches!(err, NotifyError::Transient(_)),
            transient,
            "{status}: {err:?}"
        );
        assert!(err.to_string().contains(&status.to_string()), "{err}");
    }
    assert_eq!(
        receiver.requests().len(),
        cases.len(),
        "redirects are not followed"
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_is_a_transient_failure() {
    let url = format!("http://127.0.0.1:{}/hooks/onboard", free_port());

    let err = notifier(&url)
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    assert!(matches!(err, NotifyError::Transient(_)), "{err:?}");
}
