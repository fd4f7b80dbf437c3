//! `onboard dlq list|show|replay`: the dead-lettered records of the `.dlq` topics, and putting
//! them back on their original topic once the cause is fixed, audited in the store (who, when,
//! why, which record). The logic is `roles::dead_letters`, shared with the operator page.

use super::notifications::open_existing_store;
use super::topics::{table, BusTarget};
use crate::config::{Flags, Loaded};
use crate::roles::dead_letters::{DeadLetter, DeadLetters, ReplayOutcome, DEFAULT_LIST_LIMIT};
use chrono::SecondsFormat;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
    #[command(flatten)]
    pub target: BusTarget,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead-lettered records: id, original topic, reason, attempts, event id and type, time,
    /// and whether they were replayed; oldest first per partition.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// At most this many records.
        #[arg(long, default_value_t = DEFAULT_LIST_LIMIT as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        limit: u32,
    },
    /// One record: every header it carries, its replays, and its value.
    Show {
        /// The record (an id from `dlq list`: <dead-letter topic>:<partition>:<offset>).
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Puts records back on their original topic (after the cause is fixed) and audits it. A
    /// record replayed before is refused unless --force; exit 1 if any was refused or failed.
    Replay {
        /// The records (ids from `dlq list`).
        #[arg(required = true)]
        ids: Vec<String>,
        /// Why (what was fixed); kept in the audit row.
        #[arg(long, required = true)]
        reason: String,
        /// Who asks (default: the OS user).
        #[arg(long)]
        by: Option<String>,
        /// Replay records that were replayed before too.
        #[arg(long)]
        force: bool,
    },
}

impl DlqArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        self.target.flags(&mut flags);
        flags
    }
}

pub async fn run(args: DlqArgs, config: Loaded) -> anyhow::Result<()> {
    let (bus_settings, topics) = config.build(|c, p| (c.bus_settings(p), c.topic_names(p)))?;
    let store = open_existing_store(&config).await?;
    let bus = bus_settings.open().await?;
    let dead_letters = DeadLetters {
        bus: bus.as_ref(),
        store: store.as_ref(),
        topics: &topics,
    };
    match args.command {
        DlqCommand::List { json, limit } => {
            let listed = dead_letters.list(limit as usize).await?;
            if json {
                println!("{}", serde_json::to_string(&listed)?);
            } else if listed.is_empty() {
                eprintln!("No dead-lettered records.");
            } else {
                print!("{}", render_table(&listed));
            }
        }
        DlqCommand::Show { id, json } => {
            let (view, record) = dead_letters.show(&id).await?;
            if json {
                let mut value = serde_json::to_value(&view)?;
                value["headers"] = serde_json::json!(record.headers);
                value["value"] = String::from_utf8_lossy(&record.value).into();
                println!("{value}");
            } else {
                print!("{}", render_table(std::slice::from_ref(&view)));
                println!("headers:");
                for (name, value) in &record.headers {
                    println!("  {name}: {value}");
                }
                for r in &view.replays {
                    println!(
                        "replayed {} by {} to {}{}: {}",
                        r.replayed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                        r.replayed_by,
                        r.replayed_to,
                        if r.forced { " (forced)" } else { "" },
                        r.reason
                    );
                }
                println!("value: {}", String::from_utf8_lossy(&record.value));
            }
        }
        DlqCommand::Replay {
            ids,
            reason,
            by,
            force,
        } => {
            let by = by
                .or_else(crate::config::env::os_user)
                .ok_or_else(|| anyhow::anyhow!("say who replays with --by (no OS user found)"))?;
            let mut refused = 0;
            for id in &ids {
                match dead_letters.replay(id, &by, &reason, force).await {
                    Ok(ReplayOutcome::Replayed(replay)) => {
                        println!("Replayed {id} to {}.", replay.replayed_to)
                    }
                    Ok(ReplayOutcome::AlreadyReplayed(earlier)) => {
                        refused += 1;
                        let last = earlier.last().expect("refused only after a replay");
                        eprintln!(
                            "Not replayed {id}: replayed before ({} by {}); --force replays it again.",
                            last.replayed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                            last.replayed_by
                        );
                    }
                    Err(error) => {
                        refused += 1;
                        eprintln!("Not replayed {id}: {error}");
                    }
                }
            }
            anyhow::ensure!(
                refused == 0,
                "{refused} of {} record(s) not replayed",
                ids.len()
            );
        }
    }
    Ok(())
}

pub fn render_table(listed: &[DeadLetter]) -> String {
    let mut rows = vec![vec![
        "RECORD".to_string(),
        "ORIGIN".into(),
        "EVENT-TYPE".into(),
        "EVENT-ID".into(),
        "ATTEMPTS".into(),
        "DEAD-LETTERED-AT".into(),
        "REPLAYED".into(),
        "REASON".into(),
    ]];
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for d in listed {
        rows.push(vec![
            d.id.clone(),
            or_dash(
                d.origin_topic
                    .as_ref()
                    .map(|t| match (d.origin_partition, d.origin_offset) {
                        (Some(p), Some(o)) => format!("{t}:{p}:{o}"),
                        _ => t.clone(),
                    }),
            ),
            or_dash(d.event_type.clone()),
            or_dash(d.event_id.clone()),
            or_dash(d.attempts.map(|a| a.to_string())),
            or_dash(
                d.dead_lettered_at
                    .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            ),
            match d.replays.len() {
                0 => "no".into(),
                n => format!("{n}x"),
            },
            or_dash(d.reason.clone()),
        ]);
    }
    table(&rows).into_iter().map(|l| l + "\n").collect()
}
