//! `onboard watch`: the seed's wscat step built in, run as the real binary against the real server.

use crate::support::*;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn onboard_watch_prints_each_event_as_it_arrives_and_resumes_after_a_restart() {
    let app = spawn_app().await;
    let customer = app.customer("watcher");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_onboard"))
        .args(["watch", "--url", &app.url(""), "watcher"])
        .env("ONBOARD_TOKEN", &customer.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("onboard watch starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    wait_for_connection(&app).await;

    let created = customer.submit_seed_payload().await;
    let application = created.body["applicationId"].as_str().unwrap().to_string();
    let line = next_line(&mut lines).await;
    assert!(
        line.contains("user-info-submitted") && line.contains(&application),
        "{line}"
    );

    // The server restarts; watch reconnects and resumes, missing nothing and repeating nothing.
    let port = app.addr.port();
    let (tmp, data_dir) = app.stop().await;
    let app = spawn_app_in(&data_dir, port).await;
    let customer = app.customer("watcher");
    customer
        .continue_workflow_from_documents(&application)
        .await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_line(&mut lines).await);
    }
    for (line, topic) in seen.iter().zip(&WORKFLOW_TOPICS[1..]) {
        assert!(line.contains(topic), "expected {topic} in {line}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(700), lines.next_line())
            .await
            .is_err(),
        "no duplicate line"
    );
    child.kill().await.unwrap();
    drop(tmp);
}

/// Waits until the registry holds watcher's socket: `/metrics` counts the whole process, where
/// other tests' sockets are open too.
async fn wait_for_connection(app: &TestApp) {
    for _ in 0..200 {
        let overview: serde_json::Value = app
            .http
            .get(app.url("/v1/ops/overview"))
            .bearer_auth(&app.management_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let connections = overview["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if connections.iter().any(|c| c["customerId"] == "watcher") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("onboard watch never connected");
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("watch is still running")
}
