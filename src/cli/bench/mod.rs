//! `onboard bench`: the load tool. Customers start the whole workflow at a fixed rate (open
//! loop: whatever the server's answer time), each with its WebSocket open, and every event is
//! checked to arrive once and in order; or `--connections N --hold S` holds idle WebSockets;
//! or `--bus-direct` writes events straight to the Kafka topics for registered customers, to
//! measure the consumer → WebSocket leg alone.
//! Latencies go into HDR histograms; a live line shows progress on a terminal, a table ends the
//! run, `--json FILE` keeps the figures, and the exit status fails on any loss or failure.
//!
//! Tokens are minted from the configured JWT secret (`ONBOARD_JWT_SECRET`, its file, or the
//! data directory's generated one), never taken from the command line.

mod bus_direct;
mod checker;
mod idle;
mod locate;
mod report;
mod schedule;
mod workflow;

use crate::auth::Authenticator;
use crate::config::{Flags, Loaded};
use crate::domain::ids::CustomerId;
use crate::wiring::BusSettings;
use anyhow::Context;
use report::{Report, Tally};
use schedule::{Schedule, STEPS_PER_WORKFLOW};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use workflow::{lock, Client};

/// `onboard bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the server (`watch.url`, ONBOARD_URL, default http://127.0.0.1:8080).
    #[arg(long)]
    pub url: Option<String>,
    /// Data directory whose generated secret mints the customers' tokens when no JWT secret is
    /// configured (`data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Steps per second over all customers (each workflow is 5 steps); with --bus-direct,
    /// events written to the bus per second.
    #[arg(long, default_value_t = 50.0, value_parser = positive_rate)]
    pub rate: f64,
    /// Seconds during which new workflows start.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub duration: f64,
    /// At most this many customers (workflows) in the run; with --bus-direct, the customers
    /// registered and connected before the events are written (default 100).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub customers: Option<u64>,
    /// A customer's pause between the intended times of two of its steps, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub think_ms: u64,
    /// Seconds to wait for a step's event before counting it lost.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds)]
    pub event_timeout: f64,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Instead of workflows: open this many idle customer WebSockets and hold them.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub connections: Option<u64>,
    /// Seconds to hold the idle WebSockets of --connections.
    #[arg(long, default_value_t = 10.0, value_parser = positive_seconds, requires = "connections")]
    pub hold: f64,
    /// Instead of workflows: register --customers customers, then write events for them
    /// straight to the bus topics at --rate (continuing each customer's sequence) and measure
    /// the consumer → WebSocket leg alone. Kafka only (KAFKA_BROKERS, `bus.kind`).
    #[arg(long, conflicts_with = "connections")]
    pub bus_direct: bool,
    /// Prefix of the topic names, as given to the server (`bus.topic_prefix`); --bus-direct.
    #[arg(long, requires = "bus_direct")]
    pub topic_prefix: Option<String>,
    /// Base URL of a gateway to open the customers' WebSockets on instead of --url (a split
    /// deployment: api and gateways apart); repeat it to spread the customers over several.
    #[arg(long = "gateway", value_name = "URL")]
    pub gateways: Vec<String>,
    /// The server's process id, to report its memory per connection (found by the port of
    /// --url, or of every --gateway, when they run on this machine).
    #[arg(long)]
    pub pid: Option<u32>,
}

/// Customers connected in a --bus-direct run unless --customers says otherwise.
const DEFAULT_BUS_CUSTOMERS: u64 = 100;

fn positive_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 1_000_000.0 => Ok(x),
        _ => Err("must be a number above 0 (and at most 1000000)".into()),
    }
}

fn positive_seconds(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 86_400.0 => Ok(x),
        _ => Err("must be a number of seconds above 0 (and at most a day)".into()),
    }
}

impl BenchArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags
            .set_some("watch.url", self.url.clone())
            .set_path("data_dir", self.data_dir.as_deref())
            .set_some("bus.topic_prefix", self.topic_prefix.clone());
        flags
    }
}

