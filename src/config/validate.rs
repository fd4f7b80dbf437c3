//! From a layered [`Config`] to the settings a process runs with: every value parsed, every
//! rule checked, every problem collected (the same for `onboard check-config` and a starting
//! role).

use super::problems::Problems;
use super::secret;
use super::tree::Config;
use crate::adapters::fs_documents::DocumentSettings;
use crate::adapters::kafka::{KafkaSettings, SecurityProtocol};
use crate::adapters::postgres::DatabaseUrl;
use crate::adapters::secret::Secret;
use crate::adapters::smtp::{self, SmtpConfig, SmtpCredentials, SmtpTls};
use crate::adapters::webhook::{self, WebhookConfig};
use crate::app::{Roles, Settings};
use crate::auth::{JwtSecret, SecretSource};
use crate::domain::event::Topic;
use crate::ports::bus::{StartFrom, TopicNames};
use crate::wiring::{layout, BusKind, BusSettings, NotifierSettings, StoreSettings};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// What a process runs as; `lambda` is checked only (`check-config --role lambda`) until the
/// AWS runtime exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Up,
    Api,
    Consumer,
    Gateway,
    Lambda,
}

impl Role {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "up" => Ok(Self::Up),
            "api" => Ok(Self::Api),
            "consumer" => Ok(Self::Consumer),
            "gateway" => Ok(Self::Gateway),
            "lambda" => Ok(Self::Lambda),
            other => Err(format!(
                "unknown role '{other}'; expected up, api, consumer, gateway or lambda"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Api => "api",
            Self::Consumer => "consumer",
            Self::Gateway => "gateway",
            Self::Lambda => "lambda",
        }
    }

    /// Runs beside other processes, so it must share their secret, bus and store.
    pub fn runs_alone(self) -> bool {
        self != Self::Up
    }

    fn roles(self) -> Roles {
        let only = |api, consumers, gateway| Roles {
            api,
            consumers,
            gateway,
        };
        match self {
            Self::Up => Roles::all(),
            Self::Api => only(true, false, false),
            Self::Consumer => only(false, true, false),
            Self::Gateway => only(false, false, true),
            // Producer and consumer functions; API Gateway holds the WebSockets.
            Self::Lambda => only(true, true, false),
        }
    }

