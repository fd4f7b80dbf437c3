//! The load tool: many customers run the whole workflow concurrently against a running Onboard
//! while each holds a WebSocket open; reports step latency, push latency (from the step's HTTP
//! answer to the event's frame) and throughput.
//!
//! ```sh
//! cargo run --release -- up --data-dir /tmp/load &
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --data-dir /tmp/load --customers 2000 --concurrency 64
//! ```

use futures::StreamExt;
use onboard::auth::Authenticator;
use onboard::domain::ids::CustomerId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

struct Options {
    url: String,
    customers: usize,
    concurrency: usize,
    data_dir: std::path::PathBuf,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        customers: 500,
        concurrency: 32,
        data_dir: "./onboard-data".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => options.url = value,
            "--customers" => {
                options.customers = value.parse().map_err(|_| "--customers takes a number")?
            }
            "--concurrency" => {
                options.concurrency = value.parse().map_err(|_| "--concurrency takes a number")?
            }
            "--data-dir" => options.data_dir = value.into(),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

#[derive(Default)]
struct Sample {
    steps: Vec<Duration>,
    pushes: Vec<Duration>,
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let config = onboard::config::load(
        None,
        &onboard::config::Environment::from_process(),
        onboard::config::Flags::default(),
    );
    let secret = config
        .build(|c, p| c.jwt_source(p))
        .map_err(anyhow::Error::from)
        .and_then(|source| Ok(source.resolve(&options.data_dir, false)?))
        .unwrap_or_else(|e| {
            eprintln!("load: {e}");
            std::process::exit(2);
        });
    let auth = Arc::new(Authenticator::new(&secret));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(options.concurrency));
    let run = format!("{:x}", rand_suffix());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..options.customers {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (http, auth, url, run) = (http.clone(), auth.clone(), options.url.clone(), run.clone());
        tasks.spawn(async move {
            let result = workflow(&http, &auth, &url, &format!("load-{run}-{i}")).await;
            drop(permit);
            result
        });
    }
    let mut all = Sample::default();
    let mut failures = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(sample) => {
                all.steps.extend(sample.steps);
                all.pushes.extend(sample.pushes);
            }
            Err(e) => {
                failures += 1;
                if failures <= 5 {
                    eprintln!("load: a workflow failed: {e}");
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let done = options.customers - failures;
    println!(
        "customers {}  concurrency {}  failed {}",
        options.customers, options.concurrency, failures
    );
    println!(
        "elapsed {:.2}s  workflows/s {:.1}  steps/s {:.1}",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64(),
        all.steps.len() as f64 / elapsed.as_secs_f64()
    );
    print_latency("step (HTTP answer)", &mut all.steps);
    print_latency("push (answer -> WebSocket frame)", &mut all.pushes);
    if failures > 0 {
        std::process::exit(1);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn print_latency(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name:<34} n {:>6}  p50 {:>7.2}ms  p95 {:>7.2}ms  p99 {:>7.2}ms  max {:>7.2}ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

async fn workflow(
    http: &reqwest::Client,
    auth: &Authenticator,
    url: &str,
    customer: &str,
) -> Result<Sample, String> {
    let token = auth.issue(&CustomerId::parse(customer).unwrap(), 3600);
    let ws_url = format!(
        "{}/ws?customerId={customer}&token={token}",
        url.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .map_err(|e| e.to_string())?;
    next_of_type(&mut ws, "welcome").await?;
    let mut sample = Sample::default();
    let payload = r#"{"email":"EMAIL","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#
        .replace("EMAIL", &format!("{customer}@example.com"));
    let created = step(
        http,
        &token,
        &format!("{url}/v1/customers"),
        Body::Json(payload),
        &mut sample,
        &mut ws,
    )
    .await?;
    let app = created["applicationId"]
        .as_str()
        .ok_or("no applicationId")?
        .to_string();
    let pdf = b"%PDF-1.4\n%%EOF\n".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("documentType", "passport")
        .text("documentNumber", "X1234567")
        .text("fullName", "John Doe")
        .text("expiryDate", "2035-01-01")
        .part(
            "file",
            reqwest::multipart::Part::bytes(pdf).file_name("p.pdf"),
        );
    step(
        http,
        &token,
        &format!("{url}/v1/applications/{app}/documents"),
        Body::Form(form),
        &mut sample,
        &mut ws,
    )
    .await?;
    step(
        http,
        &token,
        &format!("{url}/v1/applications/{app}/kyc"),
        Body::Empty,
        &mut sample,
        &mut ws,
    )
    .await?;
    let rec = step(
        http,
        &token,
        &format!("{url}/v1/applications/{app}/policy-recommendation"),
        Body::Json(r#"{"coverageType":"life","monthlyBudget":100}"#.into()),
        &mut sample,
        &mut ws,
    )
    .await?;
    let policy = rec["policyId"].as_str().ok_or("no policyId")?;
    step(
        http,
        &token,
        &format!("{url}/v1/applications/{app}/complete"),
        Body::Json(format!(r#"{{"policyId":"{policy}"}}"#)),
        &mut sample,
        &mut ws,
    )
    .await?;
    let _ = ws.close(None).await;
    Ok(sample)
}

enum Body {
    Json(String),
    Form(reqwest::multipart::Form),
    Empty,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One step: its HTTP latency, then the latency until its event arrives on the WebSocket.
async fn step(
    http: &reqwest::Client,
    token: &str,
    url: &str,
    body: Body,
    sample: &mut Sample,
    ws: &mut Ws,
) -> Result<serde_json::Value, String> {
    let request = http.post(url).bearer_auth(token);
    let request = match body {
        Body::Json(json) => request
            .header("content-type", "application/json")
            .body(json),
        Body::Form(form) => request.multipart(form),
        Body::Empty => request,
    };
    let sent = Instant::now();
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let answered = Instant::now();
    sample.steps.push(answered - sent);
    if !status.is_success() {
        return Err(format!("{url} answered {status}: {answer}"));
    }
    next_of_type(ws, "event").await?;
    sample.pushes.push(answered.elapsed());
    Ok(answer)
}

async fn next_of_type(ws: &mut Ws, kind: &str) -> Result<serde_json::Value, String> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| format!("no {kind} frame within 30 s"))?
            .ok_or("the WebSocket closed")?
            .map_err(|e| e.to_string())?;
        if let Message::Text(text) = message {
            let frame: serde_json::Value =
                serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
            if frame["type"] == kind {
                return Ok(frame);
            }
        }
    }
}
