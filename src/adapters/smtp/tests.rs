//! Configuration checks of the SMTP notifier (delivery is tested against a real server in
//! `tests/notifiers`).

use super::*;

fn config(tls: SmtpTls) -> SmtpConfig {
    SmtpConfig {
        host: "mail.example.com".into(),
        port: tls.default_port(),
        tls,
        ca_file: None,
        credentials: None,
        hello_name: None,
        timeout: DEFAULT_TIMEOUT,
    }
}

const FROM: &str = "Onboard <no-reply@onboard.local>";

#[test]
fn tls_modes_parse_case_insensitively_and_unknown_ones_are_refused() {
    assert_eq!("STARTTLS".parse::<SmtpTls>(), Ok(SmtpTls::StartTls));
    assert_eq!(" tls ".parse::<SmtpTls>(), Ok(SmtpTls::Tls));
    assert_eq!("none".parse::<SmtpTls>(), Ok(SmtpTls::None));
    assert!("ssl".parse::<SmtpTls>().unwrap_err().contains("'ssl'"));
}

#[test]
fn each_tls_mode_has_its_usual_port() {
    assert_eq!(
        [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Tls].map(SmtpTls::default_port),
        [25, 587, 465]
    );
}

#[test]
fn a_ca_file_without_tls_is_refused() {
    let mut c = config(SmtpTls::None);
    c.ca_file = Some("/etc/ssl/ca.pem".into());
    assert!(matches!(
        SmtpNotifier::new(c, FROM),
        Err(SmtpConfigError::CaFileWithoutTls)
    ));
}

#[test]
fn a_missing_or_empty_ca_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(SmtpTls::StartTls);
    c.ca_file = Some(dir.path().join("missing.pem"));
    let err = SmtpNotifier::new(c.clone(), FROM).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    c.ca_file = Some(empty);
    assert!(matches!(
        SmtpNotifier::new(c, FROM),
        Err(SmtpConfigError::NoCertificate(_))
    ));
}

#[test]
fn an_invalid_sender_or_empty_host_is_refused() {
    assert!(matches!(
        SmtpNotifier::new(config(SmtpTls::Tls), "nobody"),
        Err(SmtpConfigError::InvalidFrom(_))
    ));
    let mut c = config(SmtpTls::Tls);
    c.host = "  ".into();
    assert!(matches!(
        SmtpNotifier::new(c, FROM),
        Err(SmtpConfigError::EmptyHost)
    ));
}

#[test]
fn the_notifier_debug_output_leaves_the_password_out() {
    let mut c = config(SmtpTls::StartTls);
    c.credentials = Some(SmtpCredentials {
        username: "mailer".into(),
        password: Secret::new("pa55-w0rd-secret"),
    });
    assert!(!format!("{c:?}").contains("pa55"));
    let notifier = SmtpNotifier::new(c, FROM).unwrap();
    let shown = format!("{notifier:?}");
    assert!(!shown.contains("pa55"), "{shown}");
    assert!(shown.contains("authenticated: true"), "{shown}");
}
