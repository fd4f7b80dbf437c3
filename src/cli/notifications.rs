//! `onboard notifications list --parked` and `onboard notifications redrive`: the
//! notifications that failed permanently (parked by the dispatcher with their error), and
//! making them due again once the cause is fixed, through the store port, so it works for every
//! node at once.

use super::topics::table;
use crate::config::{Flags, Loaded};
use crate::ports::store::{ParkedNotification, Store};
use crate::roles::notify::parked_until;
use crate::wiring::StoreSettings;
use chrono::{SecondsFormat, Utc};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct NotificationsArgs {
    #[command(subcommand)]
    pub command: NotificationsCommand,
    /// The SQLite store's directory, used when no PostgreSQL is configured (`data_dir`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Parked notifications (failed permanently): id, event, kind, attempts, error, oldest first.
    List {
        /// Only the parked ones (the only listing there is; required so the meaning is explicit).
        #[arg(long, required = true)]
        parked: bool,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// At most this many rows.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
        limit: i64,
    },
    /// Makes parked notifications due again; the dispatcher delivers them on its next round.
    /// Redriving one that is no longer parked changes nothing.
    Redrive {
        /// The notifications (ids from `list --parked`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every parked notification.
        #[arg(long)]
        all: bool,
    },
}

impl NotificationsArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags.set_path("data_dir", self.data_dir.as_deref());
        flags
    }
}

/// The configured store; a SQLite file that does not exist is an error, not a new empty store.
pub(crate) async fn open_existing_store(config: &Loaded) -> anyhow::Result<Arc<dyn Store>> {
    let settings = config.build(|c, p| c.store_settings(p))?;
    if let StoreSettings::Sqlite { path } = &settings {
        anyhow::ensure!(
            path.exists(),
            "no store at {}: give the --data-dir (or --config) of the running system",
            path.display()
        );
    }
    settings.open().await
}

pub async fn run(args: NotificationsArgs, config: Loaded) -> anyhow::Result<()> {
    let store = open_existing_store(&config).await?;
    match args.command {
        NotificationsCommand::List { json, limit, .. } => {
            let parked = store.parked_notifications(parked_until(), limit).await?;
            if json {
                println!("{}", render_json(&parked));
            } else if parked.is_empty() {
                eprintln!("No parked notifications.");
            } else {
                print!("{}", render_table(&parked));
            }
        }
        NotificationsCommand::Redrive { all: true, .. } => {
            let redriven = redrive_all(&*store).await?;
            println!("Redrove {redriven} parked notification(s).");
        }
        NotificationsCommand::Redrive { ids, .. } => {
            let mut not_parked = Vec::new();
            for id in &ids {
                if !store
                    .redrive_notification(id, parked_until(), Utc::now())
                    .await?
                {
                    not_parked.push(id.as_str());
                }
            }
            println!(
                "Redrove {} parked notification(s).",
                ids.len() - not_parked.len()
            );
            if !not_parked.is_empty() {
                eprintln!(
                    "Not parked (unknown, delivered or already redriven), left unchanged: {}",
                    not_parked.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// Redrives page after page until none is parked; one parked again meanwhile (by a dispatcher
/// failing it anew) is not taken twice, so this ends.
async fn redrive_all(store: &dyn Store) -> anyhow::Result<usize> {
    let mut done: Vec<String> = Vec::new();
    loop {
        let fresh: Vec<String> = store
            .parked_notifications(parked_until(), 1000)
            .await?
            .into_iter()
            .map(|n| n.id)
            .filter(|id| !done.contains(id))
            .collect();
        if fresh.is_empty() {
            return Ok(done.len());
        }
        for id in fresh {
            if store
                .redrive_notification(&id, parked_until(), Utc::now())
                .await?
            {
                done.push(id);
            }
        }
    }
}

pub fn render_table(parked: &[ParkedNotification]) -> String {
    let mut rows = vec![vec![
        "NOTIFICATION".to_string(),
        "KIND".into(),
        "CREATED-AT".into(),
        "ATTEMPTS".into(),
        "ERROR".into(),
    ]];
    for n in parked {
        rows.push(vec![
            n.id.clone(),
            n.kind.as_str().to_string(),
            n.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            n.attempts.to_string(),
            n.last_error.clone().unwrap_or_default(),
        ]);
    }
    table(&rows).into_iter().map(|l| l + "\n").collect()
}

pub fn render_json(parked: &[ParkedNotification]) -> String {
    let rows: Vec<_> = parked
        .iter()
        .map(|n| {
            json!({
                "id": n.id, "eventId": n.event_id.to_string(), "kind": n.kind.as_str(),
                "createdAt": n.created_at, "attempts": n.attempts, "lastError": n.last_error,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}
