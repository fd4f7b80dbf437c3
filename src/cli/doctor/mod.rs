//! `onboard doctor`: checks every configured dependency and prints a verdict per check with its
//! remedy: the bus (brokers, authentication, topics, consumer group and lag), the store
//! (reachable, migrated, clock), the gateways holding connections, the notifier and the
//! authentication. Exits 0 when nothing failed, 1 otherwise, within [`DEADLINE`] even when a
//! broker or server does not answer (each check has its own, shorter bound; they run at once).
//!
//! Read only: it creates no file, topic or table and applies no migration, so it is safe beside
//! a running system, including beside the `onboard up` that owns an embedded bus.

mod bus;
mod edges;
mod store;
mod verdict;

pub use verdict::{Status, Verdict};

use super::topics::BusTarget;
use crate::config::{Flags, Loaded};
use clap::Args;
use std::time::Duration;

/// The longest `onboard doctor` runs; checks still running then are reported as failed.
pub const DEADLINE: Duration = Duration::from_secs(25);

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: BusTarget,
    /// The consumer group whose lag to check (default: `consumer.group`).
    #[arg(long)]
    pub group: Option<String>,
    /// Records the group may be behind in total before the check fails.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(i64).range(0..))]
    pub max_lag: i64,
    /// Milliseconds this machine's clock may differ from the database server's.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub max_clock_skew_ms: u64,
    /// One JSON object (`healthy`, `checks`) instead of lines.
    #[arg(long)]
    pub json: bool,
}

impl DoctorArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        self.target.flags(&mut flags);
        flags
    }
}

/// Runs every check and prints the verdicts; an error (exit 1) when any failed.
pub async fn run(args: DoctorArgs, config: Loaded) -> anyhow::Result<()> {
    let verdicts = match tokio::time::timeout(DEADLINE, diagnose(&args, &config)).await {
        Ok(verdicts) => verdicts,
        Err(_) => vec![Verdict::fail(
            "doctor",
            format!("the checks did not finish within {} s", DEADLINE.as_secs()),
            "run again with ONBOARD_LOG=debug to see which dependency hangs",
        )],
    };
    if args.json {
        println!("{}", verdict::render_json(&verdicts));
    } else {
        print!("{}", verdict::render_text(&verdicts));
    }
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.status == Status::Fail)
        .map(|v| v.check)
        .collect();
    anyhow::ensure!(failed.is_empty(), "unhealthy: {}", failed.join(", "));
    Ok(())
}

/// Every verdict, in a fixed order: configuration, bus, store, notifier, auth.
pub async fn diagnose(args: &DoctorArgs, config: &Loaded) -> Vec<Verdict> {
    let built = config.build(|c, p| {
        (
            c.bus_settings(p),
            c.topic_names(p),
            c.store_settings(p),
            c.notifier_settings(p),
            c.jwt_source(p),
            c.consumer.group.clone(),
            c.data_dir.clone(),
            c.oidc_settings(p),
        )
    });
    let (bus_settings, names, store_settings, notifier, secret, group, data_dir, oidc) = match built
    {
        Ok(built) => built,
        Err(problems) => {
            return vec![Verdict::fail(
                "config",
                problems.to_string().replace('\n', "; "),
                "correct these settings (`onboard check-config` shows them all)",
            )]
        }
    };
    let group = args.group.clone().unwrap_or(group);
    let bus_target = bus::BusTarget {
        settings: &bus_settings,
        names: &names,
        group: &group,
        max_lag: args.max_lag,
    };
    let store_target = store::StoreTarget {
        settings: &store_settings,
        max_skew: Duration::from_millis(args.max_clock_skew_ms),
    };
    let oidc_check = async {
        match &oidc {
            Some(oidc) => Some(edges::oidc(oidc).await),
            None => None,
        }
    };
    let (bus, store, notifier, oidc) = tokio::join!(
        bus::check(&bus_target),
        store::check(&store_target),
        edges::notifier(&notifier),
        oidc_check
    );
    let mut verdicts = vec![Verdict::ok("config", "valid")];
    verdicts.extend(bus);
    verdicts.extend(store);
    verdicts.push(notifier);
    verdicts.push(edges::auth(&secret, &data_dir));
    verdicts.extend(oidc);
    verdicts
}
