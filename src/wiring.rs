//! Choosing the adapters: which store and which event bus a process uses, from its settings.
//!
//! The embedded defaults (SQLite file, embedded log) live in the data directory; production
//! adapters are selected by configuration (`DATABASE_URL`, `KAFKA_BROKERS`).

use crate::adapters::embedded_bus::EmbeddedBus;
use crate::adapters::kafka::{KafkaBus, KafkaSettings};
use crate::adapters::postgres::{AppliedMigration, DatabaseUrl, PostgresStore};
use crate::adapters::sqlite::SqliteStore;
use crate::ports::bus::EventBus;
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
    Postgres { url: DatabaseUrl },
}

impl StoreSettings {
    /// The embedded default inside `data_dir`.
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Sqlite {
            path: data_dir.join(layout::DATABASE),
        }
    }

    /// PostgreSQL when `DATABASE_URL` is set (and not empty), else the embedded default.
    pub fn from_env(data_dir: &Path) -> anyhow::Result<Self> {
        match std::env::var("DATABASE_URL") {
            Ok(raw) if !raw.trim().is_empty() => Ok(Self::Postgres {
                url: DatabaseUrl::parse(&raw)?,
            }),
            _ => Ok(Self::embedded(data_dir)),
        }
    }

    /// Opens the store, applying pending migrations.
    pub async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        match self {
            Self::Sqlite { path } => Ok(SqliteStore::open(path).await?),
            Self::Postgres { url } => Ok(PostgresStore::open(url)
                .await
                .map_err(|e| anyhow::anyhow!("PostgreSQL at {url}: {e}"))?),
        }
    }

    /// Applies pending migrations and lists the ones applied (empty when up to date).
    pub async fn migrate(&self) -> anyhow::Result<Vec<AppliedMigration>> {
        match self {
            Self::Sqlite { path } => {
                let (store, applied) = SqliteStore::open_migrated(path).await?;
                store.close().await;
                Ok(applied)
            }
            Self::Postgres { url } => {
                let failed = |e| anyhow::anyhow!("PostgreSQL at {url}: {e}");
                let store = PostgresStore::connect(url).await.map_err(failed)?;
                let applied = store.migrate().await.map_err(failed);
                store.close().await;
                applied
            }
        }
    }

    /// Where the store lives, for messages (never with a password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("SQLite file {}", path.display()),
            Self::Postgres { url } => format!("PostgreSQL {url}"),
        }
    }
}

/// Which event bus a process uses.
#[derive(Debug, Clone)]
pub enum BusSettings {
    /// The embedded single-process log (embedded default).
    Embedded { dir: PathBuf },
    /// Apache Kafka or MSK (production); the settings keep the password out of `Debug`.
    Kafka(KafkaSettings),
}

/// The bus asked for on the command line (`--bus`), overriding the environment's choice.
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
}

impl BusSettings {
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Embedded {
            dir: data_dir.join(layout::BUS),
        }
    }

    /// The bus the environment asks for: Kafka when `KAFKA_BROKERS` is set, the embedded
    /// default otherwise.
    pub fn from_env(data_dir: &Path) -> anyhow::Result<Self> {
        Self::choose(None, data_dir)
    }

    /// `kind` (from `--bus`) wins over the environment; Kafka needs `KAFKA_BROKERS`.
    pub fn choose(kind: Option<BusKind>, data_dir: &Path) -> anyhow::Result<Self> {
        if kind == Some(BusKind::Embedded) {
            return Ok(Self::embedded(data_dir));
        }
        match (kind, KafkaSettings::from_env()?) {
            (_, Some(kafka)) => Ok(Self::Kafka(kafka)),
            (None | Some(BusKind::Embedded), None) => Ok(Self::embedded(data_dir)),
            (Some(BusKind::Kafka), None) => anyhow::bail!(
                "--bus kafka needs KAFKA_BROKERS (host:port,...); for a local broker: eval \"$(scripts/kafka.sh env)\""
            ),
        }
    }

    /// Overrides the replication factor of topics created on Kafka (`--replication-factor`).
    pub fn with_replication_factor(mut self, factor: Option<i16>) -> Self {
        if let (Self::Kafka(kafka), Some(factor)) = (&mut self, factor) {
            kafka.replication_factor = factor;
        }
        self
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
            Self::Embedded { dir } => {
                let dir = dir.clone();
                // Opening scans every log: keep it off the async workers.
                let bus = tokio::task::spawn_blocking(move || EmbeddedBus::open(&dir)).await??;
                Ok(bus)
            }
            Self::Kafka(kafka) => Ok(KafkaBus::connect(kafka.clone()).await?),
        }
    }
}
