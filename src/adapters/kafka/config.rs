//! Kafka connection settings: one value whose `Debug` never shows the password, validated and
//! turned into librdkafka client properties. `src/config` fills it from the `[bus.kafka]`
//! section and the seed's variables (`KAFKA_BROKERS`, `KAFKA_USERNAME`, `KAFKA_PASSWORD`, ...).

use rdkafka::ClientConfig;
use std::path::PathBuf;
use std::time::Duration;

/// The replication factor of Onboard's topics on Kafka unless configured (DESIGN.md §3).
pub const DEFAULT_REPLICATION_FACTOR: i16 = 2;
/// How long opening the bus waits for the brokers to answer before giving up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::adapters::secret::Secret;

/// `security.protocol` of the client (`KAFKA_SECURITY_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(Self::Plaintext),
            "SSL" => Ok(Self::Ssl),
            "SASL_PLAINTEXT" => Ok(Self::SaslPlaintext),
            "SASL_SSL" => Ok(Self::SaslSsl),
            other => Err(format!(
                "KAFKA_SECURITY_PROTOCOL '{other}' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// How the members of a consumer group get their partitions (`KAFKA_GROUP_PROTOCOL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// KIP-848 (Kafka 4.0 and later): the broker assigns partitions member by member, so a
    /// joining member gets its partitions in one heartbeat and nobody else stops.
    #[default]
    Consumer,
    /// The classic join/sync protocol with eager `range` assignment, for brokers before 4.0:
    /// every join is a stop-the-world round of the whole group.
    Classic,
}

impl GroupProtocol {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "consumer" => Ok(Self::Consumer),
            "classic" => Ok(Self::Classic),
            other => Err(format!(
                "'{other}' is not one of consumer (KIP-848, Kafka 4.0 or later), classic"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consumer => "consumer",
            Self::Classic => "classic",
        }
    }
}

const MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

/// Everything needed to reach a Kafka cluster.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port` list, comma separated (`KAFKA_BROKERS`).
    pub brokers: String,
    pub security_protocol: SecurityProtocol,
    /// `KAFKA_SASL_MECHANISM`, SCRAM-SHA-512 by default (MSK's SCRAM listener).
    pub sasl_mechanism: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// CA certificate (PEM) that signed the brokers' certificates (`KAFKA_CA_FILE`).
    pub ca_file: Option<PathBuf>,
    /// Replication factor of the topics Onboard creates (`ONBOARD_REPLICATION_FACTOR`).
    pub replication_factor: i16,
    pub client_id: String,
    pub connect_timeout: Duration,
    /// The consumer group protocol of every member this bus creates.
    pub group_protocol: GroupProtocol,
}

/// Every problem found in the Kafka settings, reported at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid Kafka settings: {}", .0.join("; "))]
pub struct KafkaConfigError(pub Vec<String>);

impl KafkaSettings {
    /// Plain TCP to `brokers`, no authentication (the local development broker).
    pub fn plaintext(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_string(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: MECHANISMS[0].to_string(),
            username: None,
            password: None,
            ca_file: None,
            replication_factor: DEFAULT_REPLICATION_FACTOR,
            // The pid tells the members of several processes apart (kafka-consumer-groups --members).
            client_id: format!("onboard-{}", std::process::id()),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            group_protocol: GroupProtocol::default(),
        }
    }

    /// Checks the settings are complete and consistent.
    pub fn validate(&self) -> Result<(), KafkaConfigError> {
        let mut problems = Vec::new();
        for broker in self.brokers.split(',').map(str::trim) {
            let valid = broker
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                problems.push(format!(
                    "KAFKA_BROKERS entry '{broker}' is not host:port (e.g. b-1.example:9096)"
                ));
            }
        }
        if self.security_protocol.uses_sasl() {
            if self.username.is_none() {
                problems.push(format!(
                    "KAFKA_USERNAME is required with {}",
                    self.security_protocol.as_str()
                ));
            }
            if self.password.is_none() {
                problems.push(format!(
                    "KAFKA_PASSWORD (or KAFKA_PASSWORD_FILE) is required with {}",
                    self.security_protocol.as_str()
                ));
            }
            if !MECHANISMS.contains(&self.sasl_mechanism.as_str()) {
                problems.push(format!(
                    "KAFKA_SASL_MECHANISM '{}' is not one of {}",
                    self.sasl_mechanism,
                    MECHANISMS.join(", ")
                ));
            }
        } else if self.username.is_some() || self.password.is_some() {
            problems.push(format!(
                "KAFKA_USERNAME/KAFKA_PASSWORD are set but KAFKA_SECURITY_PROTOCOL is {}; use SASL_SSL",
                self.security_protocol.as_str()
            ));
        }
        if let Some(ca) = &self.ca_file {
            if !self.security_protocol.uses_tls() {
                problems.push(format!(
                    "KAFKA_CA_FILE is set but KAFKA_SECURITY_PROTOCOL is {}, which does not use TLS",
                    self.security_protocol.as_str()
                ));
            } else if !ca.is_file() {
                problems.push(format!(
                    "KAFKA_CA_FILE {} is not a readable file",
                    ca.display()
                ));
            }
        }
        if self.replication_factor < 1 {
            problems.push("the replication factor must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(KafkaConfigError(problems))
        }
    }

    /// librdkafka properties common to producers, consumers and admin clients.
    pub(crate) fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            .set("security.protocol", self.security_protocol.as_str())
            // Bounded waits, so an unreachable broker is reported instead of waited for.
            .set("socket.connection.setup.timeout.ms", "10000")
            .set("reconnect.backoff.max.ms", "2000")
            // Requests are small and latency-bound (one step's event): no Nagle delay.
            .set("socket.nagle.disable", "true")
            // librdkafka logs through the client context (routed to `tracing`).
            .set("log.connection.close", "false");
        if self.security_protocol.uses_sasl() {
            config.set("sasl.mechanism", &self.sasl_mechanism);
            if let Some(username) = &self.username {
                config.set("sasl.username", username);
            }
            if let Some(password) = &self.password {
                config.set("sasl.password", password.expose());
            }
        }
        if let Some(ca) = &self.ca_file {
            config.set("ssl.ca.location", ca.to_string_lossy().as_ref());
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut settings = KafkaSettings::plaintext("nohost,ok:1");
        settings.security_protocol = SecurityProtocol::SaslSsl;
        settings.sasl_mechanism = "GSSAPI".into();
        settings.ca_file = Some("/does/not/exist.pem".into());
        settings.replication_factor = 0;
        let text = settings.validate().unwrap_err().to_string();
        for expected in [
            "'nohost'",
            "KAFKA_USERNAME is required",
            "KAFKA_PASSWORD",
            "GSSAPI",
            "/does/not/exist.pem",
            "replication factor",
        ] {
            assert!(text.contains(expected), "{expected} missing from: {text}");
        }
    }

    #[test]
    fn the_password_never_prints() {
        let mut settings = KafkaSettings::plaintext("b-1:9096");
        settings.password = Some(Secret::new("hunter2-very-secret"));
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
