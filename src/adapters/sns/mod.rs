//! The SNS notifier (the seed's SNS): publishes every notification, customer e-mail or operator
//! alert, to one topic (`notifier.sns.topic_arn`, the seed's `SNS_TOPIC_ARN`) as a JSON message
//! with message attributes subscribers can filter on: `kind`, `event_type` (the event's topic),
//! `application_id` (absent for a failure before an application existed), `event_id` and
//! `notification_id`. Attributes carry ids and names only, never personal data.
//!
//! Never twice for one event: the dispatcher's notification id (`{event id}.{kind}`) is the
//! deduplication key. On a FIFO topic (`….fifo`) it is the `MessageDeduplicationId`, so SNS
//! drops a repeat within its five-minute window (a retry after a lost answer). A standard topic
//! has no deduplication: a repeat after a lost answer reaches subscribers again, carrying the
//! same `notification_id` attribute, which is what they de-duplicate by (docs/aws.md).

pub mod errors;

use crate::adapters::webhook::WebhookPayload;
use crate::ports::notifier::{Notifier, NotifyError};
use crate::ports::store::Notification;
use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

/// Message attribute naming the notification kind (`customer_email`, `operator_alert`).
pub const KIND_ATTRIBUTE: &str = "kind";
/// Message attribute naming the type (topic) of the event that caused the notification.
pub const EVENT_TYPE_ATTRIBUTE: &str = "event_type";
/// Message attribute holding the application id, when the event has one.
pub const APPLICATION_ID_ATTRIBUTE: &str = "application_id";
/// Message attribute holding the id of the event that caused the notification.
pub const EVENT_ID_ATTRIBUTE: &str = "event_id";
/// Message attribute holding the notification id, the subscribers' deduplication key.
pub const NOTIFICATION_ID_ATTRIBUTE: &str = "notification_id";
/// SNS refuses longer subjects (and any line break in one).
const MAX_SUBJECT_CHARS: usize = 100;

/// Where to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsConfig {
    pub topic_arn: String,
    /// `aws.region`; the SDK's own resolution (`AWS_REGION`, the profile) when `None`.
    pub region: Option<String>,
}

impl SnsConfig {
    /// Checks the ARN's shape (`arn:<partition>:sns:<region>:<account>:<name>`), so a typo is a
    /// configuration problem at start rather than a failure per notification.
    pub fn check_topic_arn(raw: &str) -> Result<(), String> {
        let parts: Vec<&str> = raw.split(':').collect();
        let shaped = parts.len() == 6
            && parts[0] == "arn"
            && !parts[1].is_empty()
            && parts[2] == "sns"
            && parts[3..].iter().all(|p| !p.is_empty());
        if shaped {
            Ok(())
        } else {
            Err(format!(
                "'{raw}' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            ))
        }
    }
}

/// Publishes notifications to one SNS topic.
#[derive(Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
}

impl SnsNotifier {
    /// A notifier on the SDK's shared configuration (`AWS_ENDPOINT_URL` honoured).
    pub async fn open(config: &SnsConfig) -> Self {
        let sdk = crate::adapters::aws_sdk::sdk_config(config.region.as_deref()).await;
        Self::new(aws_sdk_sns::Client::new(&sdk), config.topic_arn.clone())
    }

    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        let fifo = topic_arn.ends_with(".fifo");
        Self {
            client,
            topic_arn,
            fifo,
        }
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    fn name(&self) -> &'static str {
        "sns"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError> {
        let message = serde_json::to_string(&WebhookPayload::of(notification))
            .map_err(|e| NotifyError::Permanent(format!("cannot encode the message: {e}")))?;
        let mut publish = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(message)
            .message_attributes(KIND_ATTRIBUTE, text(notification.kind.as_str())?)
            .message_attributes(
                EVENT_TYPE_ATTRIBUTE,
                text(notification.event_type.as_str())?,
            )
            .message_attributes(
                EVENT_ID_ATTRIBUTE,
                text(&notification.event_id.to_string())?,
            )
            .message_attributes(NOTIFICATION_ID_ATTRIBUTE, text(&notification.id)?);
        // SNS refuses an empty attribute value, so an absent application leaves the attribute out.
        if let Some(application) = notification.application_id {
            publish = publish
                .message_attributes(APPLICATION_ID_ATTRIBUTE, text(&application.to_string())?);
        }
        if let Some(subject) = sns_subject(&notification.subject) {
            publish = publish.subject(subject);
        }
        if self.fifo {
            // One group per event: no ordering is needed between notifications, so none waits.
            publish = publish
                .message_deduplication_id(&notification.id)
                .message_group_id(notification.event_id.to_string());
        }
        publish.send().await.map_err(errors::classify)?;
        Ok(())
    }
}

fn text(value: &str) -> Result<MessageAttributeValue, NotifyError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| NotifyError::Permanent(format!("cannot build a message attribute: {e}")))
}

/// The subject as SNS accepts it (printable ASCII, one line, at most 100 characters), or `None`
/// when nothing is left; the full subject is always in the message.
pub fn sns_subject(subject: &str) -> Option<String> {
    let cleaned: String = subject
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let cut: String = cleaned.chars().take(MAX_SUBJECT_CHARS).collect();
    (!cut.is_empty()).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_becomes_one_line_of_printable_ascii_within_the_limit() {
        assert_eq!(sns_subject("Hello\nJosé").as_deref(), Some("Hello Jos"));
        assert_eq!(
            sns_subject(&"x".repeat(150)).unwrap().len(),
            MAX_SUBJECT_CHARS
        );
        assert_eq!(sns_subject(" \t\n"), None);
    }

    #[test]
    fn only_sns_topic_arns_are_accepted() {
        assert!(SnsConfig::check_topic_arn("arn:aws:sns:us-east-1:123456789012:onboard").is_ok());
        assert!(SnsConfig::check_topic_arn("arn:aws:sns:us-east-1:123456789012:n.fifo").is_ok());
        for bad in [
            "",
            "onboard",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:::x",
        ] {
            assert!(SnsConfig::check_topic_arn(bad).is_err(), "{bad}");
        }
    }
}
