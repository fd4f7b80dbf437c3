//! `onboard trace CUSTOMER_ID`: one customer's path, event by event (`roles::trace`), read
//! through the store port, so it answers for the embedded setup and for PostgreSQL alike.

use crate::config::{Flags, Loaded};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::wiring::StoreSettings;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The customer whose events to trace.
    #[arg(value_parser = CustomerId::parse)]
    pub customer: CustomerId,
    /// Only this application's events.
    #[arg(long, value_parser = ApplicationId::parse)]
    pub application: Option<ApplicationId>,
    /// The trace as one JSON document (the same as `GET /v1/ops/trace/{customerId}`).
    #[arg(long)]
    pub json: bool,
    /// The SQLite store's directory, used when no PostgreSQL is configured (`data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl TraceArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags.set_path("data_dir", self.data_dir.as_deref());
        flags
    }
}

pub async fn run(args: TraceArgs, config: Loaded) -> anyhow::Result<()> {
    let (settings, topics) = config.build(|c, p| (c.store_settings(p), c.topic_names(p)))?;
    if let StoreSettings::Sqlite { path } = &settings {
        // Opening would create an empty store: a wrong --data-dir would trace nothing, silently.
        anyhow::ensure!(
            path.exists(),
            "no store at {}: give the --data-dir (or --config) of the running system",
            path.display()
        );
    }
    let store = settings.open().await?;
    let trace = crate::roles::trace::customer_trace(
        store.as_ref(),
        &topics,
        &args.customer,
        args.application,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string(&trace)?);
    } else {
        print!("{}", crate::roles::trace::render_text(&trace));
    }
    Ok(())
}
