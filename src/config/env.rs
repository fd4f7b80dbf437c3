//! The one place Onboard reads its process environment: a table from each variable to the
//! configuration key it sets (the seed's names among them), and a snapshot of those variables.

use std::collections::BTreeMap;

/// How a variable's text becomes a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A whole number (`ONBOARD_BATCH_SIZE=100`).
    Number,
    /// Comma-separated text (`ONBOARD_ALLOWED_ORIGINS=a,b`).
    List,
    /// `true` or `false` (`ONBOARD_DEV=true`).
    Bool,
}

/// One environment variable and the configuration key it sets.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    pub name: &'static str,
    pub key: &'static str,
    pub kind: Kind,
}

const fn var(name: &'static str, key: &'static str, kind: Kind) -> EnvVar {
    EnvVar { name, key, kind }
}

use Kind::{Bool, List, Number, Text};

/// The path of the configuration file when `--config` is not given.
pub const CONFIG_FILE: &str = "ONBOARD_CONFIG";

/// Every variable Onboard reads, and its key (`onboard.example.toml` documents each). A secret
/// `NAME` has a `NAME_FILE` twin whose key ends in `_file` (`src/config/secret.rs`). Two names
/// for one key (a seed alias) must not disagree.
pub const VARIABLES: &[EnvVar] = &[
    var("ONBOARD_LISTEN", "listen", Text),
    var("ONBOARD_DATA_DIR", "data_dir", Text),
    var("ENVIRONMENT", "environment", Text),
    var("AWS_REGION", "aws.region", Text),
    var("ONBOARD_LOG", "log.filter", Text),
    var("ONBOARD_LOG_FORMAT", "log.format", Text),
    var(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "telemetry.otlp_endpoint",
        Text,
    ),
    var("OTEL_SERVICE_NAME", "telemetry.service_name", Text),
    var("ONBOARD_STORE", "store.kind", Text),
    var("DATABASE_URL", "store.url", Text),
    var("DATABASE_URL_FILE", "store.url_file", Text),
    var(
        "ONBOARD_STORE_MAX_CONNECTIONS",
        "store.max_connections",
        Number,
    ),
    var("USERS_TABLE", "store.tables.users", Text),
    var("APPLICATIONS_TABLE", "store.tables.applications", Text),
    var("KYC_RESULTS_TABLE", "store.tables.kyc_results", Text),
    var("AUDIT_TABLE", "store.tables.audit", Text),
    var("WEBSOCKET_TABLE", "store.tables.websocket", Text),
    var("EVENTS_TABLE", "store.tables.events", Text),
    var("OUTBOX_TABLE", "store.tables.outbox", Text),
    var("IDEMPOTENCY_TABLE", "store.tables.idempotency", Text),
    var("NOTIFICATIONS_TABLE", "store.tables.notifications", Text),
    var("DOCUMENTS_TABLE", "store.tables.documents", Text),
    var(
        "RECOMMENDATIONS_TABLE",
        "store.tables.recommendations",
        Text,
    ),
    var("PROJECTIONS_TABLE", "store.tables.projections", Text),
    var("COUNTERS_TABLE", "store.tables.counters", Text),
    var("OPERATIONS_TABLE", "store.tables.operations", Text),
    var("ONBOARD_STALL_AFTER", "stalls.after", Text),
    var("ONBOARD_STALL_AFTER_BY_STATE", "stalls.by_state", List),
    var("ONBOARD_BUS", "bus.kind", Text),
    var("ONBOARD_TOPIC_PREFIX", "bus.topic_prefix", Text),
    var(
        "ONBOARD_REPLICATION_FACTOR",
        "bus.replication_factor",
        Number,
    ),
    var("KAFKA_BROKERS", "bus.kafka.brokers", Text),
    var("KAFKA_USERNAME", "bus.kafka.username", Text),
    var("KAFKA_PASSWORD", "bus.kafka.password", Text),
    var("KAFKA_PASSWORD_FILE", "bus.kafka.password_file", Text),
    var(
        "KAFKA_SECURITY_PROTOCOL",
        "bus.kafka.security_protocol",
        Text,
    ),
    var("KAFKA_SASL_MECHANISM", "bus.kafka.sasl_mechanism", Text),
    var("KAFKA_CA_FILE", "bus.kafka.ca_file", Text),
    var("KAFKA_GROUP_PROTOCOL", "bus.kafka.group_protocol", Text),
    var("ONBOARD_NOTIFIER", "notifier.kind", Text),
    var("ONBOARD_MAIL_FROM", "notifier.mail_from", Text),
    var("ONBOARD_MAILDIR", "notifier.maildir.dir", Text),
    var("SMTP_HOST", "notifier.smtp.host", Text),
    var("SMTP_PORT", "notifier.smtp.port", Number),
    var("SMTP_TLS", "notifier.smtp.tls", Text),
    var("SMTP_USERNAME", "notifier.smtp.username", Text),
    var("SMTP_PASSWORD", "notifier.smtp.password", Text),
    var("SMTP_PASSWORD_FILE", "notifier.smtp.password_file", Text),
    var("SMTP_CA_FILE", "notifier.smtp.ca_file", Text),
    var("SMTP_HELO_NAME", "notifier.smtp.helo_name", Text),
    var("WEBHOOK_URL", "notifier.webhook.url", Text),
    var("WEBHOOK_SECRET", "notifier.webhook.secret", Text),
    var("WEBHOOK_SECRET_FILE", "notifier.webhook.secret_file", Text),
    var("SNS_TOPIC_ARN", "notifier.sns.topic_arn", Text),
    var("ONBOARD_DOCUMENTS", "documents.kind", Text),
    var("ONBOARD_DOCUMENTS_DIR", "documents.dir", Text),
    var("ONBOARD_DOCUMENTS_BUCKET", "documents.bucket", Text),
    var("ONBOARD_DOCUMENTS_PREFIX", "documents.prefix", Text),
    var("ONBOARD_JWT_SECRET", "auth.jwt_secret", Text),
    var("ONBOARD_JWT_SECRET_FILE", "auth.jwt_secret_file", Text),
    var("ONBOARD_DEV", "auth.dev_token", Bool),
    var(
        "ONBOARD_MAX_TOKEN_LIFETIME_SECONDS",
        "auth.max_token_lifetime_seconds",
        Number,
    ),
    var("ONBOARD_AUTH_ISSUER", "auth.oidc.issuer", Text),
    var("ONBOARD_AUTH_AUDIENCE", "auth.oidc.audience", Text),
    var("ONBOARD_AUTH_JWKS_URL", "auth.oidc.jwks_url", Text),
    var(
        "ONBOARD_AUTH_CUSTOMER_CLAIM",
        "auth.oidc.customer_claim",
        Text,
    ),
    var("ONBOARD_AUTH_CLIENT_ID", "auth.oidc.client_id", Text),
    var("ONBOARD_AUTH_SCOPES", "auth.oidc.scopes", Text),
    var(
        "ONBOARD_HEADER_READ_TIMEOUT_SECONDS",
        "http.header_read_timeout_seconds",
        Number,
    ),
    var(
        "ONBOARD_REQUEST_TIMEOUT_SECONDS",
        "http.request_timeout_seconds",
        Number,
    ),
    var(
        "ONBOARD_IDLE_TIMEOUT_SECONDS",
        "http.idle_timeout_seconds",
        Number,
    ),
    var(
        "ONBOARD_REQUESTS_PER_SECOND",
        "api.requests_per_second",
        Number,
    ),
    var("ONBOARD_REQUEST_BURST", "api.request_burst", Number),
    var(
        "ONBOARD_MAX_CONCURRENT_UPLOADS",
        "api.max_concurrent_uploads",
        Number,
    ),
    var(
        "ONBOARD_MAX_CONCURRENT_UPLOADS_PER_CUSTOMER",
        "api.max_concurrent_uploads_per_customer",
        Number,
    ),
    var("ONBOARD_METRICS_PUBLIC", "metrics.public", Bool),
    var("ONBOARD_METRICS_LISTEN", "metrics.listen", Text),
    var("ONBOARD_CONSUMER_GROUP", "consumer.group", Text),
    var("ONBOARD_BATCH_SIZE", "consumer.batch_size", Number),
    var(
        "ONBOARD_STARTING_POSITION",
        "consumer.starting_position",
        Text,
    ),
    var("KAFKA_TOPIC", "consumer.topic", Text),
    var("ONBOARD_OPERATOR_EMAIL", "consumer.operator_email", Text),
    var(
        "ONBOARD_OPERATOR_ALERTS_PER_MINUTE",
        "consumer.operator_alerts_per_minute",
        Number,
    ),
    var("ONBOARD_WS_TTL_SECONDS", "gateway.ttl_seconds", Number),
    var(
        "ONBOARD_WS_HEARTBEAT_SECONDS",
        "gateway.heartbeat_seconds",
        Number,
    ),
    var("ONBOARD_WS_SWEEP_SECONDS", "gateway.sweep_seconds", Number),
    var("ONBOARD_BUS_SEGMENT_BYTES", "bus.segment_bytes", Number),
    var(
        "ONBOARD_LIFECYCLE_INTERVAL_SECONDS",
        "lifecycle.interval_seconds",
        Number,
    ),
    var(
        "ONBOARD_OUTBOX_RETENTION_HOURS",
        "lifecycle.outbox_retention_hours",
        Number,
    ),
    var(
        "ONBOARD_IDEMPOTENCY_RETENTION_HOURS",
        "lifecycle.idempotency_retention_hours",
        Number,
    ),
    var("ONBOARD_PURGE_BATCH_SIZE", "lifecycle.batch_size", Number),
    var("ONBOARD_ADVERTISE_URL", "gateway.advertise_url", Text),
    var("WEBSOCKET_ENDPOINT", "gateway.advertise_url", Text),
    var("ONBOARD_NODE_ID", "gateway.node_id", Text),
    var("ONBOARD_ALLOWED_ORIGINS", "gateway.allowed_origins", List),
    var(
        "ONBOARD_WS_MAX_CONNECTIONS_PER_CUSTOMER",
        "gateway.max_connections_per_customer",
        Number,
    ),
    var(
        "ONBOARD_WS_MAX_CONNECTIONS",
        "gateway.max_connections",
        Number,
    ),
    var(
        "ONBOARD_WS_DEREGISTRATION_BATCH",
        "gateway.deregistration_batch",
        Number,
    ),
    var("ONBOARD_WEB_DIR", "web.dir", Text),
    var("ONBOARD_URL", "watch.url", Text),
    var("ONBOARD_WATCH_CA_FILE", "watch.ca_file", Text),
    var("ONBOARD_TOKEN", "watch.token", Text),
    var("ONBOARD_TOKEN_FILE", "watch.token_file", Text),
    // Set by the Lambda service from the function's `Handler` property.
    var("_HANDLER", "lambda.handler", Text),
];

