//! Choosing the adapters: which store, event bus and notifier a process uses, from its settings.
//!
//! The embedded defaults (SQLite file, embedded log, Maildir) live in the data directory;
//! production adapters are selected by configuration (`DATABASE_URL`, `KAFKA_BROKERS`,
//! `ONBOARD_NOTIFIER`).

use crate::adapters::embedded_bus::EmbeddedBus;
use crate::adapters::kafka::{KafkaBus, KafkaSettings};
use crate::adapters::maildir::MaildirNotifier;
use crate::adapters::postgres::{AppliedMigration, DatabaseUrl, PostgresStore};
use crate::adapters::secret::Secret;
use crate::adapters::smtp::{self, SmtpConfig, SmtpCredentials, SmtpNotifier, SmtpTls};
use crate::adapters::sqlite::SqliteStore;
use crate::adapters::webhook::{self, WebhookConfig, WebhookNotifier};
use crate::ports::bus::EventBus;
use crate::ports::notifier::Notifier;
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

/// Which notifier a process uses; secrets inside print as `Secret(redacted)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifierSettings {
    /// One local Maildir (embedded default).
    Maildir { dir: PathBuf },
    /// An SMTP server.
    Smtp(SmtpConfig),
    /// A signed HTTP POST per notification.
    Webhook(WebhookConfig),
}

