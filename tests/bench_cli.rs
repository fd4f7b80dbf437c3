//! `onboard bench` through the real binary against a real `onboard up` on port 0: the JSON
//! report has the figures CI and BENCHMARKS.md read, nothing is lost, and a run the server
//! refuses exits non-zero; `--bus-direct` writes events straight to a real Kafka for customers
//! of an `onboard up` on that Kafka and sees each once on their sockets, and a run whose events
//! no consumer reads fails. No timing is asserted (the machine is shared).

mod kafka_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `onboard up` on a free port in `data_dir`; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn onboard(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    command.args(args).env_clear().env("ONBOARD_LOG", "warn");
    command
}

fn up(data_dir: &std::path::Path) -> Server {
    up_with(data_dir, &[])
}

/// `onboard up` with `env` added to its (otherwise empty) environment.
fn up_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    serve("up", data_dir, env)
}

/// `onboard <role>` on a free port in `data_dir` with `env`, once it printed the base URL it
/// listens on ([`onboard::testing::env::listening_url`]).
fn serve(role: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    let dir = data_dir.to_str().unwrap();
    let mut child = onboard(&[role, "--listen", "127.0.0.1:0", "--data-dir", dir])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| onboard::testing::env::listening_url(&line))
        .unwrap_or_default();
    // The rest is drained: a closed pipe would end the server at its next print.
    std::thread::spawn(move || lines.for_each(drop));
    let server = Server { child, url };
    assert!(!server.url.is_empty(), "onboard {role} printed no address");
    server
}

#[test]
fn a_short_run_against_onboard_up_reports_every_figure_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = up(dir.path());
    let json = dir.path().join("bench.json");
    let output = onboard(&[
        "bench",
        "--url",
        &server.url,
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--rate",
        "20",
        "--duration",
        "2",
        "--json",
        json.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // 20 steps/s for 2 s: 8 workflows of 5 steps.
    assert_eq!(report["workflows"], 8, "{report}");
    assert_eq!(report["steps"], 40, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["steps_per_s"].as_f64().unwrap() > 0.0, "{report}");
    for key in ["step_ms", "push_ms"] {
        for p in ["p50", "p95", "p99", "max"] {
            assert!(
                report[key][p].as_f64().unwrap() > 0.0,
                "{key}.{p}: {report}"
            );
        }
    }
    assert!(stdout.contains("lost 0  failed 0"), "{stdout}");
}

#[test]
fn workflows_the_server_refuses_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = up(dir.path());
    // Tokens signed with another secret: every WebSocket is refused.
    let output = onboard(&[
        "bench",
        "--url",
        &server.url,
        "--rate",
        "10",
        "--duration",
        "1",
    ])
    .env(
        "ONBOARD_JWT_SECRET",
        "a-different-secret-than-the-servers-one-000",
    )
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("failed 2"), "{stdout}");
    assert!(
        !stderr.contains("a-different-secret"),
        "the secret is never printed: {stderr}"
    );
}

/// The settings that put an `onboard up` (or a bench) on the test Kafka, with topics and a
/// group of this test's own.
fn on_kafka<'a>(brokers: &'a str, prefix: &'a str, group: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("KAFKA_BROKERS", brokers),
        ("ONBOARD_BUS", "kafka"),
        ("ONBOARD_TOPIC_PREFIX", prefix),
        ("ONBOARD_CONSUMER_GROUP", group),
        ("ONBOARD_REPLICATION_FACTOR", "1"),
    ]
}

/// `onboard up` on the test Kafka in a new data directory, with a topic prefix and a group of
/// its own: the directory, the server, the prefix and the group.
fn up_on_kafka(brokers: &str) -> (tempfile::TempDir, Server, String, String) {
    up_on_kafka_with(brokers, &[])
}

/// [`up_on_kafka`] with `extra` settings added to the server's environment.
fn up_on_kafka_with(
    brokers: &str,
    extra: &[(&str, &str)],
) -> (tempfile::TempDir, Server, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}.", kafka_support::unique("bench"));
    let group = kafka_support::unique("bench");
    let mut env = on_kafka(brokers, &prefix, &group);
    env.extend_from_slice(extra);
    let server = up_with(dir.path(), &env);
    (dir, server, prefix, group)
}

