//! The configuration through the real binary: `onboard check-config` reports every problem and
//! never a secret, a role without an explicit JWT secret refuses to start at once, and
//! `onboard up --config FILE` listens where the file says.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const JWT: &str = "config-cli-test-secret-that-is-long-enough";
const KAFKA_PASSWORD: &str = "kafka-password-never-printed";

/// The binary with an empty environment: the developer's shell (DATABASE_URL, KAFKA_BROKERS)
/// must not leak into what is checked.
fn onboard(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    command.args(args).env_clear().env("ONBOARD_LOG", "warn");
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_reports_a_missing_jwt_secret_and_a_password_given_twice_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let password_file = write(dir.path(), "kafka-password", KAFKA_PASSWORD);
    let output = onboard(&["check-config", "--role", "api"])
        .env("KAFKA_BROKERS", "127.0.0.1:9096")
        .env("KAFKA_USERNAME", "onboard")
        .env("KAFKA_PASSWORD", KAFKA_PASSWORD)
        .env("KAFKA_PASSWORD_FILE", &password_file)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("auth.jwt_secret (ONBOARD_JWT_SECRET / ONBOARD_JWT_SECRET_FILE)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bus.kafka.password (KAFKA_PASSWORD / KAFKA_PASSWORD_FILE)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems"), "{stderr}");
    assert!(
        stdout.contains("[bus.kafka]"),
        "the effective configuration: {stdout}"
    );
    for shown in [&stdout, &stderr] {
        assert!(!shown.contains(KAFKA_PASSWORD), "{shown}");
    }
}

#[test]
fn check_config_with_a_valid_setup_exits_0_and_prints_the_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let jwt_file = write(dir.path(), "jwt", JWT);
    let file = write(
        dir.path(),
        "onboard.toml",
        &format!(
            "listen = \"0.0.0.0:9000\"\n[auth]\njwt_secret_file = \"{}\"\n[bus.kafka]\nbrokers = \"127.0.0.1:9096\"\nusername = \"onboard\"\n",
            jwt_file.display()
        ),
    );
    let output = onboard(&["check-config", "--role", "api", "--config"])
        .arg(&file)
        .env("KAFKA_PASSWORD", KAFKA_PASSWORD)
        .env(
            "DATABASE_URL",
            "postgres://onboard:db-password-never-printed@db:5432/onboard",
        )
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("listen = \"0.0.0.0:9000\""), "{stdout}");
    assert!(stdout.contains("password = \"***\""), "{stdout}");
    assert!(stdout.contains("kind = \"postgres\""), "{stdout}");
    for shown in [&stdout, &stderr] {
        for secret in [KAFKA_PASSWORD, JWT, "db-password-never-printed"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }
}

#[test]
fn onboard_api_without_a_configured_secret_exits_at_once_with_that_message() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = onboard(&["api", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("KAFKA_BROKERS", "127.0.0.1:9")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(stderr.contains("auth.jwt_secret"), "{stderr}");
    assert!(stderr.contains("needs the JWT secret"), "{stderr}");
    // It refused before building anything: no generated secret, no database.
    assert!(!dir.path().join("jwt-secret").exists());
    assert!(!dir.path().join("onboard.db").exists());
}

#[tokio::test]
async fn onboard_up_listens_where_its_config_file_says() {
    let dir = tempfile::tempdir().unwrap();
    let port = onboard::testing::ports::free_port();
    let file = write(
        dir.path(),
        "onboard.toml",
        &format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n[auth]\njwt_secret = \"{JWT}\"\n",
            dir.path().join("data").display()
        ),
    );
    let mut child = onboard(&["up", "--config"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answered = false;
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(&url).await {
            answered = response.status().is_success();
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("onboard up exited with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(answered, "nothing answered on {url}");
    assert!(dir.path().join("data").join("onboard.db").exists());
}