/// Set by the Lambda service (and Amazon's emulator) for a custom runtime: the address of the
/// Runtime API the `lambda_runtime` loop polls.
pub const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// Whether this process was started by Lambda as a custom runtime (`AWS_LAMBDA_RUNTIME_API` set),
/// so the binary copied as `bootstrap` serves a function without arguments. The runtime crate
/// reads the variable's value itself, like the SDK reads its own.
pub fn started_by_lambda() -> bool {
    std::env::var_os(LAMBDA_RUNTIME_API).is_some_and(|v| !v.is_empty())
}

/// The operating-system user running this command (`USER`, else `LOGNAME`), for audit rows
/// such as a dead-letter replay's "who" when `--by` is not given.
pub fn os_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|v| !v.trim().is_empty())
}

/// The environment names of `key` (and of its `_file` twin for a secret), for messages.
pub fn names_of(key: &str) -> Vec<&'static str> {
    let file = format!("{key}_file");
    VARIABLES
        .iter()
        .filter(|v| v.key == key || v.key == file)
        .map(|v| v.name)
        .collect()
}

/// The variables of [`VARIABLES`] (and [`CONFIG_FILE`]) that are set and not empty: the layers
/// read this snapshot, so tests give them any environment without touching the process's.
#[derive(Clone, Default)]
pub struct Environment(BTreeMap<String, String>);

