//! The SMTP notifier: hands every notification to a mail server (submission with optional TLS
//! and authentication), as the same RFC 5322 message the Maildir adapter writes.
//!
//! One connection per delivery (connect, optional STARTTLS, optional AUTH, MAIL/RCPT/DATA,
//! QUIT): the dispatcher delivers one notification at a time, and a fresh connection can never
//! be a stale pooled one after a server restart.
//!
//! Failures are classified by the phase they happen in. Everything before `MAIL FROM` (connect,
//! greeting, TLS, authentication) is about the server or our configuration, never about the
//! message, so it is transient and retried with backoff (a wrong password must not park every
//! e-mail for good). In the message's own transaction a 5xx reply (unknown mailbox, message
//! refused) is permanent; 4xx replies, timeouts and broken connections are transient.
//!
//! SMTP cannot be made exactly-once: a crash (or a lost reply) between the server's `250` after
//! `DATA` and the store update sends the message again on the next attempt. The deterministic
//! `Message-ID` and `X-Onboard-Notification-Id` let receivers drop the duplicate.

#[cfg(test)]
mod tests;

use crate::adapters::email::{self, BodyEncoding};
use crate::adapters::secret::Secret;
use crate::ports::notifier::{Notifier, NotifyError};
use crate::ports::store::Notification;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::{ClientId, Extension};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Bound on connecting and on each SMTP command; the dispatcher also bounds the whole delivery.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the server's answer to `QUIT` once the message is accepted.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Authentication mechanisms we offer, in order of preference (both need TLS to be safe).
const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a local relay, tests); credentials then travel unencrypted.
    None,
    /// Plain connect, then `STARTTLS`, required: no fallback to plain text (port 587).
    StartTls,
    /// TLS from the first byte, "implicit TLS" (port 465).
    Tls,
}

impl SmtpTls {
    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

impl FromStr for SmtpTls {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            other => Err(format!(
                "unknown SMTP TLS mode '{other}' (expected none, starttls or tls)"
            )),
        }
    }
}

/// A user name and its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: Secret,
}

/// Where and how to submit mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// PEM file with extra trusted root certificates (a private CA), on top of the public roots.
    pub ca_file: Option<PathBuf>,
    pub credentials: Option<SmtpCredentials>,
    /// Name sent with `EHLO`; the machine's host name when absent.
    pub hello_name: Option<String>,
    /// Bound on connecting and on each command.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("the sender address '{0}' is not a valid e-mail address")]
    InvalidFrom(String),
    #[error("the SMTP host is empty")]
    EmptyHost,
    #[error("a CA file is only used with TLS (SMTP_TLS=starttls or tls)")]
    CaFileWithoutTls,
    #[error("cannot read the SMTP CA file {path}: {source}")]
    ReadCaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the SMTP CA file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("cannot set up TLS for the SMTP server: {0}")]
    Tls(String),
}

/// Delivers notifications through an SMTP server.
pub struct SmtpNotifier {
    host: String,
    port: u16,
    tls: SmtpTls,
    /// Built once: parsing the CA file and the root store is not per-message work.
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    from: Mailbox,
    timeout: Duration,
}

/// Leaves the credentials (and lettre's internals) out.
impl std::fmt::Debug for SmtpNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpNotifier")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("authenticated", &self.credentials.is_some())
            .finish_non_exhaustive()
    }
}