    fn default_listen(self) -> &'static str {
        match self {
            Self::Up | Self::Api | Self::Lambda => "127.0.0.1:8080",
            Self::Consumer => "127.0.0.1:8081",
            Self::Gateway => "127.0.0.1:8082",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const BATCH_SIZE: RangeInclusive<i64> = 1..=10_000;
const REPLICATION_FACTOR: RangeInclusive<i64> = 1..=16;
const WS_TTL_SECONDS: RangeInclusive<i64> = 2..=86_400;
const WS_INTERVAL_SECONDS: RangeInclusive<i64> = 1..=3_600;
const PORT: RangeInclusive<i64> = 1..=65_535;

impl Config {
    /// Fills the defaults that depend on the role or on other keys, so that what
    /// `check-config` prints is what the process uses.
    pub fn resolve_defaults(&mut self, role: Role) {
        self.listen
            .get_or_insert_with(|| role.default_listen().into());
        let has_url = self.store.url.is_some() || self.store.url_file.is_some();
        self.store
            .kind
            .get_or_insert_with(|| if has_url { "postgres" } else { "sqlite" }.into());
        let has_brokers = self.bus.kafka.brokers.is_some();
        self.bus
            .kind
            .get_or_insert_with(|| if has_brokers { "kafka" } else { "embedded" }.into());
        let env = &self.environment;
        let tables = &mut self.store.tables;
        for (table, name) in [
            (&mut tables.users, "users"),
            (&mut tables.applications, "applications"),
            (&mut tables.kyc_results, "kyc-results"),
            (&mut tables.audit, "audit"),
            (&mut tables.websocket, "websocket-connections"),
        ] {
            table.get_or_insert_with(|| format!("{name}-{env}"));
        }
        let data_dir = &self.data_dir;
        self.notifier
            .maildir
            .dir
            .get_or_insert_with(|| data_dir.join(layout::MAILDIR));
        self.documents
            .dir
            .get_or_insert_with(|| data_dir.join(layout::DOCUMENTS));
    }

    /// The settings of a process running as `role`, or every problem (after
    /// [`Self::resolve_defaults`]).
    pub fn settings(&self, role: Role, problems: &mut Problems) -> Settings {
        let raw = self.listen.as_deref().unwrap_or(role.default_listen());
        let listen = parse(problems, "listen", Some(raw), |raw| {
            raw.trim().parse::<SocketAddr>().map_err(|e| e.to_string())
        })
        .unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        let mut settings = Settings::new(listen, self.data_dir.clone());
        self.check_log(problems);
        settings.store = self.store_settings(problems);
        settings.bus = self.bus_settings(problems);
        settings.topics = self.topic_names(problems);
        settings.notifier = self.notifier_settings(problems);
        settings.mail_from = self.notifier.mail_from.clone();
        settings.secret = self.jwt_source(problems);
        self.check_role_rules(role, &settings, problems);
        self.consumer_settings(role, &mut settings, problems);
        self.gateway_settings(role, &mut settings, problems);
        if let Some(dir) = &self.documents.dir {
            settings.documents = DocumentSettings::Filesystem { dir: dir.clone() };
        }
        settings.web_dir = self.web.dir.clone();
        // Anyone who reaches /dev/token gets a token for any customer: only a development
        // process serves it, one nobody else can reach unless it is said to be one.
        settings.dev_token_endpoint =
            role == Role::Up && (listen.ip().is_loopback() || self.auth.dev_token);
        self.edge_settings(&mut settings, problems);
        settings.roles = role.roles();
        settings
    }

    /// The HTTP server's timeouts and the longest token lifetime accepted.
    fn edge_settings(&self, settings: &mut Settings, problems: &mut Problems) {
        if let Some(timeout) = seconds(
            problems,
            "http.header_read_timeout_seconds",
            self.http.header_read_timeout_seconds,
            1..=3600,
        ) {
            settings.http.header_read_timeout = timeout;
        }
        if let Some(max) = seconds(
            problems,
            "auth.max_token_lifetime_seconds",
            self.auth.max_token_lifetime_seconds,
            60..=366 * 86400,
        ) {
            settings.max_token_lifetime = max;
        }
        let api = &self.api;
        let limits = &mut settings.api_limits;
        let positive = 1..=1_000_000;
        if let Some(rate) = in_range(
            problems,
            "api.requests_per_second",
            api.requests_per_second,
            positive.clone(),
        ) {
            limits.requests_per_second = rate as u32;
        }
        if let Some(burst) = in_range(problems, "api.request_burst", api.request_burst, positive) {
            limits.request_burst = burst as u32;
        }
        if let Some(uploads) = in_range(
            problems,
            "api.max_concurrent_uploads",
            api.max_concurrent_uploads,
            1..=10_000,
        ) {
            limits.max_concurrent_uploads = uploads as usize;
        }
        if let Some(uploads) = in_range(
            problems,
            "api.max_concurrent_uploads_per_customer",
            api.max_concurrent_uploads_per_customer,
            1..=10_000,
        ) {
            limits.max_concurrent_uploads_per_customer = uploads as usize;
        }
        settings.metrics_public = self.metrics.public;
    }

    fn check_role_rules(&self, role: Role, settings: &Settings, problems: &mut Problems) {
        if !role.runs_alone() {
            return;
        }
        if self.auth.jwt_secret.is_none() && self.auth.jwt_secret_file.is_none() {
            problems.push(
                "auth.jwt_secret",
                format!(
                    "`onboard {role}` runs beside other processes and needs the JWT secret they \
                     all share; set it explicitly (only `onboard up` generates one)"
                ),
            );
        }
        if !settings.bus.is_shared() {
            problems.push(
                "bus.kind",
                format!(
                    "`onboard {role}` runs beside other processes and needs a shared event bus: \
                     set KAFKA_BROKERS (or use `onboard up`)"
                ),
            );
        }
    }

    fn check_log(&self, problems: &mut Problems) {
        if !matches!(self.log.format.as_str(), "text" | "json") {
            problems.push(
                "log.format",
                format!("'{}' is not text or json", self.log.format),
            );
        }
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.log.filter) {
            problems.push("log.filter", format!("not a log filter: {error}"));
        }
    }

    /// The store (PostgreSQL or the SQLite file in the data directory).
    pub fn store_settings(&self, problems: &mut Problems) -> StoreSettings {
        let url = secret::resolve(problems, "store.url", &self.store.url, &self.store.url_file);
        let embedded = StoreSettings::embedded(&self.data_dir);
        let has_url = self.store.url.is_some() || self.store.url_file.is_some();
        let kind =
            self.store
                .kind
                .as_deref()
                .unwrap_or(if has_url { "postgres" } else { "sqlite" });
        match kind.trim().to_ascii_lowercase().as_str() {
            "sqlite" => embedded,
            "postgres" => match url {
                Some(url) => match DatabaseUrl::parse(url.expose()) {
                    Ok(url) => StoreSettings::Postgres { url },
                    Err(error) => {
                        problems.push("store.url", error.to_string());
                        embedded
                    }
                },
                None => {
                    if !has_url {
                        problems.push("store.url", "required with store.kind = postgres");
                    }
                    embedded
                }
            },
            other => {
                problems.push(
                    "store.kind",
                    format!("'{other}' is not a store (expected sqlite or postgres)"),
                );
                embedded
            }
        }
    }

    /// The event bus: Kafka when chosen (or when brokers are given), else the embedded log.
    pub fn bus_settings(&self, problems: &mut Problems) -> BusSettings {
        let embedded = BusSettings::embedded(&self.data_dir);
        let brokers = self.bus.kafka.brokers.as_deref();
        let kind = match self.bus.kind.as_deref() {
            Some(raw) => match BusKind::parse(raw) {
                Ok(kind) => kind,
                Err(reason) => {
                    problems.push("bus.kind", reason);
                    return embedded;
                }
            },
            None if brokers.is_some() => BusKind::Kafka,
            None => BusKind::Embedded,
        };
        let replication_factor = in_range(
            problems,
            "bus.replication_factor",
            self.bus.replication_factor,
            REPLICATION_FACTOR,
        );
        if kind == BusKind::Embedded {
            return embedded;
        }
        let Some(brokers) = brokers else {
            problems.push(
                "bus.kafka.brokers",
                "required with bus.kind = kafka (host:port,...); for a local broker: \
                 eval \"$(scripts/kafka.sh env)\"",
            );
            return embedded;
        };
        let kafka = &self.bus.kafka;
        let mut settings = KafkaSettings::plaintext(brokers.trim());
        settings.username = kafka.username.as_ref().map(|u| u.trim().to_owned());
        settings.password = secret::resolve(
            problems,
            "bus.kafka.password",
            &kafka.password,
            &kafka.password_file,
        );
        let password_given = kafka.password.is_some() || kafka.password_file.is_some();
        // With credentials and no explicit protocol, assume MSK's SCRAM listener (SASL over TLS).
        settings.security_protocol = match kafka.security_protocol.as_deref() {
            Some(raw) => parse(problems, "bus.kafka.security_protocol", Some(raw), |raw| {
                SecurityProtocol::parse(raw)
            })
            .unwrap_or(SecurityProtocol::Plaintext),
            None if settings.username.is_some() => SecurityProtocol::SaslSsl,
            None => SecurityProtocol::Plaintext,
        };
        if let Some(mechanism) = &kafka.sasl_mechanism {
            settings.sasl_mechanism = mechanism.trim().to_ascii_uppercase();
        }
        settings.ca_file = kafka.ca_file.clone();
        if let Some(factor) = replication_factor {
            settings.replication_factor = factor as i16;
        }
        if let Err(invalid) = settings.validate() {
            for reason in invalid.0 {
                // A password that was given but unreadable is already reported.
                if !(password_given && reason.starts_with("KAFKA_PASSWORD")) {
                    problems.push("bus.kafka", reason);
                }
            }
        }
        BusSettings::Kafka(settings)
    }

    pub fn topic_names(&self, problems: &mut Problems) -> TopicNames {
        TopicNames::with_prefix(&self.bus.topic_prefix).unwrap_or_else(|reason| {
            problems.push("bus.topic_prefix", reason);
            TopicNames::default()
        })
    }

    fn notifier_settings(&self, problems: &mut Problems) -> NotifierSettings {
        let section = &self.notifier;
        let maildir = NotifierSettings::Maildir {
            dir: (section.maildir.dir.clone())
                .unwrap_or_else(|| self.data_dir.join(layout::MAILDIR)),
        };
        match section.kind.trim().to_ascii_lowercase().as_str() {
            "maildir" => maildir,
            "smtp" => self.smtp(problems).map_or(maildir, NotifierSettings::Smtp),
            "webhook" => self
                .webhook(problems)
                .map_or(maildir, NotifierSettings::Webhook),
            other => {
                problems.push(
                    "notifier.kind",
                    format!("'{other}' is not a notifier (expected maildir, smtp or webhook)"),
                );
                maildir
            }
        }
    }

    fn smtp(&self, problems: &mut Problems) -> Option<SmtpConfig> {
        let smtp = &self.notifier.smtp;
        let host = required(problems, "notifier.smtp.host", &smtp.host, "smtp");
        // Encrypted unless the operator says otherwise.
        let tls = parse(problems, "notifier.smtp.tls", smtp.tls.as_deref(), |raw| {
            raw.parse::<SmtpTls>()
        })
        .unwrap_or(SmtpTls::StartTls);
        let port = match smtp.port {
            Some(port) => in_range(problems, "notifier.smtp.port", port, PORT)
                .map_or(tls.default_port(), |port| port as u16),
            None => tls.default_port(),
        };
        let password = secret::resolve(
            problems,
            "notifier.smtp.password",
            &smtp.password,
            &smtp.password_file,
        );
        let password_given = smtp.password.is_some() || smtp.password_file.is_some();
        let credentials = match (&smtp.username, password) {
            (Some(username), Some(password)) => Some(SmtpCredentials {
                username: username.clone(),
                password,
            }),
            (None, None) if !password_given => None,
            (Some(_), None) => {
                if !password_given {
                    problems.push("notifier.smtp.password", "required with a user name");
                }
                None
            }
            (None, _) => {
                problems.push("notifier.smtp.username", "required with a password");
                None
            }
        };
        Some(SmtpConfig {
            host: host?,
            port,
            tls,
            ca_file: smtp.ca_file.clone(),
            credentials,
            hello_name: smtp.helo_name.clone(),
            timeout: smtp::DEFAULT_TIMEOUT,
        })
    }

    fn webhook(&self, problems: &mut Problems) -> Option<WebhookConfig> {
        let webhook = &self.notifier.webhook;
        let url = required(problems, "notifier.webhook.url", &webhook.url, "webhook");
        let given = webhook.secret.is_some() || webhook.secret_file.is_some();
        let secret = secret::resolve(
            problems,
            "notifier.webhook.secret",
            &webhook.secret,
            &webhook.secret_file,
        );
        if !given {
            problems.push(
                "notifier.webhook.secret",
                "required with notifier.kind = webhook",
            );
        }
        Some(WebhookConfig {
            url: url?,
            secret: secret?,
            timeout: webhook::DEFAULT_TIMEOUT,
        })
    }

    /// Where the JWT secret comes from: given explicitly, or generated into the data directory
    /// by `onboard up` when not.
    pub fn jwt_source(&self, problems: &mut Problems) -> SecretSource {
        let auth = &self.auth;
        let secret = secret::resolve(
            problems,
            "auth.jwt_secret",
            &auth.jwt_secret,
            &auth.jwt_secret_file,
        );
        // The same rule the authenticator applies when it takes the secret.
        if let Some(secret) = &secret {
            if let Err(invalid) = JwtSecret::new(secret.expose().trim().as_bytes().to_vec()) {
                problems.push("auth.jwt_secret", invalid.to_string());
            }
        }
        SecretSource {
            inline: secret,
            file: None,
        }
    }

    /// The token `onboard watch` presents, when one is configured.
    pub fn watch_token(&self, problems: &mut Problems) -> Option<Secret> {
        let watch = &self.watch;
        secret::resolve(problems, "watch.token", &watch.token, &watch.token_file)
    }

    fn consumer_settings(&self, role: Role, settings: &mut Settings, problems: &mut Problems) {
        let section = &self.consumer;
        let consumer = &mut settings.consumer;
        if section.group.trim().is_empty() {
            problems.push("consumer.group", "is empty");
        }
        consumer.group = section.group.clone();
        if let Some(size) = in_range(
            problems,
            "consumer.batch_size",
            section.batch_size,
            BATCH_SIZE,
        ) {
            consumer.batch_size = size as usize;
        }
        if let Some(start) = parse(
            problems,
            "consumer.starting_position",
            Some(section.starting_position.as_str()),
            StartFrom::parse,
        ) {
            consumer.start_from = start;
        }
        let topic = parse(
            problems,
            "consumer.topic",
            section.topic.as_deref(),
            |raw| Topic::parse(raw.trim()),
        );
        // One topic is how a consumer process is scaled out; `onboard up` consumes all six.
        if let (Some(topic), Role::Consumer | Role::Lambda) = (topic, role) {
            consumer.topics = vec![topic];
        }
        consumer.operator_address = section.operator_email.clone();
        if let Some(per_minute) = in_range(
            problems,
            "consumer.operator_alerts_per_minute",
            section.operator_alerts_per_minute,
            1..=600,
        ) {
            consumer.operator_alerts_per_minute = per_minute as u32;
        }
    }

    fn gateway_settings(&self, role: Role, settings: &mut Settings, problems: &mut Problems) {
        let section = &self.gateway;
        let gateway = &mut settings.gateway;
        let ttl = seconds(
            problems,
            "gateway.ttl_seconds",
            section.ttl_seconds,
            WS_TTL_SECONDS,
        );
        let heartbeat = seconds(
            problems,
            "gateway.heartbeat_seconds",
            section.heartbeat_seconds,
            WS_INTERVAL_SECONDS,
        );
        let sweep = seconds(
            problems,
            "gateway.sweep_seconds",
            section.sweep_seconds,
            WS_INTERVAL_SECONDS,
        );
        if let (Some(ttl), Some(heartbeat)) = (ttl, heartbeat) {
            if heartbeat >= ttl {
                problems.push(
                    "gateway.heartbeat_seconds",
                    "must be shorter than gateway.ttl_seconds, or rows expire between heartbeats",
                );
            }
        }
        gateway.ttl = ttl.unwrap_or(gateway.ttl);
        gateway.heartbeat = heartbeat.unwrap_or(gateway.heartbeat);
        gateway.sweep_interval = sweep.unwrap_or(gateway.sweep_interval);
        // Only a gateway node of its own is reached from outside; `onboard up` is its own.
        if role == Role::Gateway {
            if let Some(url) = &section.advertise_url {
                gateway.node_url = url.trim().to_owned();
            }
            if let Some(node_id) = &section.node_id {
                gateway.node_id = node_id.trim().to_owned();
            }
        }
        gateway.allowed_origins = section.allowed_origins.clone();
        if let Some(max) = in_range(
            problems,
            "gateway.max_connections_per_customer",
            section.max_connections_per_customer,
            1..=10_000,
        ) {
            gateway.max_connections_per_customer = max as usize;
        }
        if let Some(max) = in_range(
            problems,
            "gateway.max_connections",
            section.max_connections,
            1..=1_000_000,
        ) {
            gateway.max_connections = max as usize;
        }
    }
}

/// `raw` parsed, or `None` after recording why not (also `None` when unset).
fn parse<T, E: std::fmt::Display>(
    problems: &mut Problems,
    key: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    match parse(raw?) {
        Ok(value) => Some(value),
        Err(reason) => {
            problems.push(key, reason.to_string());
            None
        }
    }
}

/// A whole number of seconds in `range` as a duration, or `None` after recording why not.
fn seconds(
    problems: &mut Problems,
    key: &str,
    value: i64,
    range: RangeInclusive<i64>,
) -> Option<Duration> {
    in_range(problems, key, value, range).map(|s| Duration::from_secs(s as u64))
}

fn in_range(
    problems: &mut Problems,
    key: &str,
    value: i64,
    range: RangeInclusive<i64>,
) -> Option<i64> {
    if range.contains(&value) {
        Some(value)
    } else {
        problems.push(
            key,
            format!("{value} is outside {}..={}", range.start(), range.end()),
        );
        None
    }
}

fn required(
    problems: &mut Problems,
    key: &str,
    value: &Option<String>,
    kind: &str,
) -> Option<String> {
    let value = value.as_ref().filter(|v| !v.trim().is_empty()).cloned();
    if value.is_none() {
        problems.push(key, format!("required with notifier.kind = {kind}"));
    }
    value
}
