//! The command line: `onboard up | token | watch`, parsed with clap; `main.rs` only dispatches.

pub mod migrate;
pub mod token;
pub mod topics;
pub mod up;
pub mod watch;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "onboard",
    version,
    about = "Event-driven customer onboarding: API, event bus, consumers and WebSocket gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
}

/// Sets up logging to stderr: human-readable, or JSON with `ONBOARD_LOG_FORMAT=json`.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("ONBOARD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("ONBOARD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().flatten_event(true).init();
    } else {
        builder.compact().init();
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
