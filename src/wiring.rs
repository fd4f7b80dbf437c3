//! The adapters a process uses: which store, event bus and notifier, and opening them.
//!
//! The embedded defaults (SQLite file, embedded log, Maildir) live in the data directory;
//! `src/config` chooses the production adapters (`store.kind`, `bus.kind`, `notifier.kind`).

use crate::adapters::apigateway_pusher::{ApiGatewayPusher, ManagementEndpoint};
use crate::adapters::dynamodb::{DynamoStore, TableNames};
use crate::adapters::embedded_bus::{EmbeddedBus, EmbeddedOptions};
use crate::adapters::http_pusher::HttpPusher;
use crate::adapters::kafka::{KafkaBus, KafkaSettings};
use crate::adapters::maildir::MaildirNotifier;
use crate::adapters::postgres::{AppliedMigration, DatabaseUrl, PostgresStore};
use crate::adapters::smtp::{SmtpConfig, SmtpNotifier};
use crate::adapters::sqlite::SqliteStore;
use crate::adapters::webhook::{WebhookConfig, WebhookNotifier};
use crate::ports::bus::EventBus;
use crate::ports::notifier::Notifier;
use crate::ports::pusher::Pusher;
use crate::ports::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File and folder names inside the data directory.
pub mod layout {
    pub const DATABASE: &str = "onboard.db";
    pub const BUS: &str = "bus";
    pub const MAILDIR: &str = "mail";
    pub const DOCUMENTS: &str = "documents";
}

/// Which store a process uses.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    /// One SQLite file (embedded default).
    Sqlite { path: PathBuf },
    /// A PostgreSQL database shared by every process (`DATABASE_URL`); prints without password.
    /// This process opens at most `max_connections` to it (`store.max_connections`).
    Postgres {
        url: DatabaseUrl,
        max_connections: u32,
    },
    /// Amazon DynamoDB tables shared by every process and Lambda function; the endpoint and
    /// credentials are the AWS SDK's (`AWS_ENDPOINT_URL` for a local emulator).
    Dynamodb {
        region: Option<String>,
        tables: Box<TableNames>,
    },
}

/// What `onboard migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migrated {
    /// SQL migrations applied (empty when up to date).
    Schema(Vec<AppliedMigration>),
    /// DynamoDB tables created (empty when every table existed).
    Tables(Vec<String>),
}

impl StoreSettings {
    /// The embedded default inside `data_dir`.
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Sqlite {
            path: data_dir.join(layout::DATABASE),
        }
    }

    /// Opens the store, applying pending migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            Self::Sqlite { path } => Ok(SqliteStore::open(path).await?),
            Self::Postgres {
                url,
                max_connections,
            } => Ok(PostgresStore::open(url, *max_connections)
                .await
                .map_err(|e| anyhow::anyhow!("PostgreSQL at {url}: {e}"))?),
            // The tables are created by `onboard migrate` or the CloudFormation stack, never by
            // a function at start-up (its role may not create tables).
            Self::Dynamodb { region, tables } => {
                Ok(DynamoStore::open(region.as_deref(), TableNames::clone(tables)).await)
            }
        }
    }

    /// Applies pending migrations (SQL) or creates missing tables (DynamoDB) and lists what
    /// it did (empty when up to date).
    pub async fn migrate(&self) -> anyhow::Result<Migrated> {
        match self {
            Self::Sqlite { path } => {
                let (store, applied) = SqliteStore::open_migrated(path).await?;
                store.close().await;
                Ok(Migrated::Schema(applied))
            }
            Self::Postgres {
                url,
                max_connections,
            } => {
                let failed = |e| anyhow::anyhow!("PostgreSQL at {url}: {e}");
                let store = PostgresStore::connect(url, *max_connections)
                    .await
                    .map_err(failed)?;
                let applied = store.migrate().await.map_err(failed);
                store.close().await;
                applied.map(Migrated::Schema)
            }
            Self::Dynamodb { region, tables } => {
                let store = DynamoStore::open(region.as_deref(), TableNames::clone(tables)).await;
                let created = store
                    .migrate()
                    .await
                    .map_err(|e| anyhow::anyhow!("DynamoDB: {e}"))?;
                Ok(Migrated::Tables(created))
            }
        }
    }

    /// Where the store lives, for messages (never with a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("SQLite file {}", path.display()),
            Self::Postgres { url, .. } => format!("PostgreSQL {url}"),
            Self::Dynamodb { region, tables } => format!(
                "DynamoDB in {} (tables {}, …)",
                region.as_deref().unwrap_or("the SDK's default region"),
                tables.users
            ),
        }
    }
}

