//! `onboard up` (the real binary) configured by environment to mail through SMTP.

use crate::support::smtp_server::{ServerOptions, SmtpServer};
use crate::support::*;
use onboard::auth::{Authenticator, JwtSecret};
use onboard::domain::ids::CustomerId;
use std::process::Stdio;
use std::time::Duration;

const JWT_SECRET: &str = "notifier-tests-secret-that-is-long-enough-for-hs256";
/// The seed's Step 7.1 payload.
const SEED_PAYLOAD: &str = r#"{"email":"test@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;

/// The binary, killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn onboard_up(data_dir: &std::path::Path, port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
    // Its own embedded bus and SQLite store in `data_dir`, whatever the shell points at.
    onboard::testing::env::hermetic(&mut command)
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("ONBOARD_JWT_SECRET", JWT_SECRET)
        .stdout(Stdio::null());
    command
}

#[tokio::test]
async fn onboard_up_with_the_smtp_notifier_mails_the_seeds_milestone_through_the_server() {
    let smtp = SmtpServer::start(ServerOptions {
        credentials: Some(("onboard".into(), "up-test-password".into())),
        ..ServerOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, "up-test-password\n").unwrap();
    let port = free_port();
    let _app = Running(
        onboard_up(&dir.path().join("data"), port)
            .env("ONBOARD_NOTIFIER", "smtp")
            .env("SMTP_HOST", "127.0.0.1")
            .env("SMTP_PORT", smtp.port.to_string())
            .env("SMTP_TLS", "none")
            .env("SMTP_USERNAME", "onboard")
            .env("SMTP_PASSWORD_FILE", &password_file)
            .stderr(Stdio::null())
            .spawn()
            .expect("onboard up starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "onboard up never became ready");
    let secret = JwtSecret::new(JWT_SECRET.as_bytes().to_vec()).unwrap();
    let token =
        Authenticator::new(&secret).issue(&CustomerId::parse("smtp-customer").unwrap(), 600);

    let created = http
        .post(format!("{base}/v1/customers"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(SEED_PAYLOAD)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let received = smtp.wait_for(1).await;
    assert_eq!(received.len(), 1, "one milestone e-mail");
    let mail = &received[0];
    assert_eq!(mail.rcpt_tos, ["test@example.com"]);
    assert_eq!(mail.login.as_deref(), Some("onboard"));
    assert_eq!(
        mail.mail.header("Subject"),
        Some("We received your details")
    );
    assert_eq!(mail.mail.header("X-Onboard-Kind"), Some("customer_email"));
    assert!(
        mail.mail.body.starts_with("Hello John,"),
        "{}",
        mail.mail.body
    );
    let id = mail.mail.notification_id().expect("the notification id");
    assert_eq!(
        mail.mail.header("Message-ID"),
        Some(format!("<{id}@onboard.local>").as_str())
    );
}

#[test]
fn onboard_up_refuses_an_incomplete_smtp_configuration_with_a_one_line_message() {
    let dir = tempfile::tempdir().unwrap();
    let stderr_file = dir.path().join("stderr");
    let mut child = Running(
        onboard_up(&dir.path().join("data"), free_port())
            .env("ONBOARD_NOTIFIER", "smtp")
            .env_remove("SMTP_HOST")
            .env("SMTP_PASSWORD", "a-password-that-must-not-show")
            .stderr(std::fs::File::create(&stderr_file).unwrap())
            .spawn()
            .expect("onboard up runs"),
    );

    // Bounded: a binary that wrongly starts must fail the test, not hang it.
    let mut status = None;
    for _ in 0..600 {
        status = child.0.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = status.expect("onboard up exits on its own");
    assert!(!status.success());
    let stderr = std::fs::read_to_string(&stderr_file).unwrap();
    // Every configuration problem is reported at once: the error starts at the last "onboard: ".
    let error = &stderr[stderr.rfind("onboard: ").unwrap_or(stderr.len())..];
    assert!(error.contains("SMTP_HOST"), "{stderr}");
    assert!(
        !stderr.contains("a-password-that-must-not-show"),
        "{stderr}"
    );
}
