//! The typed configuration tree, as `onboard.example.toml` writes it: top-level `listen` and
//! `data_dir`, a section per port (store, bus, notifier, documents, auth) and per role. Values
//! stay plain here (text, whole numbers); `validate.rs` turns them into settings and reports
//! every problem at once.

use crate::adapters::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole configuration. A key left out takes its default; `None` means "decided by
/// another key" (the listen address by the role, the store by `store.url`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP address; by role when unset (`up` and `api` 127.0.0.1:8080, `consumer` :8081,
    /// `gateway` :8082).
    pub listen: Option<String>,
    /// Where the embedded database and event log, documents, mail and a generated secret live.
    pub data_dir: PathBuf,
    /// The deployment's name (the seed's `ENVIRONMENT`); part of the default table names.
    pub environment: String,
    pub log: LogSection,
    pub telemetry: TelemetrySection,
    pub store: StoreSection,
    pub bus: BusSection,
    pub notifier: NotifierSection,
    pub documents: DocumentsSection,
    pub auth: AuthSection,
    pub http: HttpSection,
    pub api: ApiSection,
    pub metrics: MetricsSection,
    pub consumer: ConsumerSection,
    pub stalls: StallsSection,
    pub gateway: GatewaySection,
    pub web: WebSection,
    pub watch: WatchSection,
    pub aws: AwsSection,
    pub lambda: LambdaSection,
    pub lifecycle: LifecycleSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: None,
            data_dir: PathBuf::from("./onboard-data"),
            environment: "dev".into(),
            log: LogSection::default(),
            telemetry: TelemetrySection::default(),
            store: StoreSection::default(),
            bus: BusSection::default(),
            notifier: NotifierSection::default(),
            documents: DocumentsSection::default(),
            auth: AuthSection::default(),
            http: HttpSection::default(),
            api: ApiSection::default(),
            metrics: MetricsSection::default(),
            consumer: ConsumerSection::default(),
            stalls: StallsSection::default(),
            gateway: GatewaySection::default(),
            web: WebSection::default(),
            watch: WatchSection::default(),
            aws: AwsSection::default(),
            lambda: LambdaSection::default(),
            lifecycle: LifecycleSection::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing` filter (`info`, `onboard=debug,sqlx=warn`).
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            filter: "info,sqlx=warn,tower_http=warn".into(),
            format: "text".into(),
        }
    }
}

/// OpenTelemetry trace export, off unless an endpoint is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySection {
    /// The OTLP/HTTP collector's base URL (`http://collector:4318`); spans go to its
    /// `/v1/traces`. Unset: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` the spans carry.
    pub service_name: String,
}

