//! `onboard migrate` as an operator runs it: the real binary, its output and its exit status.

use onboard::testing::postgres::{create_database, server_from_env, unique_database_name};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn migrate(data_dir: &std::path::Path, database_url: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command)
        .args(["migrate", "--data-dir"])
        .arg(data_dir)
        .env("NO_COLOR", "1");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("the binary runs")
}

/// What an operator relies on: every migration shipped for `dialect` (migrations/DIALECT/
/// `NNNN_words.sql`), each listed as `NNNN words` when applied, whatever their number.
fn shipped_migrations(dialect: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let mut listed: Vec<String> = std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .map(|entry| {
            entry
                .expect("a migration")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|name| {
            let (version, words) = name.strip_suffix(".sql")?.split_once('_')?;
            Some(format!("{version} {}", words.replace('_', " ")))
        })
        .collect();
    listed.sort();
    assert!(!listed.is_empty(), "no migration in {}", dir.display());
    listed
}

fn assert_lists_every_migration(text: &str, dialect: &str) {
    let shipped = shipped_migrations(dialect);
    assert!(
        text.contains(&format!("applied {} migration(s)", shipped.len())),
        "{text}"
    );
    for migration in shipped {
        assert!(
            text.contains(&migration),
            "{migration} is not listed: {text}"
        );
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The one line the CLI prints on failure (logs go to stderr too, but none are expected here).
fn error_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("onboard:"))
        .collect();
    assert_eq!(lines.len(), 1, "one error line, got: {stderr}");
    lines[0].to_owned()
}

#[test]
fn the_sqlite_store_is_migrated_once_and_then_reported_up_to_date() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let first = migrate(dir.path(), None);
    assert!(first.status.success(), "{first:?}");
    assert_lists_every_migration(&stdout(&first), "sqlite");
    assert!(dir.path().join("onboard.db").exists());

    let again = migrate(dir.path(), None);
    assert!(again.status.success(), "{again:?}");
    assert!(stdout(&again).contains("up to date"), "{again:?}");
}

#[test]
fn a_database_url_that_is_not_postgres_fails_with_one_line_that_hides_the_password() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = migrate(dir.path(), Some("mysql://onboard:s3cr3t@db/onboard"));
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(!line.contains("s3cr3t"), "{line}");
    assert!(
        !dir.path().join("onboard.db").exists(),
        "SQLite is not a fallback"
    );
}

#[test]
fn an_unreachable_server_fails_quickly_with_one_line_naming_it_without_the_password() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Port 1 on the loopback refuses connections.
    let started = Instant::now();
    let out = migrate(
        dir.path(),
        Some("postgres://onboard:s3cr3t@127.0.0.1:1/onboard"),
    );
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(20));
    let line = error_line(&out);
    assert!(line.contains("127.0.0.1:1"), "{line}");
    assert!(line.contains("unavailable"), "{line}");
    assert!(!line.contains("s3cr3t"), "{line}");
}

#[tokio::test]
async fn a_postgres_database_is_migrated_once_and_then_reported_up_to_date() {
    let Some(server) = server_from_env("migrate on PostgreSQL") else {
        return;
    };
    let url = create_database(&server, &unique_database_name("onboard_test")).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let first = migrate(dir.path(), Some(url.expose_secret()));
    assert!(first.status.success(), "{first:?}");
    let text = stdout(&first);
    assert!(text.contains("PostgreSQL postgres://"), "{text}");
    assert!(text.contains(":***@"), "the password is masked: {text}");
    assert_lists_every_migration(&text, "postgres");

    let again = migrate(dir.path(), Some(url.expose_secret()));
    assert!(again.status.success(), "{again:?}");
    assert!(stdout(&again).contains("up to date"), "{again:?}");
    assert!(
        !dir.path().join("onboard.db").exists(),
        "nothing went to SQLite"
    );
}
