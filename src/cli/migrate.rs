//! `onboard migrate`: brings the configured store's schema up to date and says what it applied.

use crate::wiring::StoreSettings;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite store's directory, used when `DATABASE_URL` is not set.
    #[arg(long, env = "ONBOARD_DATA_DIR", default_value = "./onboard-data")]
    pub data_dir: PathBuf,
}

/// Migrates the store named by `DATABASE_URL` (PostgreSQL), else the SQLite file in `data_dir`.
pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let store = StoreSettings::from_env(&args.data_dir)?;
    let applied = store.migrate().await?;
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
