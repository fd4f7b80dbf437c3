//! Mapping librdkafka errors to the port's [`BusError`], with messages an operator can act on.

use super::context::ClientIssue;
use crate::ports::bus::BusError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// `what` says what was being done ("publishing to t", "committing offsets").
pub fn map(error: &KafkaError, what: &str) -> BusError {
    match error.rdkafka_error_code() {
        Some(code) => map_code(code, &format!("{what}: {error}")),
        None => match error {
            KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => {
                BusError::Invalid(format!("{what}: {error}"))
            }
            KafkaError::Canceled => BusError::Closed,
            _ => BusError::Unavailable(format!("{what}: {error}")),
        },
    }
}

pub fn map_code(code: RDKafkaErrorCode, message: &str) -> BusError {
    use RDKafkaErrorCode as C;
    match code {
        C::Authentication
        | C::SaslAuthenticationFailed
        | C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed => BusError::Auth(message.to_string()),
        C::InvalidReplicationFactor
        | C::InvalidPartitions
        | C::InvalidConfig
        | C::InvalidTopic
        | C::PolicyViolation
        | C::InvalidArgument
        | C::MessageSizeTooLarge => BusError::Invalid(message.to_string()),
        _ => BusError::Unavailable(message.to_string()),
    }
}

/// The error for a cluster that did not answer in time, explained by what librdkafka last saw.
pub fn unreachable(
    brokers: &str,
    waited: std::time::Duration,
    issue: Option<ClientIssue>,
) -> BusError {
    match issue {
        Some(issue) if issue.is_auth() => BusError::Auth(format!(
            "the Kafka brokers at {brokers} refused the credentials (check KAFKA_USERNAME, KAFKA_PASSWORD and KAFKA_SASL_MECHANISM): {}",
            issue.message
        )),
        Some(issue) if issue.code == Some(RDKafkaErrorCode::SSL) => BusError::Unavailable(format!(
            "TLS with the Kafka brokers at {brokers} failed (check KAFKA_CA_FILE and KAFKA_SECURITY_PROTOCOL): {}",
            issue.message
        )),
        Some(issue) => BusError::Unavailable(format!(
            "no Kafka broker at {brokers} answered within {}s: {}",
            waited.as_secs(),
            issue.message
        )),
        None => BusError::Unavailable(format!(
            "no Kafka broker at {brokers} answered within {}s",
            waited.as_secs()
        )),
    }
}