/// A notifier configuration that cannot work, named by its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum NotifierConfigError {
    #[error("ONBOARD_NOTIFIER='{0}' is not a notifier (expected maildir, smtp or webhook)")]
    UnknownNotifier(String),
    #[error("{0} is required with ONBOARD_NOTIFIER={1}")]
    Missing(&'static str, &'static str),
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("set only one of {0} and {1}")]
    Conflict(&'static str, &'static str),
    #[error("cannot read {name} ({path}): {source}")]
    ReadSecret {
        name: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl NotifierSettings {
    /// The embedded default inside `data_dir`.
    pub fn embedded(data_dir: &Path) -> Self {
        Self::Maildir {
            dir: data_dir.join(layout::MAILDIR),
        }
    }

    /// Reads `ONBOARD_NOTIFIER` and the chosen adapter's variables (docs/notifications.md).
    pub fn from_env(data_dir: &Path) -> Result<Self, NotifierConfigError> {
        Self::from_lookup(data_dir, |name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] over any source of variables; empty values count as unset.
    pub fn from_lookup(
        data_dir: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, NotifierConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let kind = get("ONBOARD_NOTIFIER").unwrap_or_else(|| "maildir".into());
        match kind.trim().to_ascii_lowercase().as_str() {
            "maildir" => Ok(Self::embedded(data_dir)),
            "smtp" => smtp_from(&get).map(Self::Smtp),
            "webhook" => webhook_from(&get).map(Self::Webhook),
            _ => Err(NotifierConfigError::UnknownNotifier(kind)),
        }
    }

    /// Builds the notifier; `mail_from` is the `From` of e-mails (Maildir and SMTP).
    pub fn open(&self, mail_from: &str) -> anyhow::Result<Arc<dyn Notifier>> {
        Ok(match self {
            Self::Maildir { dir } => Arc::new(MaildirNotifier::new(dir.clone(), mail_from.into())?),
            Self::Smtp(config) => Arc::new(SmtpNotifier::new(config.clone(), mail_from)?),
            Self::Webhook(config) => Arc::new(WebhookNotifier::new(config.clone())?),
        })
    }
}

fn smtp_from(get: &dyn Fn(&str) -> Option<String>) -> Result<SmtpConfig, NotifierConfigError> {
    let host = get("SMTP_HOST").ok_or(NotifierConfigError::Missing("SMTP_HOST", "smtp"))?;
    let tls = match get("SMTP_TLS") {
        Some(raw) => raw
            .parse::<SmtpTls>()
            .map_err(|reason| NotifierConfigError::Invalid {
                name: "SMTP_TLS",
                reason,
            })?,
        // Encrypted unless the operator says otherwise.
        None => SmtpTls::StartTls,
    };
    let port = match get("SMTP_PORT") {
        Some(raw) => raw
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| NotifierConfigError::Invalid {
                name: "SMTP_PORT",
                reason: format!("'{raw}' is not a port number (1-65535)"),
            })?,
        None => tls.default_port(),
    };
    let password = secret_from(get, "SMTP_PASSWORD", "SMTP_PASSWORD_FILE")?;
    let credentials = match (get("SMTP_USERNAME"), password) {
        (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(NotifierConfigError::Missing(
                "SMTP_PASSWORD or SMTP_PASSWORD_FILE",
                "smtp and SMTP_USERNAME",
            ))
        }
        (None, Some(_)) => {
            return Err(NotifierConfigError::Missing(
                "SMTP_USERNAME",
                "smtp and a password",
            ))
        }
    };
    Ok(SmtpConfig {
        host,
        port,
        tls,
        ca_file: get("SMTP_CA_FILE").map(PathBuf::from),
        credentials,
        hello_name: get("SMTP_HELO_NAME"),
        timeout: smtp::DEFAULT_TIMEOUT,
    })
}

fn webhook_from(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<WebhookConfig, NotifierConfigError> {
    let url = get("WEBHOOK_URL").ok_or(NotifierConfigError::Missing("WEBHOOK_URL", "webhook"))?;
    let secret = secret_from(get, "WEBHOOK_SECRET", "WEBHOOK_SECRET_FILE")?.ok_or(
        NotifierConfigError::Missing("WEBHOOK_SECRET or WEBHOOK_SECRET_FILE", "webhook"),
    )?;
    Ok(WebhookConfig {
        url,
        secret,
        timeout: webhook::DEFAULT_TIMEOUT,
    })
}

/// A secret given inline (`NAME`) or as a file (`NAME_FILE`), never both.
fn secret_from(
    get: &dyn Fn(&str) -> Option<String>,
    inline: &'static str,
    file: &'static str,
) -> Result<Option<Secret>, NotifierConfigError> {
    match (get(inline), get(file)) {
        (Some(_), Some(_)) => Err(NotifierConfigError::Conflict(inline, file)),
        (Some(value), None) => Ok(Some(Secret::new(value))),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let secret =
                Secret::from_file(&path).map_err(|source| NotifierConfigError::ReadSecret {
                    name: file,
                    path: path.clone(),
                    source,
                })?;
            if secret.is_empty() {
                return Err(NotifierConfigError::Invalid {
                    name: file,
                    reason: format!("{} is empty", path.display()),
                });
            }
            Ok(Some(secret))
        }
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod notifier_settings_tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<NotifierSettings, NotifierConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        NotifierSettings::from_lookup(Path::new("/data"), |name| map.get(name).cloned())
    }

    #[test]
    fn without_configuration_the_notifier_is_the_maildir_in_the_data_directory() {
        assert_eq!(
            parse(&[]).unwrap(),
            NotifierSettings::Maildir {
                dir: PathBuf::from("/data/mail")
            }
        );
        assert_eq!(
            parse(&[("ONBOARD_NOTIFIER", "")]).unwrap(),
            parse(&[]).unwrap()
        );
    }

    #[test]
    fn smtp_defaults_to_starttls_on_the_submission_port_without_authentication() {
        let NotifierSettings::Smtp(config) = parse(&[
            ("ONBOARD_NOTIFIER", "smtp"),
            ("SMTP_HOST", "mail.example.com"),
        ])
        .unwrap() else {
            panic!("expected SMTP");
        };
        assert_eq!(config.host, "mail.example.com");
        assert_eq!((config.tls, config.port), (SmtpTls::StartTls, 587));
        assert_eq!(config.credentials, None);
    }

    #[test]
    fn smtp_reads_every_option_and_a_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let NotifierSettings::Smtp(config) = parse(&[
            ("ONBOARD_NOTIFIER", "SMTP"),
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_PORT", "2525"),
            ("SMTP_TLS", "tls"),
            ("SMTP_USERNAME", "mailer"),
            ("SMTP_PASSWORD_FILE", file.to_str().unwrap()),
            ("SMTP_CA_FILE", "/etc/ca.pem"),
            ("SMTP_HELO_NAME", "onboard.example.com"),
        ])
        .unwrap() else {
            panic!("expected SMTP");
        };
        assert_eq!((config.tls, config.port), (SmtpTls::Tls, 2525));
        let credentials = config.credentials.unwrap();
        assert_eq!(credentials.username, "mailer");
        assert_eq!(credentials.password.expose(), "s3cret");
        assert_eq!(config.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(config.hello_name.as_deref(), Some("onboard.example.com"));
    }

    #[test]
    fn invalid_smtp_settings_name_the_variable_at_fault() {
        let smtp = ("ONBOARD_NOTIFIER", "smtp");
        let host = ("SMTP_HOST", "h");
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[smtp], "SMTP_HOST"),
            (&[smtp, host, ("SMTP_PORT", "0")], "SMTP_PORT"),
            (&[smtp, host, ("SMTP_PORT", "smtp")], "SMTP_PORT"),
            (&[smtp, host, ("SMTP_TLS", "ssl")], "SMTP_TLS"),
            (&[smtp, host, ("SMTP_USERNAME", "u")], "SMTP_PASSWORD"),
            (
                &[
                    smtp,
                    host,
                    ("SMTP_PASSWORD", "p"),
                    ("SMTP_PASSWORD_FILE", "/f"),
                ],
                "SMTP_PASSWORD_FILE",
            ),
        ];
        for (vars, named) in cases {
            let err = parse(vars).unwrap_err().to_string();
            assert!(err.contains(named), "{vars:?}: {err}");
        }
    }

    #[test]
    fn the_webhook_needs_a_url_and_a_secret() {
        let err = parse(&[
            ("ONBOARD_NOTIFIER", "webhook"),
            ("WEBHOOK_URL", "https://h/x"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("WEBHOOK_SECRET"), "{err}");
        let settings = parse(&[
            ("ONBOARD_NOTIFIER", "webhook"),
            ("WEBHOOK_URL", "https://h/x"),
            ("WEBHOOK_SECRET", "0123456789abcdef0123"),
        ])
        .unwrap();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("0123456789abcdef0123"), "{shown}");
    }

    #[test]
    fn an_unknown_notifier_is_refused() {
        let err = parse(&[("ONBOARD_NOTIFIER", "sns")]).unwrap_err();
        assert!(err.to_string().contains("'sns'"), "{err}");
    }
}
