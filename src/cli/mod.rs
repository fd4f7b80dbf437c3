//! The command line, parsed with clap: each command's flags become the top configuration layer
//! (`src/config`); `main.rs` only parses and calls [`run`].

pub mod bench;
pub mod check;
pub mod connections;
pub mod dlq;
pub mod doctor;
pub mod lambda;
pub mod migrate;
pub mod notifications;
pub mod token;
pub mod topics;
pub mod trace;
pub mod up;
pub mod watch;
pub mod watch_tls;

use crate::config::{Environment, Flags, Loaded, LogSection, Role, TelemetrySection};
use crate::otlp::OtlpExport;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "onboard",
    version,
    about = "Event-driven customer onboarding: API, event bus, consumers and WebSocket gateway"
)]
pub struct Cli {
    /// Configuration file (TOML, see onboard.example.toml); default: ONBOARD_CONFIG, else none.
    /// The environment overrides it, flags override both.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line; with no arguments under Lambda (`AWS_LAMBDA_RUNTIME_API` set), the
    /// binary is a custom runtime's `bootstrap` and serves `onboard lambda`.
    pub fn parse_or_bootstrap() -> Self {
        if std::env::args_os().len() <= 1 && crate::config::env::started_by_lambda() {
            return Self::parse_from(["onboard", "lambda"]);
        }
        Self::parse()
    }

    /// The configuration of this command: the file, then `env`, then the command's flags.
    pub fn load_config(&self, env: &Environment) -> Loaded {
        crate::config::load(self.config.as_deref(), env, self.command.flags())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every role in one process on the embedded defaults (SQLite, embedded bus, Maildir).
    Up(up::UpArgs),
    /// Run the producer API and its outbox relay (production: beside consumers and gateways).
    Api(up::ApiArgs),
    /// Run the consumers (all topics, or one with --topic / KAFKA_TOPIC) and the notifier.
    Consumer(up::ConsumerArgs),
    /// Run a WebSocket gateway node.
    Gateway(up::GatewayArgs),
    /// Print a customer token signed with the configured (or the data directory's) secret.
    Token(token::TokenArgs),
    /// Follow a customer's events live over the WebSocket, like a browser would.
    Watch(watch::WatchArgs),
    /// Create, list and describe the bus topics (like kafka-topics.sh).
    Topics(topics::TopicsArgs),
    /// Committed offsets and lag of a consumer group (like kafka-consumer-groups.sh).
    Groups(topics::GroupsArgs),
    /// Apply pending schema migrations to the store (`DATABASE_URL`, else the SQLite file).
    Migrate(migrate::MigrateArgs),
    /// Live WebSocket connections of every gateway node (the connection registry).
    Connections(connections::ConnectionsArgs),
    /// Dead-lettered records of the `.dlq` topics, and replaying them onto their topic (audited).
    Dlq(dlq::DlqArgs),
    /// Parked notifications (failed permanently), and redriving them once the cause is fixed.
    Notifications(notifications::NotificationsArgs),
    /// One customer's path, event by event: request id, outbox, publish, offset, commit,
    /// notifications, pushes and the latency of each hop.
    Trace(trace::TraceArgs),
    /// Check every configured dependency; a verdict and a remedy per check; exit 1 if any failed.
    Doctor(doctor::DoctorArgs),
    /// Print the effective configuration (secrets masked) and every problem; exit 1 if any.
    CheckConfig(check::CheckConfigArgs),
    /// Load a running server: open-loop workflows with their WebSockets, or idle connections.
    Bench(bench::BenchArgs),
    /// Serve one AWS Lambda function (the runtime loop); also what the binary run as
    /// `bootstrap` does without arguments under Lambda.
    Lambda(lambda::LambdaArgs),
}

impl Command {
    /// The command's flags, as configuration keys.
    fn flags(&self) -> Flags {
        match self {
            Self::Up(args) => args.flags(),
            Self::Api(args) => args.flags(),
            Self::Consumer(args) => args.flags(),
            Self::Gateway(args) => args.flags(),
            Self::Token(args) => args.flags(),
            Self::Watch(args) => args.flags(),
            Self::Topics(args) => args.flags(),
            Self::Groups(args) => args.flags(),
            Self::Migrate(args) => args.flags(),
            Self::Connections(args) => args.flags(),
            Self::Doctor(args) => args.flags(),
            Self::Notifications(args) => args.flags(),
            Self::Dlq(args) => args.flags(),
            Self::Trace(args) => args.flags(),
            Self::CheckConfig(_) => Flags::default(),
            Self::Bench(args) => args.flags(),
            Self::Lambda(args) => args.flags(),
        }
    }
}

/// Runs `command` with its layered configuration.
pub async fn run(command: Command, config: Loaded) -> anyhow::Result<()> {
    match command {
        Command::Up(_) => up::up(config).await,
        Command::Api(_) => up::role(Role::Api, config).await,
        Command::Consumer(_) => up::role(Role::Consumer, config).await,
        Command::Gateway(_) => up::role(Role::Gateway, config).await,
        Command::Token(args) => token::run(args, config).map(|token| println!("{token}")),
        Command::Watch(args) => watch::run(args, config).await,
        Command::Topics(args) => topics::topics(args, config).await,
        Command::Groups(args) => topics::groups(args, config).await,
        Command::Migrate(_) => migrate::run(config).await,
        Command::Connections(args) => connections::run(args, config).await,
        Command::Doctor(args) => doctor::run(args, config).await,
        Command::Notifications(args) => notifications::run(args, config).await,
        Command::Dlq(args) => dlq::run(args, config).await,
        Command::Trace(args) => trace::run(args, config).await,
        Command::CheckConfig(args) => check::run(args, config),
        Command::Bench(args) => bench::run(args, config).await,
        Command::Lambda(_) => crate::roles::lambda::run(config).await,
    }
}

/// Makes every file and folder this process creates private to its user (0600/0700): the
/// database, the event log, uploaded identity documents, mail and the generated secret hold
/// personal data or keys. One process-wide mask covers the files that libraries create too
/// (SQLite's -wal and -shm).
pub fn keep_files_private() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Sets up logging to stderr: human-readable, or JSON with `log.format = "json"`; with
/// `telemetry.otlp_endpoint` set, spans are exported too, and the returned export must be shut
/// down before the process ends. Runs before the validation, so an invalid filter falls back
/// to the default (and is reported).
pub fn init_logging(log: &LogSection, telemetry: &TelemetrySection) -> Option<OtlpExport> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_new(&log.filter)
        .unwrap_or_else(|_| EnvFilter::new(LogSection::default().filter));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = if log.format == "json" {
        lines.json().flatten_event(true).boxed()
    } else {
        lines.compact().boxed()
    };
    let subscriber = tracing_subscriber::registry().with(filter).with(lines);
    match crate::otlp::layer(telemetry) {
        Some((spans, export)) => {
            subscriber.with(spans).init();
            Some(export)
        }
        None => {
            subscriber.init();
            None
        }
    }
}

/// Cancels the token on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("Shutdown requested; draining.");
        trigger.cancel();
    });
    token
}