impl Default for TelemetrySection {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "onboard".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite`, `postgres` or `dynamodb`; `postgres` when `url` is set.
    pub kind: Option<String>,
    /// PostgreSQL URL (holds a password: a secret).
    pub url: Option<Secret>,
    pub url_file: Option<PathBuf>,
    /// PostgreSQL connections this process opens at most (its pool); the default depends on
    /// the CPUs this process may use.
    pub max_connections: i64,
    pub tables: TablesSection,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            kind: None,
            url: None,
            url_file: None,
            max_connections: crate::adapters::postgres::default_max_connections().into(),
            tables: TablesSection::default(),
        }
    }
}

/// The DynamoDB store's table names: the seed's five, then Onboard's own
/// (`src/adapters/dynamodb/tables.rs`). A SQL store ignores them (its tables are fixed by the
/// migrations).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TablesSection {
    pub users: Option<String>,
    pub applications: Option<String>,
    pub kyc_results: Option<String>,
    pub audit: Option<String>,
    pub websocket: Option<String>,
    pub events: Option<String>,
    pub outbox: Option<String>,
    pub idempotency: Option<String>,
    pub notifications: Option<String>,
    pub documents: Option<String>,
    pub recommendations: Option<String>,
    pub projections: Option<String>,
    pub counters: Option<String>,
    pub operations: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSection {
    /// `embedded` or `kafka`; `kafka` when `kafka.brokers` is set.
    pub kind: Option<String>,
    /// Prefix of every topic name, so environments can share one cluster (`staging.`).
    pub topic_prefix: String,
    /// Replicas of the topics Onboard creates on Kafka (the embedded log keeps one copy).
    pub replication_factor: i64,
    /// Embedded bus: bytes at which a partition's active segment file rolls; retention
    /// (`retention.ms`) deletes whole segments.
    pub segment_bytes: i64,
    pub kafka: KafkaSection,
}

impl Default for BusSection {
    fn default() -> Self {
        Self {
            kind: None,
            topic_prefix: String::new(),
            replication_factor: crate::adapters::kafka::config::DEFAULT_REPLICATION_FACTOR.into(),
            segment_bytes: crate::adapters::embedded_bus::DEFAULT_SEGMENT_BYTES as i64,
            kafka: KafkaSection::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSection {
    /// `host:port,...`.
    pub brokers: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`; `SASL_SSL` with a username.
    pub security_protocol: Option<String>,
    pub sasl_mechanism: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// `consumer` (KIP-848, Kafka 4.0 or later) or `classic` (older brokers).
    pub group_protocol: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifierSection {
    /// `maildir`, `smtp`, `webhook` or `sns`: which of the sections below is used.
    pub kind: String,
    /// `From` of customer e-mails (Maildir and SMTP).
    pub mail_from: String,
    pub maildir: MaildirSection,
    pub smtp: SmtpSection,
    pub webhook: WebhookSection,
    pub sns: SnsSection,
}

impl Default for NotifierSection {
    fn default() -> Self {
        Self {
            kind: "maildir".into(),
            mail_from: "Onboard <no-reply@onboard.local>".into(),
            maildir: MaildirSection::default(),
            smtp: SmtpSection::default(),
            webhook: WebhookSection::default(),
            sns: SnsSection::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaildirSection {
    /// Default `DATA_DIR/mail`.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSection {
    pub host: Option<String>,
    /// Default by `tls`: 25, 587 or 465.
    pub port: Option<i64>,
    /// `none`, `starttls` or `tls`.
    pub tls: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub helo_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSection {
    pub url: Option<String>,
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
}

/// The seed's SNS: one topic every notification is published to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnsSection {
    /// `arn:aws:sns:REGION:ACCOUNT:NAME`; a `.fifo` topic de-duplicates repeats.
    pub topic_arn: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsSection {
    /// `fs` (a directory, the default) or `s3` (a bucket).
    pub kind: Option<String>,
    /// Where uploaded documents are kept with `fs`; default `DATA_DIR/documents`.
    pub dir: Option<PathBuf>,
    /// The bucket with `s3`.
    pub bucket: Option<String>,
    /// A folder inside the bucket (`uploads/`); none by default.
    pub prefix: Option<String>,
}

/// How customers and nodes authenticate: the HS256 secret (development tokens, the management
/// token) and, optionally, the OpenID Connect issuer real customers sign in with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// The HS256 secret (at least 32 bytes), the same on every process.
    pub jwt_secret: Option<Secret>,
    pub jwt_secret_file: Option<PathBuf>,
    /// Serve `POST /dev/token` from `onboard up` even on a non-loopback address (`--dev`).
    pub dev_token: bool,
    /// Tokens whose `exp` lies further ahead are refused.
    pub max_token_lifetime_seconds: i64,
    pub oidc: OidcSection,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_secret_file: None,
            dev_token: false,
            max_token_lifetime_seconds: crate::auth::DEFAULT_MAX_TOKEN_LIFETIME.as_secs() as i64,
            oidc: OidcSection::default(),
        }
    }
}

/// The OpenID Connect provider customers sign in with; off while `issuer` is unset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcSection {
    /// The exact `iss` of the provider's tokens (`https://cognito-idp.REGION.amazonaws.com/POOL`).
    pub issuer: Option<String>,
    /// The `aud` tokens must carry (Cognito: the app client id, also matched against an access
    /// token's `client_id`).
    pub audience: Option<String>,
    /// The provider's JWKS; default: discovery from the issuer, then `{issuer}/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// The claim holding the customer id.
    pub customer_claim: String,
    /// The public client id the web page signs in with; default the audience.
    pub client_id: Option<String>,
    /// The scopes the web page asks for, space-separated.
    pub scopes: String,
}

impl Default for OidcSection {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            jwks_url: None,
            customer_claim: crate::auth::oidc::DEFAULT_CUSTOMER_CLAIM.into(),
            client_id: None,
            scopes: crate::auth::oidc::DEFAULT_SCOPES.into(),
        }
    }
}

/// How every role's HTTP server treats connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Seconds a connection may take to send a request's head (also the idle keep-alive limit).
    pub header_read_timeout_seconds: i64,
    /// Seconds from a request's head to its answer (a trickling body ends in 408).
    pub request_timeout_seconds: i64,
    /// Seconds an idle keep-alive connection stays open; at most the header-read timeout.
    pub idle_timeout_seconds: i64,
}

impl Default for HttpSection {
    fn default() -> Self {
        let defaults = crate::app::HttpSettings::default();
        Self {
            header_read_timeout_seconds: defaults.header_read_timeout.as_secs() as i64,
            request_timeout_seconds: defaults.request_timeout.as_secs() as i64,
            idle_timeout_seconds: defaults.idle_timeout.as_secs() as i64,
        }
    }
}

/// The producer API's limits (it also uses `listen`, `store`, `bus`, `auth`, `documents` and
/// `web`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Requests per second one customer (or one unauthenticated peer address) may make.
    pub requests_per_second: i64,
    /// Requests one customer may make at once above the steady rate.
    pub request_burst: i64,
    /// Document uploads this process reads at the same time.
    pub max_concurrent_uploads: i64,
    /// Document uploads one customer may have in flight at the same time.
    pub max_concurrent_uploads_per_customer: i64,
}

impl Default for ApiSection {
    fn default() -> Self {
        let limits = crate::roles::api::limits::ApiLimits::default();
        Self {
            requests_per_second: limits.requests_per_second.into(),
            request_burst: limits.request_burst.into(),
            max_concurrent_uploads: limits.max_concurrent_uploads as i64,
            max_concurrent_uploads_per_customer: limits.max_concurrent_uploads_per_customer as i64,
        }
    }
}

