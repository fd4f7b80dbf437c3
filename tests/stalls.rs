//! Stall detection in a running process, with a threshold of seconds: an application left in
//! USER_INFO_SUBMITTED is detected, alerted once (counted at the notifier: a real webhook
//! receiver, not Maildir file names), shown by the gauge in /metrics and by
//! `GET /v1/ops/stalls`; another monitor over the same store (a second process, a restart)
//! finds the stall but does not alert it again.

use onboard::adapters::secret::Secret;
use onboard::adapters::sqlite::SqliteStore;
use onboard::adapters::webhook::WebhookConfig;
use onboard::app::{Application, Settings};
use onboard::auth::SecretSource;
use onboard::domain::ids::CustomerId;
use onboard::roles::stalls::{StallConfig, StallMonitor};
use onboard::testing::webhook_receiver::WebhookReceiver;
use onboard::wiring::NotifierSettings;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const THRESHOLD: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_stalled_past_its_threshold_is_alerted_once_counted_and_listed() {
    let receiver = WebhookReceiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), dir.path().to_path_buf());
    settings.secret = SecretSource {
        inline: Some("stall-detection-test-secret-long-enough-for-hs256".into()),
        file: None,
    };
    settings.notifier = NotifierSettings::Webhook(WebhookConfig {
        url: receiver.url.clone(),
        secret: Secret::new("onboard-tests-webhook-secret"),
        timeout: Duration::from_secs(5),
    });
    settings.stalls = StallConfig::uniform(THRESHOLD);
    let app = Application::build(settings).await.unwrap();
    let addr = app.local_addr();
    let management = app.management_token().to_string();
    let customer = CustomerId::parse("stalled-customer").unwrap();
    let token = app.authenticator().issue(&customer, 3600);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run(shutdown.clone()));

    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("http://{addr}/v1/customers"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"email":"stalled@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let application = created["applicationId"].as_str().unwrap().to_string();
    let stall_alerts = || -> Vec<(String, usize)> {
        receiver
            .accepted_per_notification()
            .into_iter()
            .filter(|(id, _)| id.starts_with("stall-"))
            .collect()
    };

    // Detected and alerted: the one alert names the application and its status.
    let started = Instant::now();
    while stall_alerts().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no stall alert reached the notifier"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alerts = stall_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0]
            .0
            .starts_with(&format!("stall-{application}-USER_INFO_SUBMITTED-")),
        "{alerts:?}"
    );
    assert_eq!(alerts[0].1, 1, "delivered once");
    let request = receiver
        .requests()
        .into_iter()
        .find(|r| r.header("x-onboard-notification-id") == Some(alerts[0].0.as_str()))
        .unwrap();
    let body = String::from_utf8_lossy(&request.body);
    assert!(
        body.contains(&application) && body.contains("stalled"),
        "{body}"
    );

    // The gauge, per state.
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"onboard_stalled_applications{state="USER_INFO_SUBMITTED"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"onboard_stalled_applications{state="KYC_REVIEW"} 0"#));

    // The listing, behind the management token.
    let denied = http
        .get(format!("http://{addr}/v1/ops/stalls"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["content-type"], "application/problem+json");
    let listed: serde_json::Value = http
        .get(format!("http://{addr}/v1/ops/stalls"))
        .bearer_auth(&management)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stalled = listed["stalled"].as_array().unwrap();
    assert_eq!(stalled.len(), 1, "{listed}");
    assert_eq!(stalled[0]["applicationId"], application.as_str());
    assert_eq!(stalled[0]["status"], "USER_INFO_SUBMITTED");
    assert_eq!(stalled[0]["thresholdSeconds"], 2);

    // Another process's monitor (or this one after a restart) sees the stall, alerts nothing.
    let store = SqliteStore::open(&dir.path().join("onboard.db"))
        .await
        .unwrap();
    let other = StallMonitor {
        store,
        config: StallConfig::uniform(THRESHOLD),
        operator_address: "operators@onboard.local".into(),
        notifier_nudge: Arc::default(),
    };
    let report = other.check(chrono::Utc::now()).await.unwrap();
    assert_eq!(report.stalled.len(), 1);
    assert_eq!(report.alerted, 0, "the stall was alerted already");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the app stops")
        .unwrap()
        .unwrap();
    assert_eq!(stall_alerts(), alerts, "still one alert, delivered once");
}
