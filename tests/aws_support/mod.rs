//! Test support shared by the test targets that talk to AWS emulated by moto: an SNS topic with
//! an SQS queue subscribed to it, so what the SNS notifier publishes is read back as a
//! subscriber receives it. Included with `#[path = "../aws_support/mod.rs"] mod aws_support;`.
// Each test target uses the part it needs.
#![allow(dead_code)]

use onboard::testing::aws::unique_name;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The attribute naming the notification, which is how messages are told apart.
const NOTIFICATION_ID: &str = "notification_id";

/// One message as an SQS subscriber receives it (SNS's JSON envelope, not raw delivery).
#[derive(Debug)]
pub struct Received {
    pub subject: Option<String>,
    pub message: Value,
    /// Every message attribute, by name, with its string value.
    pub attributes: HashMap<String, String>,
}

impl Received {
    pub fn notification_id(&self) -> Option<&str> {
        self.attributes.get(NOTIFICATION_ID).map(String::as_str)
    }
}

/// A topic with an SQS queue subscribed to it, both new in the emulator.
pub struct SubscribedQueue {
    pub topic_arn: String,
    queue_url: String,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

impl SubscribedQueue {
    /// A standard topic, or a FIFO one (`….fifo`, with a FIFO queue) when `fifo`.
    pub async fn create(fifo: bool) -> Self {
        let config = onboard::adapters::aws_sdk::sdk_config(Some("us-east-1")).await;
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
            sns,
            sqs,
        }
    }

    /// Publishes a marker message of the test's own to the topic (standard topics only) and
    /// returns its `notification_id`: receiving through it shows that everything published
    /// before it has arrived, so "nothing else came" is observed rather than waited for.
    pub async fn publish_marker(&self) -> String {
        let id = unique_name("marker");
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&id)
            .build()
            .unwrap();
        self.sns
            .publish()
            .topic_arn(&self.topic_arn)
            .message(r#"{"marker":true}"#)
            .message_attributes(NOTIFICATION_ID, attribute)
            .send()
            .await
            .unwrap();
        id
    }

    /// Everything published to the topic since the last receive: receives through a marker
    /// published now, so "nothing else came" is observed rather than waited for; the marker
    /// itself is left out.
    pub async fn received_until_now(&self) -> Vec<Received> {
        let marker = self.publish_marker().await;
        let mut all = self.receive_through(&marker).await;
        all.retain(|m| m.notification_id() != Some(marker.as_str()));
        all
    }

    /// Receives until a message for `last` (a notification id) has arrived, then returns
    /// everything received, in order; panics after a deadline.
    pub async fn receive_through(&self, last: &str) -> Vec<Received> {
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
            if all.iter().any(|m| m.notification_id() == Some(last)) {
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
