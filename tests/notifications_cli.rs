//! `onboard notifications list --parked` and `redrive` as an operator runs them on a store with
//! a notification that failed permanently: listed with its error, redriven, then due again and
//! no longer listed; a second redrive changes nothing.

use onboard::adapters::sqlite::SqliteStore;
use onboard::domain::event::Topic;
use onboard::ports::store::{EventLog, NotificationKind, NotificationQueue};
use onboard::roles::notify::parked_until;
use onboard::testing::store_suite::{at, audit_of, customer_id, envelope, notification_of};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

fn onboard(data_dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command)
        .args(["notifications"])
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("ONBOARD_LOG", "off");
    command.output().expect("the onboard binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_parked_notification_is_listed_redriven_once_and_then_due() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("onboard.db"))
        .await
        .unwrap();
    let who = customer_id("parked-customer");
    let event = envelope(&who, None, 1, Topic::WorkflowErrors, json!({}));
    let alert = notification_of(&event, NotificationKind::OperatorAlert);
    store
        .record_event(&event, &audit_of(&event), std::slice::from_ref(&alert))
        .await
        .unwrap();
    let claimed = store.notifications_due(at(10), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    store
        .notification_failed(&alert.id, "permanent: webhook answered 410", parked_until())
        .await
        .unwrap();

    let listed: Value = serde_json::from_str(&stdout(&onboard(
        dir.path(),
        &["list", "--parked", "--json"],
    )))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], alert.id.as_str());
    assert_eq!(listed[0]["kind"], "operator_alert");
    assert_eq!(listed[0]["lastError"], "permanent: webhook answered 410");
    let table = stdout(&onboard(dir.path(), &["list", "--parked"]));
    assert!(
        table.starts_with("NOTIFICATION") && table.contains(&alert.id),
        "{table}"
    );

    let redriven = stdout(&onboard(dir.path(), &["redrive", &alert.id]));
    assert!(redriven.contains("Redrove 1 parked"), "{redriven}");
    let again = onboard(dir.path(), &["redrive", &alert.id]);
    assert!(stdout(&again).contains("Redrove 0 parked"));
    assert!(String::from_utf8_lossy(&again.stderr).contains(&alert.id));

    let listed: Value = serde_json::from_str(&stdout(&onboard(
        dir.path(),
        &["list", "--parked", "--json"],
    )))
    .unwrap();
    assert_eq!(listed, json!([]));
    let due = store.notifications_due(at(10), 10).await.unwrap();
    assert_eq!(due.len(), 1, "the dispatcher takes it up again");
    assert_eq!(due[0].id, alert.id);
}

#[test]
fn a_data_dir_without_a_store_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = onboard(dir.path(), &["list", "--parked"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no store at"), "{stderr}");
    assert!(!dir.path().join("onboard.db").exists(), "nothing created");
}
