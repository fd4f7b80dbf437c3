//! The event envelope and the six topics: the contract between producers, the bus and consumers.
//!
//! Events carry ids, statuses and decisions, never raw PII (DESIGN.md §3).

use super::ids::{ApplicationId, CustomerId, EventId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the envelope and payload schemas written by this build.
pub const ENVELOPE_VERSION: u32 = 1;

/// The six topics of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Topic {
    UserInfoSubmitted,
    DocumentsProcessed,
    KycVerified,
    PolicyRecommended,
    WorkflowCompleted,
    WorkflowErrors,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::UserInfoSubmitted,
        Topic::DocumentsProcessed,
        Topic::KycVerified,
        Topic::PolicyRecommended,
        Topic::WorkflowCompleted,
        Topic::WorkflowErrors,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::UserInfoSubmitted => "user-info-submitted",
            Topic::DocumentsProcessed => "documents-processed",
            Topic::KycVerified => "kyc-verified",
            Topic::PolicyRecommended => "policy-recommended",
            Topic::WorkflowCompleted => "workflow-completed",
            Topic::WorkflowErrors => "workflow-errors",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                format!(
                    "unknown topic '{raw}'; expected one of {}",
                    Self::ALL.map(Topic::as_str).join(", ")
                )
            })
    }

    /// The dead-letter topic that receives this topic's records that exhausted their retries.
    pub fn dead_letter(self) -> String {
        format!("{}.dlq", self.as_str())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The versioned JSON envelope of every event (DESIGN.md §3).
///
/// `sequence` extends the design: a per-customer, gap-free counter assigned in the producer's
/// transaction. Kafka keeps order only within one partition of one topic, but a customer's
/// events span six topics; the sequence lets the gateway and clients restore the customer's
/// order and detect gaps and duplicates without trusting arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub id: EventId,
    #[serde(rename = "type")]
    pub topic: Topic,
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    pub customer_id: CustomerId,
    /// Absent only for failures that happen before an application exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<ApplicationId>,
    pub correlation_id: String,
    pub sequence: u64,
    pub data: serde_json::Value,
}

/// An event before the store has given it its place in the customer's sequence.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub topic: Topic,
    pub customer_id: CustomerId,
    pub application_id: Option<ApplicationId>,
    pub correlation_id: String,
    pub data: serde_json::Value,
}

impl EventDraft {
    pub fn new(
        topic: Topic,
        customer_id: CustomerId,
        application_id: Option<ApplicationId>,
        correlation_id: impl Into<String>,
        data: impl Serialize,
    ) -> Self {
        Self {
            topic,
            customer_id,
            application_id,
            correlation_id: correlation_id.into(),
            data: serde_json::to_value(data).expect("event payloads are plain data"),
        }
    }

    /// Seals the draft with its sequence number, a fresh UUIDv7 id and the current time.
    pub fn into_envelope(self, sequence: u64) -> Envelope {
        Envelope {
            id: EventId::new(),
            topic: self.topic,
            version: ENVELOPE_VERSION,
            occurred_at: Utc::now(),
            customer_id: self.customer_id,
            application_id: self.application_id,
            correlation_id: self.correlation_id,
            sequence,
            data: self.data,
        }
    }
}

impl Envelope {
    /// Kafka record headers (DESIGN.md §3).
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("event-id".into(), self.id.to_string()),
            ("event-type".into(), self.topic.as_str().into()),
            ("correlation-id".into(), self.correlation_id.clone()),
        ]
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes serialize")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Payload of `workflow-errors`: which step failed and why, without PII.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowErrorData {
    pub step: String,
    pub code: String,
    pub message: String,
    /// Names of the invalid fields, never their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_through_their_kafka_names() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()).unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert!(Topic::parse("nope").is_err());
        assert_eq!(Topic::KycVerified.dead_letter(), "kyc-verified.dlq");
    }

    #[test]
    fn envelope_serializes_with_the_contract_field_names() {
        let env = EventDraft::new(
            Topic::UserInfoSubmitted,
            CustomerId::parse("c-1").unwrap(),
            Some(ApplicationId::new()),
            "corr",
            serde_json::json!({"status": "USER_INFO_SUBMITTED"}),
        )
        .into_envelope(1);
        let v: serde_json::Value = serde_json::from_slice(&env.to_json()).unwrap();
        for key in [
            "id",
            "type",
            "version",
            "occurredAt",
            "customerId",
            "applicationId",
            "correlationId",
            "sequence",
            "data",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(Envelope::from_json(&env.to_json()).unwrap(), env);
    }
}
