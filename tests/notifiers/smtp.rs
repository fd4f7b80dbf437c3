//! The SMTP notifier against a real SMTP server: what arrives, TLS, authentication, and how
//! refusals are classified.

use crate::support::smtp_server::{ServerOptions, ServerTls, SmtpServer};
use crate::support::*;
use onboard::adapters::secret::Secret;
use onboard::adapters::smtp::{SmtpCredentials, SmtpNotifier, SmtpTls};
use onboard::ports::notifier::{Notifier, NotifyError};
use onboard::ports::store::NotificationKind;

fn credentials(password: &str) -> Option<SmtpCredentials> {
    Some(SmtpCredentials {
        username: "mailer".into(),
        password: Secret::new(password),
    })
}

fn server_credentials() -> Option<(String, String)> {
    Some(("mailer".into(), "correct-horse-battery".into()))
}

#[tokio::test]
async fn a_delivered_message_arrives_with_the_maildir_headers_and_its_utf8_body() {
    let server = SmtpServer::start(ServerOptions::default()).await;
    let notifier = SmtpNotifier::new(smtp_config(server.port, SmtpTls::None), FROM).unwrap();
    let n = notification(NotificationKind::CustomerEmail);

    notifier.deliver(&n).await.unwrap();

    let received = server.wait_for(1).await;
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.rcpt_tos, ["jose@example.com"]);
    assert_eq!(got.mail_from, "no-reply@onboard.local");
    let mail = &got.mail;
    assert_eq!(mail.header("From"), Some(FROM));
    assert_eq!(mail.header("To"), Some("jose@example.com"));
    assert_eq!(mail.header("Subject"), Some(n.subject.as_str()));
    assert_eq!(mail.header("Date"), Some("Wed, 01 May 2024 10:30:00 +0000"));
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{}@onboard.local>", n.id).as_str())
    );
    assert_eq!(mail.notification_id(), Some(n.id.as_str()));
    assert_eq!(
        mail.header("X-Onboard-Event-Id"),
        Some(n.event_id.to_string().as_str())
    );
    assert_eq!(mail.header("X-Onboard-Kind"), Some("customer_email"));
    assert_eq!(mail.body.trim_end(), n.body.trim_end());
}

#[tokio::test]
async fn the_smtp_message_has_the_same_headers_as_the_maildir_one() {
    let server = SmtpServer::start(ServerOptions::default()).await;
    let smtp = SmtpNotifier::new(smtp_config(server.port, SmtpTls::None), FROM).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let maildir =
        onboard::adapters::maildir::MaildirNotifier::new(dir.path().join("mail"), FROM.into())
            .unwrap();
    let n = notification(NotificationKind::OperatorAlert);

    smtp.deliver(&n).await.unwrap();
    maildir.deliver(&n).await.unwrap();

    let over_smtp = server.wait_for(1).await.remove(0);
    let in_maildir = onboard::adapters::maildir::read_maildir(dir.path().join("mail"))
        .unwrap()
        .remove(0);
    assert_eq!(over_smtp.mail.headers, in_maildir.headers);
    assert_eq!(over_smtp.mail.body.trim_end(), in_maildir.body.trim_end());
    // The server offers 8BITMIME, so even the bytes are the same (SMTP's end-of-data marker
    // may leave one more line break).
    let file = std::fs::read(&in_maildir.path).unwrap();
    assert!(
        over_smtp.raw.starts_with(&file),
        "{:?}",
        String::from_utf8_lossy(&over_smtp.raw)
    );
    assert!(over_smtp.raw[file.len()..]
        .iter()
        .all(|b| b"\r\n".contains(b)));
}

#[tokio::test]
async fn auth_plain_and_auth_login_deliver_with_the_right_password() {
    for excluded in ["LOGIN", "PLAIN"] {
        let server = SmtpServer::start(ServerOptions {
            credentials: server_credentials(),
            exclude_mechanisms: vec![excluded.into()],
            ..ServerOptions::default()
        })
        .await;
        let mut config = smtp_config(server.port, SmtpTls::None);
        config.credentials = credentials("correct-horse-battery");
        let notifier = SmtpNotifier::new(config, FROM).unwrap();

        notifier
            .deliver(&notification(NotificationKind::CustomerEmail))
            .await
            .unwrap_or_else(|e| panic!("without {excluded}: {e}"));

        let received = server.wait_for(1).await;
        assert_eq!(received.len(), 1, "without {excluded}");
        assert_eq!(received[0].login.as_deref(), Some("mailer"));
    }
}

