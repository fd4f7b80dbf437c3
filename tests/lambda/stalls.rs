//! Stall detection on Lambda, where no process runs a monitor: the scheduled `relay` function
//! finds the application that has not moved past its threshold (on DynamoDB's in-progress
//! index), publishes one operator alert through SNS naming it, and a later run alerts nothing
//! again.

use super::harness::{Deployment, STEP_7_1_PAYLOAD};
use crate::aws_support::SubscribedQueue;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_relay_alerts_a_stalled_application_once_through_sns() {
    let Some(deployment) = Deployment::new().await else {
        return;
    };
    let sns = SubscribedQueue::create(false).await;
    let relay_environment = [
        ("ONBOARD_NOTIFIER", "sns"),
        ("SNS_TOPIC_ARN", sns.topic_arn.as_str()),
        ("ONBOARD_STALL_AFTER", "2s"),
    ];
    let (submit, relay) = tokio::join!(
        deployment.function("submit-user-info", &[]),
        deployment.function("relay", &relay_environment),
    );
    let answer = submit
        .invoke(&serde_json::from_str(STEP_7_1_PAYLOAD).unwrap())
        .await;
    assert_eq!(answer["statusCode"], 201, "{answer}\n{}", submit.log());
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let application = body["applicationId"].as_str().unwrap().to_owned();

    // Runs of the schedule until the threshold has passed: the first that sees the stall
    // queues and sends its alert.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let answer = relay.invoke(&serde_json::json!({})).await;
        assert!(
            answer["stalledApplications"].is_u64(),
            "{answer}\n{}",
            relay.log()
        );
        if answer["stalledApplications"] == 1 {
            break answer;
        }
        assert!(Instant::now() < deadline, "no stall after 30 s: {answer}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(first["stallAlertsQueued"], 1, "{first}");
    assert_eq!(first["notificationsSent"], 1, "{first}");
    let alerts = sns.received_until_now().await;
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    assert_eq!(alerts[0].attributes["kind"], "operator_alert", "{alerts:?}");
    assert_eq!(
        alerts[0].attributes["application_id"], application,
        "{alerts:?}"
    );
    assert!(
        alerts[0].message.to_string().contains(&application),
        "the alert names the application: {alerts:?}"
    );

    // The next run still sees the stall but alerts nothing again.
    let second = relay.invoke(&serde_json::json!({})).await;
    assert_eq!(second["stalledApplications"], 1, "{second}");
    assert_eq!(second["stallAlertsQueued"], 0, "{second}");
    assert_eq!(second["notificationsSent"], 0, "{second}");
    let after = sns.received_until_now().await;
    assert!(after.is_empty(), "no second alert: {after:?}");
}
