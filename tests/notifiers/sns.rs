//! The SNS notifier against moto in server mode: every message is read back through an SQS
//! queue subscribed to the topic, with its attributes (kind, event type, application id, event
//! and notification ids); a FIFO topic drops a repeated
//! notification; a missing topic is a permanent failure.

use crate::support::*;
use onboard::adapters::sns::{SnsConfig, SnsNotifier};
use onboard::ports::notifier::{Notifier, NotifyError};
use onboard::ports::store::{Notification, NotificationKind};
use onboard::testing::aws::{endpoint_from_env, unique_name};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One message as an SQS subscriber receives it (SNS's JSON envelope, not raw delivery).
#[derive(Debug)]
struct Received {
    subject: Option<String>,
    message: Value,
    attributes: HashMap<String, String>,
}

/// A topic with an SQS queue subscribed to it, both new in the shared emulator.
struct Subscribed {
    topic_arn: String,
    queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

async fn sdk() -> aws_config::SdkConfig {
    onboard::adapters::aws_sdk::sdk_config(Some("us-east-1")).await
}

impl Subscribed {
    async fn create(fifo: bool) -> Self {
        let config = sdk().await;
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let suffix = if fifo { ".fifo" } else { "" };
        let name = format!("{}{suffix}", unique_name("onboard-notify"));
        let mut topic = sns.create_topic().name(&name);
        let mut queue = sqs.create_queue().queue_name(&name);
        if fifo {
            topic = topic.attributes("FifoTopic", "true");
            queue = queue.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let topic_arn = topic.send().await.unwrap().topic_arn.unwrap();
        let queue_url = queue.send().await.unwrap().queue_url.unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
        Self {
            topic_arn,
            queue_url,
            sqs,
        }
    }

    async fn notifier(&self) -> SnsNotifier {
        SnsNotifier::open(&SnsConfig {
            topic_arn: self.topic_arn.clone(),
            region: Some("us-east-1".into()),
        })
        .await
    }

    /// Receives until a message for `last` (a notification id) has arrived, then returns
    /// everything received, in order; panics after a deadline.
    async fn receive_through(&self, last: &str) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut all = Vec::new();
        loop {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for message in batch.messages.unwrap_or_default() {
                all.push(parse(message.body.as_deref().unwrap()));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if all.iter().any(|m| m.attributes["notification_id"] == last) {
                return all;
            }
            assert!(
                Instant::now() < deadline,
                "no message for {last} within 20 s; got {all:?}"
            );
        }
    }
}

fn parse(body: &str) -> Received {
    let envelope: Value = serde_json::from_str(body).unwrap();
    let attributes = envelope["MessageAttributes"]
        .as_object()
        .map(|all| {
            all.iter()
                .map(|(name, value)| (name.clone(), value["Value"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Received {
        subject: envelope["Subject"].as_str().map(str::to_owned),
        message: serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap(),
        attributes,
    }
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
    let topic = Subscribed::create(false).await;
    let notifier = topic.notifier().await;
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
            .find(|m| m.attributes["notification_id"] == id)
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
    let topic = Subscribed::create(true).await;
    let notifier = topic.notifier().await;
    let email = notification(NotificationKind::CustomerEmail);
    // A retry after a lost answer delivers the same notification again.
    notifier.deliver(&email).await.unwrap();
    notifier.deliver(&email).await.unwrap();
    let next = notification(NotificationKind::CustomerEmail);
    notifier.deliver(&next).await.unwrap();

    let received = topic.receive_through(&next.id).await;
    let copies = received
        .iter()
        .filter(|m| m.attributes["notification_id"] == email.id)
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