#[tokio::test]
async fn a_wrong_password_is_a_transient_failure_and_sends_nothing() {
    let server = SmtpServer::start(ServerOptions {
        credentials: server_credentials(),
        ..ServerOptions::default()
    })
    .await;
    let mut config = smtp_config(server.port, SmtpTls::None);
    config.credentials = credentials("wrong-password");
    let notifier = SmtpNotifier::new(config, FROM).unwrap();

    let err = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    // A configuration problem: retried (and visible in the stored error), never parked.
    assert!(
        matches!(&err, NotifyError::Transient(m) if m.contains("authentication")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-password"), "{err}");
    assert!(server.wait_for(0).await.is_empty());
}

#[tokio::test]
async fn a_server_requiring_authentication_refuses_an_anonymous_client() {
    let server = SmtpServer::start(ServerOptions {
        credentials: server_credentials(),
        ..ServerOptions::default()
    })
    .await;
    let notifier = SmtpNotifier::new(smtp_config(server.port, SmtpTls::None), FROM).unwrap();

    let result = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await;

    assert!(result.is_err(), "{result:?}");
    assert!(server.wait_for(0).await.is_empty());
}

#[tokio::test]
async fn starttls_and_implicit_tls_deliver_when_the_private_ca_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    for (server_tls, client_tls) in [
        (ServerTls::StartTls, SmtpTls::StartTls),
        (ServerTls::Tls, SmtpTls::Tls),
    ] {
        let server = SmtpServer::start(ServerOptions {
            tls: server_tls,
            identity: Some((pki.cert_file.clone(), pki.key_file.clone())),
            credentials: server_credentials(),
            ..ServerOptions::default()
        })
        .await;
        let mut config = smtp_config(server.port, client_tls);
        config.ca_file = Some(pki.ca_file.clone());
        config.credentials = credentials("correct-horse-battery");
        let notifier = SmtpNotifier::new(config, FROM).unwrap();

        notifier
            .deliver(&notification(NotificationKind::CustomerEmail))
            .await
            .unwrap_or_else(|e| panic!("{client_tls:?}: {e}"));

        let received = server.wait_for(1).await;
        assert_eq!(received.len(), 1, "{client_tls:?}");
        assert!(received[0].tls, "{client_tls:?} must deliver over TLS");
        assert_eq!(received[0].login.as_deref(), Some("mailer"));
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_transient_failure_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    let server = SmtpServer::start(ServerOptions {
        tls: ServerTls::Tls,
        identity: Some((pki.cert_file.clone(), pki.key_file.clone())),
        ..ServerOptions::default()
    })
    .await;
    // Only the public roots: the private CA is not among them.
    let notifier = SmtpNotifier::new(smtp_config(server.port, SmtpTls::Tls), FROM).unwrap();

    let err = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    assert!(matches!(err, NotifyError::Transient(_)), "{err:?}");
    assert!(server.wait_for(0).await.is_empty());
}

#[tokio::test]
async fn starttls_is_required_never_skipped_when_the_server_does_not_offer_it() {
    let server = SmtpServer::start(ServerOptions::default()).await;
    let notifier = SmtpNotifier::new(smtp_config(server.port, SmtpTls::StartTls), FROM).unwrap();

    let err = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    assert!(matches!(err, NotifyError::Transient(_)), "{err:?}");
    assert!(server.wait_for(0).await.is_empty());
}

#[tokio::test]
async fn a_recipient_refused_with_550_is_a_permanent_failure() {
    let server = SmtpServer::start(ServerOptions {
        reject_rcpt: Some("jose@".into()),
        ..ServerOptions::default()
    })
    .await;
    let notifier = SmtpNotifier::new(smtp_config(server.port, SmtpTls::None), FROM).unwrap();

    let err = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    assert!(matches!(err, NotifyError::Permanent(_)), "{err:?}");
}

#[tokio::test]
async fn a_451_answer_is_a_transient_failure() {
    let server = SmtpServer::start(ServerOptions {
        tempfail: true,
        ..ServerOptions::default()
    })
    .await;
    let notifier = SmtpNotifier::new(smtp_config(server.port, SmtpTls::None), FROM).unwrap();

    let err = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    assert!(matches!(err, NotifyError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_that_is_down_is_a_transient_failure() {
    let notifier = SmtpNotifier::new(smtp_config(free_port(), SmtpTls::None), FROM).unwrap();

    let err = notifier
        .deliver(&notification(NotificationKind::CustomerEmail))
        .await
        .unwrap_err();

    assert!(matches!(err, NotifyError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn an_invalid_recipient_address_is_permanent_without_connecting() {
    // Nothing listens: a connection attempt would make the failure transient.
    let notifier = SmtpNotifier::new(smtp_config(free_port(), SmtpTls::None), FROM).unwrap();
    let mut n = notification(NotificationKind::CustomerEmail);
    n.recipient = "not an address".into();

    let err = notifier.deliver(&n).await.unwrap_err();

    assert!(matches!(err, NotifyError::Permanent(_)), "{err:?}");
}