/// Stall detection (`roles::stalls`): when an application waiting in one status counts as
/// stalled, raising the gauge and one operator alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StallsSection {
    /// Threshold of every in-progress status ("30m", "2h", "90s"), or "off".
    pub after: String,
    /// Per-status thresholds overriding `after`: `STATUS=duration` (or `STATUS=off`).
    pub by_state: Vec<String>,
}

impl Default for StallsSection {
    fn default() -> Self {
        Self {
            after: "30m".into(),
            by_state: Vec::new(),
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics` without the management token (behind a network that only the scraper
    /// reaches).
    pub public: bool,
    /// `host:port` of a listener of its own for `/metrics` (no token there); `/metrics` then is
    /// not served on `listen`.
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsumerSection {
    pub group: String,
    /// Records per poll (the seed's batch size).
    pub batch_size: i64,
    /// `earliest` or `latest`: where a group without committed offsets starts.
    pub starting_position: String,
    /// Consume only this topic (the seed's `KAFKA_TOPIC`); all six when unset.
    pub topic: Option<String>,
    /// Recipient of operator alerts.
    pub operator_email: String,
    /// Operator alerts e-mailed per minute at most; failures beyond are counted and summed up
    /// in the next alert.
    pub operator_alerts_per_minute: i64,
}

impl Default for ConsumerSection {
    fn default() -> Self {
        Self {
            group: crate::roles::consumer::DEFAULT_GROUP.into(),
            batch_size: 100,
            starting_position: "earliest".into(),
            topic: None,
            operator_email: "operators@onboard.local".into(),
            operator_alerts_per_minute: crate::roles::notify::DEFAULT_ALERTS_PER_MINUTE.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySection {
    /// Seconds a connection's registry row lives without a heartbeat.
    pub ttl_seconds: i64,
    /// Seconds between server pings (each refreshes the registry row).
    pub heartbeat_seconds: i64,
    /// Seconds between sweeps of expired registry rows.
    pub sweep_seconds: i64,
    /// URL other processes reach this node's management API at; default `http://LISTEN`.
    pub advertise_url: Option<String>,
    /// This node's id in the registry; default a new id per start.
    pub node_id: Option<String>,
    /// Browser origins allowed on `/ws` besides the server's own (or `*`).
    pub allowed_origins: Vec<String>,
    /// Open WebSockets one customer may hold on one node.
    pub max_connections_per_customer: i64,
    /// Open WebSockets one node holds at most.
    pub max_connections: i64,
    /// Registry rows of closed sockets deleted by one store call (one SQL statement per 500,
    /// one DynamoDB `BatchWriteItem` per 25).
    pub deregistration_batch: i64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            ttl_seconds: 120,
            heartbeat_seconds: 30,
            sweep_seconds: 30,
            advertise_url: None,
            node_id: None,
            allowed_origins: Vec::new(),
            max_connections_per_customer: 10,
            max_connections: 10_000,
            deregistration_batch: crate::roles::gateway::GatewayConfig::default()
                .deregistration_batch as i64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebSection {
    /// The built web page served at `/` by processes that run the API.
    pub dir: PathBuf,
}

impl Default for WebSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(crate::roles::web::DEFAULT_WEB_DIR),
        }
    }
}

/// `onboard watch`: where it connects and with which token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchSection {
    pub url: String,
    /// A customer token; minted from the JWT secret when unset.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// PEM certificates trusted for a `wss://` gateway besides the webpki roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for WatchSection {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8080".into(),
            token: None,
            token_file: None,
            ca_file: None,
        }
    }
}

/// Where the AWS runtime (the AWS issue) will run; unused by the self-hosted roles.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AwsSection {
    pub region: Option<String>,
}

/// `onboard lambda` (and the binary run as `bootstrap`): which function this process serves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LambdaSection {
    /// The function's handler (the Lambda `Handler` property, `_HANDLER`): `submit-user-info`,
    /// `process-documents`, `verify-kyc`, `recommend-policy`, `complete-workflow`, `consume`,
    /// `ws-connect`, `ws-disconnect`, `ws-default` or `relay`.
    pub handler: Option<String>,
}

/// Ageing out data nobody needs any more (`src/roles/lifecycle.rs`, docs/data-lifecycle.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleSection {
    /// Seconds between purge passes (and embedded bus retention passes).
    pub interval_seconds: i64,
    /// Hours a sent outbox row is kept (for `onboard trace` and audits) before it is deleted.
    pub outbox_retention_hours: i64,
    /// Hours an idempotency key answers replays; a key reused later is a new request.
    pub idempotency_retention_hours: i64,
    /// Rows one delete statement removes at most.
    pub batch_size: i64,
}

impl Default for LifecycleSection {
    fn default() -> Self {
        Self {
            interval_seconds: 300,
            outbox_retention_hours: 7 * 24,
            idempotency_retention_hours: 30 * 24,
            batch_size: 500,
        }
    }
}
