//! Issue 11's trace, against a real `onboard up` child with JSON logs: a step's request id is
//! echoed, becomes the events' correlation id and shows in the relay's, the consumer's, the
//! gateway's and the notification dispatcher's log lines; after a full workflow `onboard
//! trace` (and `GET /v1/ops/trace`) shows the five step topics with their offsets, commits,
//! notifications and pushes. With an OTLP endpoint set, the spans of a step reach an
//! OpenTelemetry collector by the graceful stop.
//!
//! Embedded bus and SQLite by default; `ONBOARD_TEST_BUS=kafka ONBOARD_TEST_STORE=postgres`
//! runs the same test on Kafka + PostgreSQL (as scripts/test.sh does), and
//! `ONBOARD_TEST_STORE=dynamodb` on DynamoDB (moto).

#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use onboard::testing::ports::free_port;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message as _;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const REQUEST_ID: &str = "trace-test-request-0001";

/// The child, killed when dropped so a failing test leaves no server behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An `onboard` command on `data_dir`'s store and bus, with nothing from the developer's shell.
fn onboard(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command);
    command.env_remove("ONBOARD_CONFIG");
    store_env(&mut command, data_dir);
    bus_env(&mut command, data_dir);
    command
}

/// `onboard up` with JSON logs at debug in `log`, and `extra` settings.
fn start_up(data_dir: &Path, port: u16, log: &Path, extra: &[(&str, &str)]) -> Running {
    let child = onboard(data_dir)
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("ONBOARD_JWT_SECRET", SECRET)
        .env("ONBOARD_LOG", "info,onboard=debug,tower_http=debug")
        .env("ONBOARD_LOG_FORMAT", "json")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("onboard up starts");
    Running(child)
}

/// The seed's first step for `customer`, sent with the client's own request id.
async fn submit_with_request_id(app: &TestApp, customer: &CustomerClient<'_>) -> reqwest::Response {
    let created = app
        .http
        .post(app.url("/v1/customers"))
        .bearer_auth(&customer.token)
        .header("content-type", "application/json")
        .header("x-request-id", REQUEST_ID)
        .body(SEED_PAYLOAD)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    created
}

