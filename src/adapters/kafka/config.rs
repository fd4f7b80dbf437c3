//! Kafka connection settings: the seed's environment variables (`KAFKA_BROKERS`,
//! `KAFKA_USERNAME`, `KAFKA_PASSWORD`, ...) validated into one value whose `Debug` never shows
//! the password, and turned into librdkafka client properties.

use rdkafka::ClientConfig;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The replication factor of Onboard's topics on Kafka unless configured (DESIGN.md §3).
pub const DEFAULT_REPLICATION_FACTOR: i16 = 2;
/// How long opening the bus waits for the brokers to answer before giving up.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A secret string (a password) that `Debug` and `Display` never reveal.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for handing to librdkafka only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

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
        }
    }

    /// Reads the settings from the process environment; `None` when `KAFKA_BROKERS` is unset.
    pub fn from_env() -> Result<Option<Self>, KafkaConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (an environment); `None` when `KAFKA_BROKERS` is unset.
    /// The password comes from `KAFKA_PASSWORD` or from the file named by `KAFKA_PASSWORD_FILE`.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, KafkaConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let Some(brokers) = get("KAFKA_BROKERS") else {
            return Ok(None);
        };
        let mut problems = Vec::new();
        let mut settings = Self::plaintext(brokers.trim());
        settings.username = get("KAFKA_USERNAME").map(|u| u.trim().to_string());
        settings.password = match (get("KAFKA_PASSWORD"), get("KAFKA_PASSWORD_FILE")) {
            (Some(password), _) => Some(Secret::new(password)),
            (None, Some(file)) => match std::fs::read_to_string(&file) {
                Ok(content) => Some(Secret::new(content.trim_end_matches(['\r', '\n']))),
                Err(error) => {
                    problems.push(format!("cannot read KAFKA_PASSWORD_FILE {file}: {error}"));
                    None
                }
            },
            (None, None) => None,
        };
        // With credentials and no explicit protocol, assume MSK's SCRAM listener (SASL over TLS).
        settings.security_protocol = match get("KAFKA_SECURITY_PROTOCOL") {
            Some(raw) => SecurityProtocol::parse(&raw).unwrap_or_else(|e| {
                problems.push(e);
                SecurityProtocol::Plaintext
            }),
            None if settings.username.is_some() => SecurityProtocol::SaslSsl,
            None => SecurityProtocol::Plaintext,
        };
        if let Some(mechanism) = get("KAFKA_SASL_MECHANISM") {
            settings.sasl_mechanism = mechanism.trim().to_ascii_uppercase();
        }
        settings.ca_file = get("KAFKA_CA_FILE").map(PathBuf::from);
        if let Some(raw) = get("ONBOARD_REPLICATION_FACTOR") {
            match raw.trim().parse::<i16>() {
                Ok(n) if n >= 1 => settings.replication_factor = n,
                _ => problems.push(format!(
                    "ONBOARD_REPLICATION_FACTOR '{raw}' is not a whole number of at least 1"
                )),
            }
        }
        if let Err(KafkaConfigError(more)) = settings.validate() {
            problems.extend(more);
        }
        if problems.is_empty() {
            Ok(Some(settings))
        } else {
            Err(KafkaConfigError(problems))
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
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn no_brokers_means_no_kafka() {
        assert!(KafkaSettings::from_lookup(lookup(&[])).unwrap().is_none());
    }

    #[test]
    fn credentials_without_a_protocol_mean_scram_over_tls() {
        let settings = KafkaSettings::from_lookup(lookup(&[
            ("KAFKA_BROKERS", "b-1:9096,b-2:9096"),
            ("KAFKA_USERNAME", "svc"),
            ("KAFKA_PASSWORD", "hunter2-very-secret"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(settings.sasl_mechanism, "SCRAM-SHA-512");
        assert_eq!(settings.replication_factor, 2);
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Secret(***)"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = KafkaSettings::from_lookup(lookup(&[
            ("KAFKA_BROKERS", "nohost,ok:1"),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", "GSSAPI"),
            ("KAFKA_CA_FILE", "/does/not/exist.pem"),
            ("ONBOARD_REPLICATION_FACTOR", "zero"),
        ]))
        .unwrap_err();
        let text = error.to_string();
        for expected in [
            "'nohost'",
            "KAFKA_USERNAME is required",
            "KAFKA_PASSWORD",
            "GSSAPI",
            "/does/not/exist.pem",
            "ONBOARD_REPLICATION_FACTOR",
        ] {
            assert!(text.contains(expected), "{expected} missing from: {text}");
        }
    }

    #[test]
    fn the_password_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "from-file\n").unwrap();
        let settings = KafkaSettings::from_lookup(lookup(&[
            ("KAFKA_BROKERS", "127.0.0.1:9096"),
            ("KAFKA_USERNAME", "onboard"),
            ("KAFKA_PASSWORD_FILE", file.to_str().unwrap()),
            ("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.password.unwrap().expose(), "from-file");
        assert_eq!(settings.security_protocol, SecurityProtocol::SaslPlaintext);
    }

    #[test]
    fn an_unknown_protocol_is_refused() {
        let error = KafkaSettings::from_lookup(lookup(&[
            ("KAFKA_BROKERS", "127.0.0.1:9092"),
            ("KAFKA_SECURITY_PROTOCOL", "TLS"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("'TLS'"), "{error}");
    }
}