/// Which event bus a process uses.
#[derive(Debug, Clone)]
pub enum BusSettings {
    /// The embedded single-process log (embedded default).
    Embedded {
        dir: PathBuf,
        /// Size at which a partition's active segment rolls (retention deletes whole segments).
        segment_bytes: u64,
    },
    /// Apache Kafka or MSK (production); the settings keep the password out of `Debug`.
    Kafka(KafkaSettings),
}

/// The kind of bus (`bus.kind`, `--bus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    Embedded,
    Kafka,
}

impl BusKind {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "embedded" => Ok(Self::Embedded),
            "kafka" => Ok(Self::Kafka),
            other => Err(format!("unknown bus '{other}'; expected embedded or kafka")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Kafka => "kafka",
        }
    }
}

impl BusSettings {
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Embedded {
            dir: data_dir.join(layout::BUS),
            segment_bytes: crate::adapters::embedded_bus::DEFAULT_SEGMENT_BYTES,
        }
    }

    /// Whether several processes can share this bus (the embedded log belongs to one process).
    pub fn is_shared(&self) -> bool {
        match self {
            Self::Embedded { .. } => false,
            Self::Kafka(_) => true,
        }
    }

    /// Replication factor for topics this process creates (the embedded log keeps one copy).
    pub fn replication_factor(&self) -> i16 {
        match self {
            Self::Embedded { .. } => 1,
            Self::Kafka(kafka) => kafka.replication_factor,
        }
    }

    pub async fn open(&self) -> anyhow::Result<Arc<dyn EventBus>> {
        match self {
            Self::Embedded { dir, segment_bytes } => {
                let dir = dir.clone();
                let options = EmbeddedOptions {
                    segment_bytes: *segment_bytes,
                };
                // Opening scans every log: keep it off the async workers.
                let bus =
                    tokio::task::spawn_blocking(move || EmbeddedBus::open_with(&dir, options))
                        .await??;
                Ok(bus)
            }
            Self::Kafka(kafka) => Ok(KafkaBus::connect(kafka.clone()).await?),
        }
    }
}

/// Which notifier a process uses; secrets inside print as `Secret(redacted)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifierSettings {
    /// One local Maildir (embedded default).
    Maildir { dir: PathBuf },
    /// An SMTP server.
    Smtp(SmtpConfig),
    /// A signed HTTP POST per notification.
    Webhook(WebhookConfig),
    /// One SNS topic (the seed's `SNS_TOPIC_ARN`).
    Sns(crate::adapters::sns::SnsConfig),
}

impl NotifierSettings {
    /// The embedded default inside `data_dir`.
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Maildir {
            dir: data_dir.join(layout::MAILDIR),
        }
    }

    /// Builds the notifier; `mail_from` is the `From` of e-mails (Maildir and SMTP).
    pub async fn open(&self, mail_from: &str) -> anyhow::Result<Arc<dyn Notifier>> {
        Ok(match self {
            Self::Sns(config) => Arc::new(crate::adapters::sns::SnsNotifier::open(config).await),
            Self::Maildir { dir } => Arc::new(MaildirNotifier::new(dir.clone(), mail_from.into())?),
            Self::Smtp(config) => Arc::new(SmtpNotifier::new(config.clone(), mail_from)?),
            Self::Webhook(config) => Arc::new(WebhookNotifier::new(config.clone())?),
        })
    }
}

/// How a process reaches WebSocket connections that another process holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PusherSettings {
    /// Onboard's own gateway nodes, through each node's management API (the default).
    #[default]
    GatewayNodes,
    /// An API Gateway WebSocket API (`gateway.advertise_url` / `WEBSOCKET_ENDPOINT` is `wss://`),
    /// through its SigV4-signed `@connections` API.
    ApiGateway {
        endpoint: ManagementEndpoint,
        region: Option<String>,
    },
}

impl PusherSettings {
    /// The pusher; `management_token` authenticates to Onboard's gateway nodes.
    pub async fn open(&self, management_token: &str) -> Arc<dyn Pusher> {
        match self {
            Self::GatewayNodes => Arc::new(HttpPusher::new(management_token.to_owned())),
            Self::ApiGateway { endpoint, region } => {
                Arc::new(ApiGatewayPusher::open(endpoint, region.as_deref()).await)
            }
        }
    }
}