impl SmtpNotifier {
    /// Checks the configuration and prepares TLS; connects only when delivering.
    pub fn new(config: SmtpConfig, from_address: &str) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = from_address
            .parse()
            .map_err(|_| SmtpConfigError::InvalidFrom(from_address.to_owned()))?;
        let host = config.host.trim().to_owned();
        if host.is_empty() {
            return Err(SmtpConfigError::EmptyHost);
        }
        let tls_parameters = match config.tls {
            SmtpTls::None if config.ca_file.is_some() => {
                return Err(SmtpConfigError::CaFileWithoutTls)
            }
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Tls => {
                Some(tls_parameters(&host, config.ca_file.as_ref())?)
            }
        };
        if config.tls == SmtpTls::None && config.credentials.is_some() {
            tracing::warn!(
                host = %host,
                "SMTP authentication without TLS: the password crosses the network in clear text."
            );
        }
        Ok(Self {
            tls_parameters,
            credentials: config
                .credentials
                .map(|c| Credentials::new(c.username, c.password.expose().to_owned())),
            hello: config
                .hello_name
                .map_or_else(ClientId::default, ClientId::Domain),
            tls: config.tls,
            port: config.port,
            host,
            from,
            timeout: config.timeout,
        })
    }

    /// Connects, secures and authenticates; any failure here is the server's or the
    /// configuration's, so it is transient.
    async fn open(&self) -> Result<AsyncSmtpConnection, NotifyError> {
        let implicit_tls = match self.tls {
            SmtpTls::Tls => self.tls_parameters.clone(),
            SmtpTls::None | SmtpTls::StartTls => None,
        };
        let mut connection = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            implicit_tls,
            None,
        )
        .await
        .map_err(|e| transient("cannot connect to the SMTP server", &e))?;
        if let (SmtpTls::StartTls, Some(parameters)) = (self.tls, &self.tls_parameters) {
            if let Err(e) = connection.starttls(parameters.clone(), &self.hello).await {
                connection.abort().await;
                return Err(transient("STARTTLS with the SMTP server failed", &e));
            }
        }
        if let Some(credentials) = &self.credentials {
            if let Err(e) = connection.auth(&MECHANISMS, credentials).await {
                connection.abort().await;
                return Err(transient("the SMTP server refused our authentication", &e));
            }
        }
        Ok(connection)
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError> {
        // An invalid recipient is permanent whatever the server says: find out before connecting.
        let mut message = email::build(notification, &self.from, BodyEncoding::EightBitPreferred)?;
        let mut connection = self.open().await?;
        if !connection
            .server_info()
            .supports_feature(Extension::EightBitMime)
        {
            message = email::build(notification, &self.from, BodyEncoding::SevenBitOnly)?;
        }
        match connection
            .send(message.envelope(), &message.formatted())
            .await
        {
            Ok(_) => {
                // The message is accepted; a slow goodbye must not turn that into a retry.
                let _ = tokio::time::timeout(QUIT_TIMEOUT, connection.quit()).await;
                Ok(())
            }
            Err(e) => {
                connection.abort().await;
                Err(classify_transaction_error(&e))
            }
        }
    }
}

/// Prepares TLS for `host`, trusting the public roots plus the certificates in `ca_file`.
fn tls_parameters(host: &str, ca_file: Option<&PathBuf>) -> Result<TlsParameters, SmtpConfigError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| SmtpConfigError::ReadCaFile {
            path: path.clone(),
            source,
        })?;
        // lettre accepts a PEM file without certificates and would then trust nothing extra.
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(SmtpConfigError::NoCertificate(path.clone()));
        }
        let certificate =
            Certificate::from_pem(&pem).map_err(|e| SmtpConfigError::Tls(e.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| SmtpConfigError::Tls(e.to_string()))
}

fn transient(what: &str, error: &lettre::transport::smtp::Error) -> NotifyError {
    NotifyError::Transient(format!("{what}: {error}"))
}

/// A failure inside `MAIL FROM` / `RCPT TO` / `DATA`: a 5xx reply, or a message this server
/// cannot take at all (e.g. a non-ASCII address without `SMTPUTF8`), is permanent; the rest
/// (4xx, timeouts, dropped connections) is worth another try.
fn classify_transaction_error(error: &lettre::transport::smtp::Error) -> NotifyError {
    if error.is_permanent() || error.is_client() {
        NotifyError::Permanent(format!("the SMTP server refused the message: {error}"))
    } else {
        transient("the SMTP delivery failed", error)
    }
}
