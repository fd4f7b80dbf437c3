//! The SNS notifier against moto in server mode: every message is read back through an SQS
//! queue subscribed to the topic, with its attributes (kind, event type, application id, event
//! and notification ids); a FIFO topic drops a repeated
//! notification; a missing topic is a permanent failure.

use crate::aws_support::{Received, SubscribedQueue};
use crate::support::*;
use onboard::adapters::sns::{SnsConfig, SnsNotifier};
use onboard::ports::notifier::{Notifier, NotifyError};
use onboard::ports::store::{Notification, NotificationKind};
use onboard::testing::aws::{endpoint_from_env, unique_name};
use std::collections::HashMap;

async fn notifier_for(topic: &SubscribedQueue) -> SnsNotifier {
    SnsNotifier::open(&SnsConfig {
        topic_arn: topic.topic_arn.clone(),
        region: Some("us-east-1".into()),
    })
    .await
}

fn assert_carries(received: &Received, sent: &Notification) {
    let mut expected = HashMap::from([
        ("kind".to_owned(), sent.kind.as_str().to_owned()),
        ("event_type".to_owned(), sent.event_type.as_str().to_owned()),
        ("event_id".to_owned(), sent.event_id.to_string()),
        ("notification_id".to_owned(), sent.id.clone()),
    ]);
    if let Some(application) = sent.application_id {
        expected.insert("application_id".to_owned(), application.to_string());
    }
    // Exactly these: ids and names a subscriber filters on, nothing personal (the recipient
    // and the text are in the message only).
    assert_eq!(received.attributes, expected);
    assert_eq!(received.message["id"], sent.id.as_str());
    assert_eq!(received.message["kind"], sent.kind.as_str());
    assert_eq!(received.message["recipient"], sent.recipient.as_str());
    assert_eq!(received.message["subject"], sent.subject.as_str());
    assert_eq!(received.message["body"], sent.body.as_str());
}

#[tokio::test]
async fn a_customer_email_and_an_operator_alert_arrive_with_their_attributes() {
    if endpoint_from_env("sns: attributes").is_none() {
        return;
    }
    let topic = SubscribedQueue::create(false).await;
    let notifier = notifier_for(&topic).await;
    // An e-mail about an application, and an alert about a failure before one existed.
    let email = notification(NotificationKind::CustomerEmail);
    let alert = notification(NotificationKind::OperatorAlert);
    assert!(email.application_id.is_some() && alert.application_id.is_none());
    notifier.deliver(&email).await.unwrap();
    notifier.deliver(&alert).await.unwrap();

    let received = topic.receive_through(&alert.id).await;
    assert_eq!(received.len(), 2, "{received:?}");
    let of = |id: &str| {
        received
            .iter()
            .find(|m| m.notification_id() == Some(id))
            .unwrap_or_else(|| panic!("no message for {id}: {received:?}"))
    };
    assert_carries(of(&email.id), &email);
    assert_carries(of(&alert.id), &alert);
    // SNS allows only printable ASCII in a subject: the accented one is simplified there and
    // kept whole in the message.
    assert_eq!(
        of(&email.id).subject.as_deref(),
        Some("Bienvenue, Jos your caf policy")
    );
}

#[tokio::test]
async fn on_a_fifo_topic_a_notification_delivered_twice_arrives_once() {
    if endpoint_from_env("sns: fifo deduplication").is_none() {
        return;
    }
    let topic = SubscribedQueue::create(true).await;
    let notifier = notifier_for(&topic).await;
    let email = notification(NotificationKind::CustomerEmail);
    // A retry after a lost answer delivers the same notification again.
    notifier.deliver(&email).await.unwrap();
    notifier.deliver(&email).await.unwrap();
    let next = notification(NotificationKind::CustomerEmail);
    notifier.deliver(&next).await.unwrap();

    let received = topic.receive_through(&next.id).await;
    let copies = received
        .iter()
        .filter(|m| m.notification_id() == Some(email.id.as_str()))
        .count();
    assert_eq!(copies, 1, "{received:?}");
    assert_carries(&received[0], &email);
}

#[tokio::test]
async fn a_topic_that_does_not_exist_is_a_permanent_failure() {
    if endpoint_from_env("sns: missing topic").is_none() {
        return;
    }
    let notifier = SnsNotifier::open(&SnsConfig {
        topic_arn: format!(
            "arn:aws:sns:us-east-1:123456789012:{}",
            unique_name("absent")
        ),
        region: Some("us-east-1".into()),
    })
    .await;
    let result = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await;
    assert!(
        matches!(result, Err(NotifyError::Permanent(_))),
        "{result:?}"
    );
}
