//! Finding: "Every 400/409/422 publishes a workflow-errors event and one operator e-mail: 40
//! invalid submissions, 40 e-mails. Unknown JSON field names are copied into events and
//! e-mails." Now every failure is still recorded, operators get at most the per-minute budget
//! of alerts (the rest counted in the overview and `/metrics`), and made-up member names never
//! travel.

use crate::binary::Onboard;
use crate::child::{management_token, token, LOOPBACK};
use futures::future::join_all;
use serde_json::Value;
use std::time::{Duration, Instant};

const SUBMISSIONS: usize = 40;
/// Said to the child explicitly, though it is also the default.
const PER_MINUTE: u64 = 3;

#[tokio::test]
async fn forty_invalid_submissions_are_all_recorded_but_operators_get_at_most_the_budget() {
    let per_minute = PER_MINUTE.to_string();
    let onboard = Onboard::up(
        LOOPBACK,
        &[("ONBOARD_OPERATOR_ALERTS_PER_MINUTE", &per_minute)],
    );
    onboard.ready().await;
    let http = reqwest::Client::new();
    let submissions = (0..SUBMISSIONS).map(|i| {
        http.post(onboard.url("/v1/customers"))
            .bearer_auth(token(&format!("careless-{i}")))
            .header("content-type", "application/json")
            .body(
                r#"{"email":"not-an-email","firstName":"Ada","lastName":"Lovelace",
                    "dateOfBirth":"1990-01-01","phoneNumber":"+1234567890",
                    "secretNote-ada.lovelace@example.com":"x"}"#,
            )
            .send()
    });
    for answer in join_all(submissions).await {
        assert_eq!(answer.unwrap().status(), 422);
    }

    // Every failure reaches workflow-errors and the consumer: all of them counted by the alert
    // budget and stored (the count is taken as each is processed, the store shows them once
    // their transactions committed, so both are waited for).
    let workflow_errors = |overview: &Value| -> usize {
        overview["recentEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e.to_string().contains("workflow-errors"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let overview = loop {
        let overview: Value = http
            .get(onboard.url("/v1/ops/overview"))
            .bearer_auth(management_token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let alerts = &overview["operatorAlerts"];
        let settled =
            alerts["sent"].as_u64().unwrap_or(0) + alerts["suppressed"].as_u64().unwrap_or(0);
        let stored = workflow_errors(&overview);
        if settled == SUBMISSIONS as u64 && stored == SUBMISSIONS {
            break overview;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer settled {settled} and stored {stored} of {SUBMISSIONS}: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failures: Vec<&Value> = overview["recentEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.to_string().contains("workflow-errors"))
        .collect();
    assert_eq!(failures.len(), SUBMISSIONS, "all recorded");
    for event in &failures {
        let text = event.to_string();
        assert!(
            !text.contains("secretNote") && !text.contains("lovelace@"),
            "{text}"
        );
    }
    let sent = overview["operatorAlerts"]["sent"].as_u64().unwrap();
    assert!(
        (1..=PER_MINUTE).contains(&sent),
        "{}",
        overview["operatorAlerts"]
    );

    // The mail that leaves is what was sent, no more.
    let maildir = onboard.data_dir.join("mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mails = loop {
        let mails = onboard::adapters::maildir::read_maildir(&maildir).unwrap_or_default();
        if mails.len() as u64 >= sent {
            break mails;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {sent} alerts delivered",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        mails.len() as u64 <= PER_MINUTE,
        "{} operator mails",
        mails.len()
    );
    for mail in &mails {
        assert!(!mail.body.contains("secretNote"), "{}", mail.body);
    }

    let metrics = crate::child::metrics_text(&http, &onboard).await;
    assert!(
        metrics.contains(&format!(
            "onboard_operator_alerts_total{{outcome=\"suppressed\"}} {}",
            SUBMISSIONS as u64 - sent
        )),
        "{metrics}"
    );
}