/// Runs `onboard bench`; an error when anything was lost or failed.
pub async fn run(args: BenchArgs, config: Loaded) -> anyhow::Result<()> {
    let (source, url, data_dir, bus, topics) = config.build(|c, p| {
        (
            c.jwt_source(p),
            c.watch.url.clone(),
            c.data_dir.clone(),
            c.bus_settings(p),
            c.topic_names(p),
        )
    })?;
    if args.bus_direct && !matches!(bus, BusSettings::Kafka(_)) {
        anyhow::bail!(
            "--bus-direct writes to Kafka topics: set KAFKA_BROKERS (or bus.kind = kafka); the embedded bus lives inside the server's process"
        );
    }
    let secret = source.resolve(&data_dir, false)?;
    let base = trimmed(&url);
    let gateways: Vec<String> = if args.gateways.is_empty() {
        vec![base.clone()]
    } else {
        args.gateways.iter().map(|g| trimmed(g)).collect()
    };
    // Checks the URLs once, with a clear message, before any load starts.
    let probe = CustomerId::parse("bench").expect("a valid id");
    crate::cli::watch::gateway_url(&base, &probe)?;
    for gateway in &gateways {
        crate::cli::watch::gateway_url(gateway, &probe)
            .with_context(|| format!("--gateway {gateway}"))?;
    }
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .context("cannot build the HTTP client")?,
        auth: Authenticator::new(&secret),
        base,
        gateways,
        event_timeout: Duration::from_secs_f64(args.event_timeout),
    });
    wait_until_ready(&client, &client.base).await?;
    for gateway in client.gateways.iter().filter(|g| **g != client.base) {
        wait_until_ready(&client, gateway).await?;
    }
    // Customer ids unique to this run, so a rerun against the same server starts fresh streams.
    let run_id = format!("bench-{:x}", uuid::Uuid::new_v4().as_u128() as u32);

    let report = match args.connections {
        Some(count) => {
            let holders = locate::socket_holders(args.pid, &client.gateways);
            let started = Instant::now();
            let connections = idle::hold(
                client,
                &run_id,
                count,
                Duration::from_secs_f64(args.hold),
                &holders,
            )
            .await;
            let mut report = Tally::default().report("connections", 0.0, started.elapsed());
            report.failed = connections.failed;
            report.connections = Some(connections);
            report
        }
        None if args.bus_direct => {
            let bus = bus.open().await?;
            let plan = bus_direct::Plan {
                customers: args.customers.unwrap_or(DEFAULT_BUS_CUSTOMERS),
                rate: args.rate,
                duration: Duration::from_secs_f64(args.duration),
            };
            bus_direct::run(client, &run_id, plan, bus, topics).await
        }
        None => workflows(client, &run_id, &args).await,
    };
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    anyhow::ensure!(
        report.passed(),
        "{} events lost, {} failed",
        report.lost,
        report.failed
    );
    Ok(())
}

fn trimmed(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// How long the bench waits for the server's `/readyz` before giving up.
const READY_PATIENCE: Duration = Duration::from_secs(30);

/// Waits until the server answers `/readyz` with success: a load started earlier measures the
/// start-up (a Kafka consumer group still being assigned) rather than the server.
async fn wait_until_ready(client: &Client, base: &str) -> anyhow::Result<()> {
    let url = format!("{base}/readyz");
    let give_up = Instant::now() + READY_PATIENCE;
    loop {
        let last = match client.http.get(&url).send().await {
            Ok(answer) if answer.status().is_success() => return Ok(()),
            Ok(answer) => format!("HTTP {}", answer.status().as_u16()),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= give_up {
            anyhow::bail!(
                "{url} is not ready after {} s (last answer: {last})",
                READY_PATIENCE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The open-loop workflow run.
async fn workflows(client: Arc<Client>, run_id: &str, args: &BenchArgs) -> Report {
    let schedule = Schedule {
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        customers: args.customers,
        think: Duration::from_millis(args.think_ms),
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let progress = Progress::start(tally.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..schedule.workflows() {
        let intended: Vec<Instant> = (0..STEPS_PER_WORKFLOW)
            .map(|k| started + schedule.step_at(i, k))
            .collect();
        // Spawned at its start time, so a long run does not hold every future task at once.
        tokio::time::sleep_until(intended[0]).await;
        let customer = CustomerId::parse(&format!("{run_id}-{i}")).expect("a valid id");
        tasks.spawn(workflow::run(
            client.clone(),
            customer,
            intended,
            tally.clone(),
        ));
        while let Some(joined) = tasks.try_join_next() {
            settle(joined, &tally);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        settle(joined, &tally);
    }
    let elapsed = started.elapsed();
    progress.finish();
    let report = lock(&tally).report("workflow", args.rate, elapsed);
    report
}

/// Counts a finished workflow; the first few failures are printed with their reason.
fn settle(
    joined: Result<Result<(), workflow::WorkflowError>, tokio::task::JoinError>,
    tally: &Mutex<Tally>,
) {
    let mut tally = lock(tally);
    tally.workflows += 1;
    let error = match joined {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => format!("the workflow task ended: {e}"),
    };
    tally.failed += 1;
    if tally.failed <= 5 {
        eprintln!("bench: a workflow failed: {error}");
    }
}

/// The live line (on a terminal only): steps so far, their rate and p99.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(tally: Arc<Mutex<Tally>>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                ticker: None,
            };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let started = Instant::now();
            let mut every = tokio::time::interval(Duration::from_millis(500));
            loop {
                every.tick().await;
                let line = {
                    let t = lock(&tally);
                    let secs = started.elapsed().as_secs_f64().max(f64::EPSILON);
                    format!(
                        "{:>6.1} s  steps {}  {:.0}/s  step p99 {:.1} ms  push p99 {:.1} ms  failed {}  lost {}",
                        secs,
                        t.step.len(),
                        t.step.len() as f64 / secs,
                        t.step.value_at_quantile(0.99) as f64 / 1000.0,
                        t.push.value_at_quantile(0.99) as f64 / 1000.0,
                        t.failed,
                        t.lost
                    )
                };
                shown.set_message(line);
                shown.tick();
            }
        });
        Self {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