/// `onboard bench --bus-direct` for 10 customers of `server`, 50 events a second for 2 s.
fn bench_bus_direct(
    server: &Server,
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    json: &std::path::Path,
) -> std::process::Output {
    onboard(&[
        "bench",
        "--bus-direct",
        "--url",
        &server.url,
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--customers",
        "10",
        "--rate",
        "50",
        "--duration",
        "2",
        "--event-timeout",
        "10",
        "--json",
        json.to_str().unwrap(),
    ])
    .envs(env.iter().copied())
    .output()
    .unwrap()
}

fn read_report(json: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

#[test]
fn bus_direct_events_written_to_kafka_reach_their_customers_once_and_in_order() {
    let Some(brokers) = kafka_support::brokers() else {
        return;
    };
    let (dir, server, prefix, group) = up_on_kafka(&brokers);
    let env = on_kafka(&brokers, &prefix, &group);
    let json = dir.path().join("bench.json");
    let output = bench_bus_direct(&server, dir.path(), &env, &json);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report = read_report(&json);
    assert_eq!(report["mode"], "bus-direct", "{report}");
    // 50 events/s for 2 s, each written (acknowledged) once and pushed once.
    assert_eq!(report["steps"], 100, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    for key in ["step_ms", "push_ms"] {
        assert!(
            report[key]["p50"].as_f64().unwrap() > 0.0,
            "{key}: {report}"
        );
    }
    assert!(stdout.contains("lost 0  failed 0"), "{stdout}");
}

#[test]
fn bus_direct_events_no_consumer_reads_are_lost_and_fail_the_run() {
    let Some(brokers) = kafka_support::brokers() else {
        return;
    };
    let (dir, server, _, group) = up_on_kafka(&brokers);
    // The bench writes to topics of another prefix, which the server does not consume.
    let elsewhere = format!("{}.", kafka_support::unique("elsewhere"));
    let json = dir.path().join("bench.json");
    let output = bench_bus_direct(
        &server,
        dir.path(),
        &on_kafka(&brokers, &elsewhere, &group),
        &json,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    let report = read_report(&json);
    assert_eq!(report["lost"], 100, "{report}");
}

/// `onboard gateway` beside an `onboard up` (same data directory, same Kafka).
fn gateway_beside(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
    serve("gateway", data_dir, env)
}

/// The split deployment: steps go to `onboard up`'s API, the customers' WebSockets to an
/// `onboard gateway` of their own (`--gateway`), and every event still arrives once, pushed
/// by the gateway the sockets are on.
#[test]
fn workflows_with_their_sockets_on_a_separate_gateway_lose_nothing() {
    let Some(brokers) = kafka_support::brokers() else {
        return;
    };
    let extra = [
        (
            "ONBOARD_JWT_SECRET",
            "bench-cli-test-secret-long-enough-for-hs256",
        ),
        ("ONBOARD_METRICS_PUBLIC", "true"),
    ];
    let (dir, server, prefix, group) = up_on_kafka_with(&brokers, &extra);
    let mut env = on_kafka(&brokers, &prefix, &group);
    env.extend_from_slice(&extra);
    let gateway = gateway_beside(dir.path(), &env);
    let json = dir.path().join("bench.json");
    let output = onboard(&[
        "bench",
        "--url",
        &server.url,
        "--gateway",
        &gateway.url,
        "--rate",
        "20",
        "--duration",
        "2",
        "--json",
        json.to_str().unwrap(),
    ])
    .envs(env.iter().copied())
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report = read_report(&json);
    assert_eq!(report["steps"], 40, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    let metrics = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            reqwest::get(format!("{}/metrics", gateway.url))
                .await?
                .text()
                .await
        })
        .unwrap();
    let pushed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("onboard_push_latency_seconds_count "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(
        pushed >= 40.0,
        "the gateway pushed {pushed} events: {metrics}"
    );
}

#[test]
fn bus_direct_without_kafka_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = onboard(&[
        "bench",
        "--bus-direct",
        "--url",
        "http://127.0.0.1:9",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("--bus-direct writes to Kafka topics"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
