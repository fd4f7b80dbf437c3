//! `/metrics` after a full workflow, and `onboard connections list` while a socket is open.
//!
//! A test binary of its own: the metrics recorder is process-wide, so only here, with one app
//! in the process, are the counts exactly one workflow's.

#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::HashMap;
use std::time::Duration;
use support::*;

/// `name{labels} value` lines as a map (HELP/TYPE comments left out).
async fn scrape(app: &TestApp) -> HashMap<String, f64> {
    let response = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(&app.management_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the series of `name` whose labels contain every one of `labels`.
fn total(metrics: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    metrics
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, value)| value)
        .sum()
}

/// Scrapes until `done` holds (within 15 s), and returns that scrape.
async fn scrape_until(
    app: &TestApp,
    what: &str,
    done: impl Fn(&HashMap<String, f64>) -> bool,
) -> HashMap<String, f64> {
    for _ in 0..600 {
        let metrics = scrape(app).await;
        if done(&metrics) {
            return metrics;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never: {what}");
}

async fn wait_for_gauge(app: &TestApp, name: &str, want: f64) {
    scrape_until(app, &format!("{name} = {want}"), |m| {
        total(m, name, &[]) == want
    })
    .await;
}

fn connections_list(app: &TestApp, args: &[&str]) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
    command
        .args(["connections", "list", "--data-dir"])
        .arg(&app.data_dir)
        .args(args)
        .env_remove("ONBOARD_CONFIG");
    store_env(&mut command, &app.data_dir);
    let output = command.output().expect("onboard runs");
    assert!(
        output.status.success(),
        "connections list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn metrics_count_a_workflow_and_connections_list_shows_the_open_socket() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    for gauge in ["onboard_websocket_connections", "onboard_outbox_pending"] {
        assert_eq!(before.get(gauge), Some(&0.0), "{gauge} is registered at 0");
    }
    // One series per in-progress status, each registered at 0.
    for status in onboard::domain::workflow::ApplicationStatus::IN_PROGRESS {
        let series = format!("onboard_stalled_applications{{state=\"{status}\"}}");
        assert_eq!(
            before.get(&series),
            Some(&0.0),
            "{series} is registered at 0"
        );
    }

    let customer = app.customer("metrics-watcher");
    let mut tab = customer.tab().await;
    wait_for_gauge(&app, "onboard_websocket_connections", 1.0).await;

    // The real binary, reading the registry the running app writes.
    let table = connections_list(&app, &[]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("CONNECTION") && lines[0].contains("EXPIRES-AT"));
    let connection_id = tab.welcome["connectionId"].as_str().unwrap();
    assert!(lines[1].contains(connection_id) && lines[1].contains("metrics-watcher"));
    let listed: serde_json::Value = serde_json::from_str(&connections_list(
        &app,
        &["--json", "--customer", "metrics-watcher"],
    ))
    .expect("--json prints JSON");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["connectionId"], connection_id);
    assert!(listed[0]["nodeId"].as_str().unwrap().starts_with("node-"));
    let others: serde_json::Value = serde_json::from_str(&connections_list(
        &app,
        &["--json", "--customer", "somebody-else"],
    ))
    .unwrap();
    assert_eq!(others, serde_json::json!([]));

    customer.complete_workflow().await;
    let events = tab.events(5).await;
    assert_eq!(events.len(), 5);
    // A record is counted after its push was queued, and a push after its frame was written:
    // the tab may see the last event a moment before the counters do.
    let metrics = scrape_until(&app, "five records consumed and pushed", |m| {
        total(m, "onboard_records_consumed_total", &[]) >= 5.0
            && total(m, "onboard_push_latency_seconds_count", &[]) >= 5.0
    })
    .await;
    assert_eq!(
        total(&metrics, "onboard_steps_total", &["outcome=\"ok\""]),
        5.0
    );
    assert_eq!(total(&metrics, "onboard_steps_total", &[]), 5.0);
    assert_eq!(
        total(&metrics, "onboard_step_duration_seconds_count", &[]),
        5.0
    );
    for topic in WORKFLOW_TOPICS {
        let label = format!("topic=\"{topic}\"");
        assert_eq!(
            total(&metrics, "onboard_records_consumed_total", &[&label]),
            1.0,
            "{topic}"
        );
    }
    assert!(total(&metrics, "onboard_record_processing_seconds_count", &[]) >= 5.0);
    assert_eq!(
        total(&metrics, "onboard_push_latency_seconds_count", &[]),
        5.0
    );
    let latency = total(&metrics, "onboard_push_latency_seconds_sum", &[]);
    assert!(
        (0.0..60.0).contains(&latency),
        "5 pushes took {latency} s in all"
    );
    // Every e-mail in the Maildir is one delivery counted, and nothing failed.
    let metrics = scrape_until(&app, "every e-mail counted as delivered", |m| {
        let delivered = total(m, "onboard_notifications_total", &["outcome=\"delivered\""]);
        delivered > 0.0 && delivered == app.mails().len() as f64
    })
    .await;
    assert_eq!(
        total(&metrics, "onboard_notifications_total", &[]),
        total(
            &metrics,
            "onboard_notifications_total",
            &["outcome=\"delivered\""]
        )
    );
    // The consumer process reads its topics' lag itself (a partition each); committed, it is 0.
    let metrics = scrape_until(&app, "the lag of every partition, at 0", |m| {
        let series = m
            .keys()
            .filter(|k| k.starts_with("onboard_consumer_lag{"))
            .count();
        series >= 6 && total(m, "onboard_consumer_lag", &[]) == 0.0
    })
    .await;
    assert_eq!(total(&metrics, "onboard_dlq_records_total", &[]), 0.0);
    assert_eq!(total(&metrics, "onboard_websocket_connections", &[]), 1.0);

    tab.ws.close(None).await.unwrap();
    wait_for_gauge(&app, "onboard_websocket_connections", 0.0).await;
    assert_eq!(connections_list(&app, &["--json"]).trim(), "[]");
}