impl Environment {
    /// The process environment; a value that is not UTF-8 counts as unset.
    pub fn from_process() -> Self {
        let names = VARIABLES.iter().map(|v| v.name).chain([CONFIG_FILE]);
        Self::from_pairs(names.filter_map(|name| Some((name, std::env::var(name).ok()?))))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Names only: values may be secrets.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A test harness switch (`ONBOARD_REQUIRE_POSTGRES`, `ONBOARD_TEST_STORE`, ...): not part of
/// the configuration, but read here so that this stays the only file reading the environment.
pub fn test_switch(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Names of the set variables that start with one of `prefixes`: test harnesses strip them from
/// child processes (`testing::env::hermetic`), and this stays the only file reading the
/// environment.
pub fn names_starting_with(prefixes: &[&str]) -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| {
            key.to_str()
                .is_some_and(|key| prefixes.iter().any(|p| key.starts_with(p)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_named_once_per_variable_and_secrets_have_file_twins() {
        let mut seen = std::collections::HashSet::new();
        for v in VARIABLES {
            assert!(seen.insert(v.name), "{} twice", v.name);
            if let Some(secret) = v.name.strip_suffix("_FILE") {
                let inline = VARIABLES.iter().find(|i| i.name == secret);
                if let Some(inline) = inline {
                    assert_eq!(format!("{}_file", inline.key), v.key, "{}", v.name);
                }
            }
        }
    }

    #[test]
    fn debug_shows_names_not_values() {
        let env = Environment::from_pairs([("KAFKA_PASSWORD", "hunter2"), ("EMPTY", " ")]);
        assert_eq!(format!("{env:?}"), r#"{"KAFKA_PASSWORD"}"#);
    }
}
