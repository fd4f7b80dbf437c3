//! Test support: a real SMTP server, a private certificate authority, notifications.

pub mod smtp_server;
pub use onboard::testing::webhook_receiver;

use chrono::{TimeZone, Utc};
use onboard::adapters::smtp::{SmtpConfig, SmtpTls, DEFAULT_TIMEOUT};
use onboard::domain::event::Topic;
use onboard::domain::ids::{ApplicationId, EventId};
use onboard::ports::store::{Notification, NotificationKind};
pub use onboard::testing::ports::free_port;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const FROM: &str = "Onboard <no-reply@onboard.local>";

/// A notification as the consumers create it: a customer e-mail for a step event of an
/// application, an operator alert for a failure before any application existed.
pub fn notification(kind: NotificationKind) -> Notification {
    let event_id = EventId::new();
    let (event_type, application_id) = match kind {
        NotificationKind::CustomerEmail => (Topic::PolicyRecommended, Some(ApplicationId::new())),
        NotificationKind::OperatorAlert => (Topic::WorkflowErrors, None),
    };
    Notification {
        id: format!("{event_id}.{}", kind.as_str()),
        event_id,
        kind,
        event_type,
        application_id,
        correlation_id: Some("req-notifier-test".into()),
        recipient: "jose@example.com".into(),
        subject: "Bienvenue, José — your café policy".into(),
        body: "Hello José,\n\nYour café policy is ready.\n".into(),
        created_at: Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap(),
        attempts: 0,
    }
}

/// Client settings for a test server on 127.0.0.1.
pub fn smtp_config(port: u16, tls: SmtpTls) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls,
        ca_file: None,
        credentials: None,
        hello_name: Some("onboard-tests.local".into()),
        timeout: DEFAULT_TIMEOUT.min(Duration::from_secs(5)),
    }
}

/// A private CA and a server certificate it signed for `127.0.0.1` and `localhost`.
pub struct TestPki {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestPki {
    pub fn create(dir: &Path) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Onboard test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");

        let key = KeyPair::generate().expect("a server key");
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "onboard-test-smtp");
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("the server certificate");

        let pki = Self {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server.key"),
        };
        std::fs::write(&pki.ca_file, ca.pem()).expect("write the CA");
        std::fs::write(&pki.cert_file, cert.pem()).expect("write the certificate");
        std::fs::write(&pki.key_file, key.serialize_pem()).expect("write the key");
        pki
    }
}
