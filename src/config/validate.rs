//! From a layered [`Config`] to the settings a process runs with: every value parsed, every
//! rule checked, every problem collected (the same for `onboard check-config` and a starting
//! role).

use super::problems::Problems;
use super::secret;
use super::tree::Config;
use crate::adapters::apigateway_pusher::ManagementEndpoint;
use crate::adapters::dynamodb::TableNames;
use crate::adapters::fs_documents::DocumentSettings;
use crate::adapters::kafka::{GroupProtocol, KafkaSettings, SecurityProtocol};
use crate::adapters::postgres::{default_max_connections, DatabaseUrl};
use crate::adapters::s3_documents::S3Config;
use crate::adapters::secret::Secret;
use crate::adapters::smtp::{self, SmtpConfig, SmtpCredentials, SmtpTls};
use crate::adapters::sns::SnsConfig;
use crate::adapters::webhook::{self, WebhookConfig};
use crate::app::{Roles, Settings};
use crate::auth::oidc::OidcSettings;
use crate::auth::{JwtSecret, SecretSource};
use crate::domain::event::Topic;
use crate::ports::bus::{StartFrom, TopicNames};
use crate::wiring::{
    layout, BusKind, BusSettings, NotifierSettings, PusherSettings, StoreSettings,
};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// What a process runs as; `lambda` is a function of `onboard lambda` (`roles::lambda`).
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
const SEGMENT_BYTES: RangeInclusive<i64> = 1_024..=1_073_741_824;
const LIFECYCLE_INTERVAL_SECONDS: RangeInclusive<i64> = 1..=86_400;
/// One hour to ten years.
const RETENTION_HOURS: RangeInclusive<i64> = 1..=87_600;
/// PostgreSQL's own default `max_connections` is 100 for the whole server; a pool of more than
/// 1,000 from one process is a typo, not a plan.
const STORE_CONNECTIONS: RangeInclusive<i64> = 1..=1_000;

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
        let defaults = TableNames::for_environment(&self.environment);
        let tables = &mut self.store.tables;
        for (table, default) in [
            (&mut tables.users, defaults.users),
            (&mut tables.applications, defaults.applications),
            (&mut tables.kyc_results, defaults.kyc_results),
            (&mut tables.audit, defaults.audit),
            (&mut tables.websocket, defaults.websocket),
            (&mut tables.events, defaults.events),
            (&mut tables.outbox, defaults.outbox),
            (&mut tables.idempotency, defaults.idempotency),
            (&mut tables.notifications, defaults.notifications),
            (&mut tables.documents, defaults.documents),
            (&mut tables.recommendations, defaults.recommendations),
            (&mut tables.projections, defaults.projections),
            (&mut tables.counters, defaults.counters),
            (&mut tables.operations, defaults.operations),
        ] {
            table.get_or_insert(default);
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
        settings.oidc = self.oidc_settings(problems);
        self.check_role_rules(role, &settings, problems);
        self.consumer_settings(role, &mut settings, problems);
        if let Some(stalls) = self.stall_settings(problems) {
            settings.stalls = stalls;
        }
        self.gateway_settings(role, &mut settings, problems);
        if let Some(documents) = self.document_settings(problems) {
            settings.documents = documents;
        }
        settings.web_dir = self.web.dir.clone();
        // Anyone who reaches /dev/token gets a token for any customer: only a development
        // process serves it, one nobody else can reach unless it is said to be one.
        settings.dev_token_endpoint =
            role == Role::Up && (listen.ip().is_loopback() || self.auth.dev_token);
        self.edge_settings(&mut settings, problems);
        self.lifecycle_settings(&mut settings, problems);
        settings.roles = role.roles();
        settings
    }

    /// How often and how far data is aged out.
    fn lifecycle_settings(&self, settings: &mut Settings, problems: &mut Problems) {
        let section = &self.lifecycle;
        let config = &mut settings.lifecycle;
        let hours = |problems: &mut Problems, key: &str, value: i64| {
            in_range(problems, key, value, RETENTION_HOURS)
                .map(|h| Duration::from_secs(h as u64 * 3_600))
        };
        if let Some(interval) = seconds(
            problems,
            "lifecycle.interval_seconds",
            section.interval_seconds,
            LIFECYCLE_INTERVAL_SECONDS,
        ) {
            config.interval = interval;
        }
        if let Some(age) = hours(
            problems,
            "lifecycle.outbox_retention_hours",
            section.outbox_retention_hours,
        ) {
            config.outbox_retention = age;
        }
        if let Some(age) = hours(
            problems,
            "lifecycle.idempotency_retention_hours",
            section.idempotency_retention_hours,
        ) {
            config.idempotency_retention = age;
        }
        if let Some(batch) = in_range(
            problems,
            "lifecycle.batch_size",
            section.batch_size,
            BATCH_SIZE,
        ) {
            config.batch_size = batch as u32;
        }
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
        if let Some(timeout) = seconds(
            problems,
            "http.request_timeout_seconds",
            self.http.request_timeout_seconds,
            1..=86400,
        ) {
            settings.http.request_timeout = timeout;
        }
        if let Some(timeout) = seconds(
            problems,
            "http.idle_timeout_seconds",
            self.http.idle_timeout_seconds,
            1..=3600,
        ) {
            settings.http.idle_timeout = timeout;
        }
        // hyper's header-read clock also runs while a connection waits for its next request,
        // so a longer idle timeout would silently be cut to the header-read one.
        if self.http.idle_timeout_seconds > self.http.header_read_timeout_seconds {
            problems.push(
                "http.idle_timeout_seconds",
                format!(
                    "{} exceeds http.header_read_timeout_seconds ({}): a connection waiting for \
                     its next request is also reading a head, so it would close sooner",
                    self.http.idle_timeout_seconds, self.http.header_read_timeout_seconds
                ),
            );
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
        settings.metrics_listen = parse(
            problems,
            "metrics.listen",
            self.metrics.listen.as_deref(),
            |raw| raw.trim().parse::<SocketAddr>().map_err(|e| e.to_string()),
        );
        if settings
            .metrics_listen
            .is_some_and(|metrics| metrics == settings.listen && metrics.port() != 0)
        {
            problems.push(
                "metrics.listen",
                "is the same address as listen; give /metrics an address of its own",
            );
        }
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
        if let Some(raw) = &self.telemetry.otlp_endpoint {
            if let Err(reason) = crate::otlp::traces_url(raw) {
                problems.push("telemetry.otlp_endpoint", reason);
            }
        }
        if self.telemetry.service_name.trim().is_empty() {
            problems.push("telemetry.service_name", "must not be empty");
        }
    }

    /// The store (PostgreSQL or the SQLite file in the data directory).
    pub fn store_settings(&self, problems: &mut Problems) -> StoreSettings {
        let url = secret::resolve(problems, "store.url", &self.store.url, &self.store.url_file);
        let embedded = StoreSettings::embedded(&self.data_dir);
        let max_connections = in_range(
            problems,
            "store.max_connections",
            self.store.max_connections,
            STORE_CONNECTIONS,
        );
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
                    Ok(url) => StoreSettings::Postgres {
                        url,
                        max_connections: max_connections
                            .map_or_else(default_max_connections, |max| max as u32),
                    },
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
            "dynamodb" => match self.dynamodb_tables(problems) {
                Some(tables) => StoreSettings::Dynamodb {
                    region: self.aws.region.clone(),
                    tables: Box::new(tables),
                },
                None => embedded,
            },
            other => {
                problems.push(
                    "store.kind",
                    format!("'{other}' is not a store (expected sqlite, postgres or dynamodb)"),
                );
                embedded
            }
        }
    }

    /// The DynamoDB table names (defaults from `environment` where unset), each checked
    /// against DynamoDB's naming rule; `None` after recording the problems.
    fn dynamodb_tables(&self, problems: &mut Problems) -> Option<TableNames> {
        let defaults = TableNames::for_environment(&self.environment);
        let t = &self.store.tables;
        let pick = |set: &Option<String>, default: String| set.clone().unwrap_or(default);
        let names = TableNames {
            users: pick(&t.users, defaults.users),
            applications: pick(&t.applications, defaults.applications),
            kyc_results: pick(&t.kyc_results, defaults.kyc_results),
            audit: pick(&t.audit, defaults.audit),
            websocket: pick(&t.websocket, defaults.websocket),
            events: pick(&t.events, defaults.events),
            outbox: pick(&t.outbox, defaults.outbox),
            idempotency: pick(&t.idempotency, defaults.idempotency),
            notifications: pick(&t.notifications, defaults.notifications),
            documents: pick(&t.documents, defaults.documents),
            recommendations: pick(&t.recommendations, defaults.recommendations),
            projections: pick(&t.projections, defaults.projections),
            counters: pick(&t.counters, defaults.counters),
            operations: pick(&t.operations, defaults.operations),
        };
        let before = problems.0.len();
        let keys = [
            ("users", &names.users),
            ("applications", &names.applications),
            ("kyc_results", &names.kyc_results),
            ("audit", &names.audit),
            ("websocket", &names.websocket),
            ("events", &names.events),
            ("outbox", &names.outbox),
            ("idempotency", &names.idempotency),
            ("notifications", &names.notifications),
            ("documents", &names.documents),
            ("recommendations", &names.recommendations),
            ("projections", &names.projections),
            ("counters", &names.counters),
            ("operations", &names.operations),
        ];
        let mut seen = std::collections::HashSet::new();
        for (key, name) in keys {
            let valid = (3..=255).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                problems.push(
                    format!("store.tables.{key}"),
                    format!(
                        "'{name}' is not a DynamoDB table name (3 to 255 of a-z A-Z 0-9 _ - .)"
                    ),
                );
            } else if !seen.insert(name.as_str()) {
                problems.push(
                    format!("store.tables.{key}"),
                    format!("'{name}' is already the name of another table"),
                );
            }
        }
        (problems.0.len() == before).then_some(names)
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
            let segment_bytes = in_range(
                problems,
                "bus.segment_bytes",
                self.bus.segment_bytes,
                SEGMENT_BYTES,
            );
            return match (embedded, segment_bytes) {
                (BusSettings::Embedded { dir, .. }, Some(bytes)) => BusSettings::Embedded {
                    dir,
                    segment_bytes: bytes as u64,
                },
                (embedded, _) => embedded,
            };
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
        if let Some(raw) = kafka.group_protocol.as_deref() {
            if let Some(protocol) = parse(problems, "bus.kafka.group_protocol", Some(raw), |raw| {
                GroupProtocol::parse(raw)
            }) {
                settings.group_protocol = protocol;
            }
        }
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

    /// The notifier: the Maildir in the data directory, SMTP or a webhook.
    pub fn notifier_settings(&self, problems: &mut Problems) -> NotifierSettings {
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
            "sns" => self.sns(problems).map_or(maildir, NotifierSettings::Sns),
            other => {
                problems.push(
                    "notifier.kind",
                    format!("'{other}' is not a notifier (expected maildir, smtp, webhook or sns)"),
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

    fn sns(&self, problems: &mut Problems) -> Option<SnsConfig> {
        let key = "notifier.sns.topic_arn";
        let topic_arn = required(problems, key, &self.notifier.sns.topic_arn, "sns")?;
        let topic_arn = topic_arn.trim().to_owned();
        if let Err(reason) = SnsConfig::check_topic_arn(&topic_arn) {
            problems.push(key, reason);
            return None;
        }
        Some(SnsConfig {
            topic_arn,
            region: self.aws.region.clone(),
        })
    }

    /// `None` when the documents section leaves the embedded default, or has a problem.
    fn document_settings(&self, problems: &mut Problems) -> Option<DocumentSettings> {
        let section = &self.documents;
        let kind = section.kind.as_deref().unwrap_or("fs");
        match kind.trim().to_ascii_lowercase().as_str() {
            "fs" => section
                .dir
                .clone()
                .map(|dir| DocumentSettings::Filesystem { dir }),
            "s3" => {
                let bucket = section.bucket.as_deref().map(str::trim).unwrap_or("");
                let bucket_ok = if bucket.is_empty() {
                    problems.push("documents.bucket", "required with documents.kind = s3");
                    false
                } else if let Err(reason) = S3Config::check_bucket(bucket) {
                    problems.push("documents.bucket", reason);
                    false
                } else {
                    true
                };
                let prefix = S3Config::normalise_prefix(section.prefix.as_deref().unwrap_or(""))
                    .map_err(|reason| problems.push("documents.prefix", reason))
                    .ok();
                Some(DocumentSettings::S3(S3Config {
                    bucket: bucket.to_owned(),
                    prefix: prefix?,
                    region: self.aws.region.clone(),
                }))
                .filter(|_| bucket_ok)
            }
            other => {
                problems.push(
                    "documents.kind",
                    format!("'{other}' is not a document store (expected fs or s3)"),
                );
                None
            }
        }
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

    /// The OpenID Connect issuer customers sign in with, when `auth.oidc.issuer` is set.
    pub fn oidc_settings(&self, problems: &mut Problems) -> Option<OidcSettings> {
        let oidc = &self.auth.oidc;
        let given = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let (issuer, audience) = (given(&oidc.issuer), given(&oidc.audience));
        let Some(issuer) = issuer else {
            for (key, value) in [
                ("auth.oidc.audience", &oidc.audience),
                ("auth.oidc.jwks_url", &oidc.jwks_url),
                ("auth.oidc.client_id", &oidc.client_id),
            ] {
                if given(value).is_some() {
                    problems.push(key, "is set but auth.oidc.issuer is not");
                }
            }
            return None;
        };
        let issuer_ok = provider_url(problems, "auth.oidc.issuer", &issuer).is_some();
        let jwks_url = given(&oidc.jwks_url)
            .map(|raw| provider_url(problems, "auth.oidc.jwks_url", &raw).ok_or(()))
            .transpose();
        if audience.is_none() {
            problems.push(
                "auth.oidc.audience",
                "required with an issuer (the app client id), or tokens the issuer made for any \
                 other application would be accepted",
            );
        }
        let customer_claim = oidc.customer_claim.trim().to_owned();
        if customer_claim.is_empty() {
            problems.push("auth.oidc.customer_claim", "is empty");
        }
        let scopes = oidc.scopes.split_whitespace().collect::<Vec<_>>().join(" ");
        if !scopes.split(' ').any(|scope| scope == "openid") {
            problems.push(
                "auth.oidc.scopes",
                format!("'{scopes}' lacks openid, without which there is no ID token"),
            );
        }
        let audience = audience?;
        let (true, Ok(jwks_url)) = (issuer_ok, jwks_url) else {
            return None;
        };
        Some(OidcSettings {
            client_id: given(&oidc.client_id).unwrap_or_else(|| audience.clone()),
            issuer,
            audience,
            jwks_url,
            customer_claim,
            scopes,
        })
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

    /// The stall thresholds: `stalls.after` for every in-progress status, then `stalls.by_state`.
    fn stall_settings(&self, problems: &mut Problems) -> Option<crate::roles::stalls::StallConfig> {
        use crate::domain::workflow::ApplicationStatus;
        let threshold = |raw: &str| -> Result<Option<std::time::Duration>, String> {
            let raw = raw.trim();
            if raw.eq_ignore_ascii_case("off") {
                return Ok(None);
            }
            match humantime::parse_duration(raw) {
                Ok(d) if d >= std::time::Duration::from_secs(1) => Ok(Some(d)),
                Ok(_) => Err(format!("'{raw}' is shorter than one second")),
                Err(e) => Err(format!(
                    "'{raw}' is not a duration such as 30m, 2h or 90s, nor off: {e}"
                )),
            }
        };
        let before = problems.0.len();
        let default = threshold(&self.stalls.after)
            .map_err(|e| problems.push("stalls.after", e))
            .ok()
            .flatten();
        let mut thresholds: Vec<(ApplicationStatus, Option<std::time::Duration>)> =
            ApplicationStatus::IN_PROGRESS
                .iter()
                .map(|s| (*s, default))
                .collect();
        for item in &self.stalls.by_state {
            let Some((status, raw)) = item.split_once('=') else {
                problems.push(
                    "stalls.by_state",
                    format!("'{item}' is not STATUS=duration"),
                );
                continue;
            };
            let Some(slot) = thresholds
                .iter_mut()
                .find(|(s, _)| s.as_str() == status.trim())
            else {
                let names: Vec<&str> = ApplicationStatus::IN_PROGRESS
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                problems.push(
                    "stalls.by_state",
                    format!(
                        "'{}' is not an in-progress status ({})",
                        status.trim(),
                        names.join(", ")
                    ),
                );
                continue;
            };
            match threshold(raw) {
                Ok(after) => slot.1 = after,
                Err(e) => problems.push("stalls.by_state", format!("{}: {e}", status.trim())),
            }
        }
        (problems.0.len() == before).then(|| crate::roles::stalls::StallConfig {
            thresholds: thresholds
                .into_iter()
                .filter_map(|(s, after)| after.map(|a| (s, a)))
                .collect(),
        })
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
        self.pusher_settings(role, settings, problems);
        let gateway = &mut settings.gateway;
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
        if let Some(batch) = in_range(
            problems,
            "gateway.deregistration_batch",
            section.deregistration_batch,
            1..=10_000,
        ) {
            gateway.deregistration_batch = batch as usize;
        }
    }
}

impl Config {
    /// A `wss://` `gateway.advertise_url` (the seed's `WEBSOCKET_ENDPOINT`) names an API Gateway
    /// WebSocket API: consumers and Lambda functions push through its management API. A Lambda
    /// function has no gateway node of its own to advertise, so any other URL is a mistake there.
    fn pusher_settings(&self, role: Role, settings: &mut Settings, problems: &mut Problems) {
        const KEY: &str = "gateway.advertise_url";
        let Some(url) = self.gateway.advertise_url.as_deref().map(str::trim) else {
            return;
        };
        if !url.starts_with("wss://") {
            if role == Role::Lambda {
                problems.push(
                    KEY,
                    "a Lambda function pushes through API Gateway: WEBSOCKET_ENDPOINT must be its wss://<api-id>.execute-api.<region>.amazonaws.com/<stage>",
                );
            }
            return;
        }
        if role == Role::Gateway {
            problems.push(
                KEY,
                "a gateway node advertises the http(s) URL of its own management API; a wss:// URL names an API Gateway WebSocket API",
            );
            return;
        }
        match ManagementEndpoint::from_websocket_url(url) {
            Ok(endpoint) => {
                settings.pusher = PusherSettings::ApiGateway {
                    endpoint,
                    region: self.aws.region.clone().filter(|r| !r.trim().is_empty()),
                }
            }
            Err(reason) => problems.push(KEY, reason),
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

/// A URL of the identity provider: keys fetched over plain HTTP could be swapped by anyone on
/// the path, so `http` is accepted for a loopback host only (a provider in a test or on the
/// same machine).
fn provider_url(problems: &mut Problems, key: &str, raw: &str) -> Option<reqwest::Url> {
    let url = match reqwest::Url::parse(raw) {
        Ok(url) => url,
        Err(error) => {
            problems.push(key, format!("'{raw}' is not a URL: {error}"));
            return None;
        }
    };
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        problems.push(key, format!("'{raw}' has no host"));
        return None;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Some(url),
        "http" if loopback => Some(url),
        "http" => {
            problems.push(
                key,
                format!("'{raw}' must use https (plain http only for localhost)"),
            );
            None
        }
        other => {
            problems.push(key, format!("'{raw}' is a {other} URL, not https"));
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
