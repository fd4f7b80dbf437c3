//! `onboard migrate`: brings the configured store's schema up to date and says what it applied.

use crate::config::{Flags, Loaded};
use crate::wiring::Migrated;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite store's directory, used when no PostgreSQL is configured (`data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl MigrateArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        flags.set_path("data_dir", self.data_dir.as_deref());
        flags
    }
}

/// Migrates the configured store: PostgreSQL (`store.url`, `DATABASE_URL`), DynamoDB
/// (`store.kind = "dynamodb"`: creates the missing tables), else the SQLite file in the data
/// directory.
pub async fn run(config: Loaded) -> anyhow::Result<()> {
    let store = config.build(|c, p| c.store_settings(p))?;
    let applied = match store.migrate().await? {
        Migrated::Schema(applied) => applied,
        Migrated::Tables(created) => {
            if created.is_empty() {
                println!("{}: every table exists.", store.describe());
            } else {
                println!("{}: created {} table(s):", store.describe(), created.len());
                for table in &created {
                    println!("  {table}");
                }
            }
            return Ok(());
        }
    };
    if applied.is_empty() {
        println!("{}: the schema is up to date.", store.describe());
    } else {
        println!(
            "{}: applied {} migration(s):",
            store.describe(),
            applied.len()
        );
        for m in &applied {
            println!("  {:04} {}", m.version, m.description);
        }
    }
    Ok(())
}