async fn get_trace(app: &TestApp, customer: &str) -> Value {
    let response = app
        .http
        .get(app.url(&format!("/v1/ops/trace/{customer}")))
        .bearer_auth(&app.management_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Every hop of the five events recorded: committed, mailed and pushed to a live tab.
fn complete(trace: &Value) -> bool {
    let events = trace["events"].as_array().unwrap();
    events.len() == 5
        && events.iter().all(|e| {
            !e["committedAt"].is_null()
                && e["pushes"].as_array().is_some_and(|p| !p.is_empty())
                && e["notifications"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|n| n["status"] == "sent")
        })
}

fn trace_cli(data_dir: &Path, args: &[&str]) -> String {
    let output = onboard(data_dir)
        .arg("trace")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("onboard trace runs");
    assert!(
        output.status.success(),
        "onboard trace failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The child's JSON log lines that carry `id` as their correlation id, in a field or a span.
fn log_lines_with(log: &Path, id: &str) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| {
            let in_span = |span: &Value| span["correlation_id"] == id;
            line["correlation_id"] == id
                || line.get("span").is_some_and(in_span)
                || line["spans"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(in_span))
        })
        .collect()
}

fn targets(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l["target"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_request_id_runs_through_the_logs_and_trace_shows_every_hop_of_a_workflow() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let log = tmp.path().join("onboard.log");
    let port = free_port();
    let _child = start_up(&data_dir, port, &log, &[]);
    let app = TestApp::remote(&data_dir, port).await;
    let customer = app.customer("trace-customer");
    let mut tab = customer.tab().await;
    let connection_id = tab.welcome["connectionId"].as_str().unwrap().to_string();

    // The first step with the client's own request id; the other four get one from the edge.
    let created = submit_with_request_id(&app, &customer).await;
    assert_eq!(created.headers()["x-request-id"], REQUEST_ID);
    let body: Value = created.json().await.unwrap();
    let application = body["applicationId"].as_str().unwrap().to_string();
    customer
        .continue_workflow_from_documents(&application)
        .await;
    let pushed = tab.events(5).await;
    assert_eq!(types(&pushed), WORKFLOW_TOPICS);
    assert_eq!(pushed[0]["correlationId"], REQUEST_ID);

    // A refused request names its id in the problem too; an unusable id is replaced. (Another
    // customer: the refusal is a workflow-errors event of its own.)
    let refused = app
        .http
        .post(app.url("/v1/customers"))
        .bearer_auth(app.token("trace-refused"))
        .header("content-type", "application/json")
        .header("x-request-id", "a request id with spaces")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
    let echoed = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(echoed, "a request id with spaces");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["requestId"], echoed.as_str());

    let deadline = Instant::now() + Duration::from_secs(20);
    let trace = loop {
        let trace = get_trace(&app, "trace-customer").await;
        if complete(&trace) {
            break trace;
        }
        assert!(
            Instant::now() < deadline,
            "the trace never completed: {trace:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let events = trace["events"].as_array().unwrap();
    let topics: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(topics, WORKFLOW_TOPICS);
    assert_eq!(events[0]["correlationId"], REQUEST_ID);
    for event in events {
        assert!(event["topic"]
            .as_str()
            .unwrap()
            .ends_with(event["type"].as_str().unwrap()));
        assert!(event["partition"].as_i64().is_some(), "{event:#}");
        assert!(event["offset"].as_i64().is_some(), "{event:#}");
        // DynamoDB deletes an outbox row once the bus acknowledged it; SQL keeps it as sent.
        if std::env::var(STORE_SWITCH).as_deref() != Ok("dynamodb") {
            assert!(!event["outbox"]["sentAt"].is_null(), "{event:#}");
        }
        // Each hop after the one before: answered, published, stored, committed (to the
        // millisecond: a record's timestamp has no finer resolution).
        let hops: Vec<i64> = ["answeredAt", "publishedAt", "storedAt", "committedAt"]
            .iter()
            .map(|hop| {
                serde_json::from_value::<chrono::DateTime<chrono::Utc>>(event[*hop].clone())
                    .expect(hop)
                    .timestamp_millis()
            })
            .collect();
        assert!(hops.windows(2).all(|w| w[0] <= w[1]), "{event:#}");
        for hop in [
            "answerToPublish",
            "publishToStore",
            "storeToCommit",
            "answerToPush",
        ] {
            let ms = event["latencyMs"][hop].as_i64();
            assert!(ms.is_some_and(|ms| ms >= 0), "{hop} of {event:#}");
        }
        let push = &event["pushes"][0];
        assert_eq!(push["connectionId"], connection_id.as_str());
        assert_eq!(push["outcome"], "delivered");
        assert_eq!(event["notifications"][0]["kind"], "customer_email");
    }

    // The command prints the same trace (nothing changed since), and filters by application.
    let printed: Value = serde_json::from_str(&trace_cli(&data_dir, &["trace-customer", "--json"]))
        .expect("--json prints JSON");
    assert_eq!(printed, trace);
    let other_application = onboard::domain::ids::ApplicationId::new().to_string();
    let filtered: Value = serde_json::from_str(&trace_cli(
        &data_dir,
        &[
            "trace-customer",
            "--json",
            "--application",
            &other_application,
        ],
    ))
    .unwrap();
    assert_eq!(filtered["events"], serde_json::json!([]));
    let text = trace_cli(&data_dir, &["trace-customer"]);
    assert_eq!(text.matches("offset committed").count(), 5, "{text}");
    assert!(
        text.contains(REQUEST_ID) && text.contains(&connection_id),
        "{text}"
    );

    // Every role on the way logged with the first step's request id.
    let lines = log_lines_with(&log, REQUEST_ID);
    let targets = targets(&lines);
    for role in [
        "tower_http",
        "onboard::roles::relay",
        "onboard::roles::consumer",
        "onboard::roles::gateway",
        "onboard::roles::notify",
    ] {
        assert!(
            targets.iter().any(|t| t.starts_with(role)),
            "no log line of {role} carries the request id; lines with it: {targets:?}"
        );
    }
}

#[tokio::test]
async fn the_trace_endpoint_needs_the_management_token_and_a_valid_customer_id() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = free_port();
    let _child = start_up(&data_dir, port, &tmp.path().join("onboard.log"), &[]);
    let app = TestApp::remote(&data_dir, port).await;
    let anonymous = app
        .http
        .get(app.url("/v1/ops/trace/someone"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let invalid = app
        .http
        .get(app.url("/v1/ops/trace/someone?applicationId=not-a-uuid"))
        .bearer_auth(&app.management_token)
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    let problem: Value = invalid.json().await.unwrap();
    assert!(problem.to_string().contains("applicationId"), "{problem}");
    assert_eq!(
        get_trace(&app, "nobody-here").await["events"],
        serde_json::json!([])
    );
}

/// An OpenTelemetry collector: keeps every OTLP/HTTP trace export posted to `/v1/traces`.
struct Collector {
    url: String,
    exports: std::sync::Arc<std::sync::Mutex<Vec<ExportTraceServiceRequest>>>,
}

impl Collector {
    async fn start() -> Self {
        use axum::{body::Bytes, extract::State, http::StatusCode, routing::post, Router};
        type Exports = std::sync::Arc<std::sync::Mutex<Vec<ExportTraceServiceRequest>>>;
        async fn receive(State(exports): State<Exports>, body: Bytes) -> StatusCode {
            match ExportTraceServiceRequest::decode(body) {
                Ok(export) => {
                    exports.lock().unwrap().push(export);
                    StatusCode::OK
                }
                Err(_) => StatusCode::BAD_REQUEST,
            }
        }
        let exports = Exports::default();
        let router = Router::new()
            .route("/v1/traces", post(receive))
            .with_state(exports.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, exports }
    }

    /// Every exported span's name, `correlation_id` attribute and resource `service.name`.
    fn spans(&self) -> Vec<(String, Option<String>, Option<String>)> {
        fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
            attributes
                .iter()
                .find(|a| a.key == key)
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|value| match value {
                    any_value::Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
        }
        let mut spans = Vec::new();
        for export in self.exports.lock().unwrap().iter() {
            for resource_spans in &export.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|r| text(&r.attributes, "service.name"));
                for scope in &resource_spans.scope_spans {
                    for span in &scope.spans {
                        spans.push((
                            span.name.clone(),
                            text(&span.attributes, "correlation_id"),
                            service.clone(),
                        ));
                    }
                }
            }
        }
        spans
    }
}

#[tokio::test]
async fn with_an_otlp_endpoint_the_spans_of_a_step_reach_the_collector_by_a_graceful_stop() {
    let collector = Collector::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = free_port();
    let mut child = start_up(
        &data_dir,
        port,
        &tmp.path().join("onboard.log"),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url.as_str()),
            ("OTEL_SERVICE_NAME", "onboard-under-test"),
            // Batches would go out a minute later: only the flush on stop can deliver them.
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        ],
    );
    let app = TestApp::remote(&data_dir, port).await;
    let customer = app.customer("otlp-customer");
    let mut tab = customer.tab().await;
    submit_with_request_id(&app, &customer).await;
    // Consumed and pushed: the consumer's span of the event has ended too.
    assert_eq!(tab.events(1).await[0]["correlationId"], REQUEST_ID);
    assert!(collector.spans().is_empty(), "exported before the stop");

    // SAFETY: kill only sends SIGTERM to the child this test started.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "no stop within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "onboard up stopped with {status}");

    let spans = collector.spans();
    let of_request: Vec<&String> = spans
        .iter()
        .filter(|(_, correlation, _)| correlation.as_deref() == Some(REQUEST_ID))
        .map(|(name, _, _)| name)
        .collect();
    for name in ["request", "event"] {
        assert!(
            of_request.iter().any(|n| *n == name),
            "no '{name}' span with the request id; spans with it: {of_request:?}"
        );
    }
    assert!(
        spans
            .iter()
            .all(|(_, _, service)| service.as_deref() == Some("onboard-under-test")),
        "{spans:?}"
    );
}
