//! `onboard topics create|list|describe` and `onboard groups describe`: administration of the
//! event bus in the manner of kafka-topics.sh and kafka-consumer-groups.sh (aligned columns).

use crate::config::{Flags, Loaded};
use crate::ports::bus::{EventBus, PartitionLag, TopicInfo, TopicNames};
use crate::wiring::{BusKind, BusSettings};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

/// Which bus to administer: Kafka when `KAFKA_BROKERS` is set (or `--bus kafka`), else the
/// embedded log in the data directory (only while no `onboard up` holds it). Each flag sets
/// its configuration key (`src/config`).
#[derive(Debug, Args)]
pub struct BusTarget {
    /// Data directory of the embedded bus (`data_dir`, default ./onboard-data).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Prefix of the topic names, as given to `onboard up` (`bus.topic_prefix`).
    #[arg(long, global = true)]
    pub topic_prefix: Option<String>,
    /// Event bus: embedded, or kafka (the default when KAFKA_BROKERS is set) (`bus.kind`).
    #[arg(long, global = true, value_parser = BusKind::parse)]
    pub bus: Option<BusKind>,
}

impl BusTarget {
    pub(crate) fn flags(&self, flags: &mut Flags) {
        flags
            .set_path("data_dir", self.data_dir.as_deref())
            .set_some("bus.topic_prefix", self.topic_prefix.clone())
            .set_some("bus.kind", self.bus.map(BusKind::as_str));
    }
}

/// The configured bus, opened, and its topic names.
async fn open(config: &Loaded) -> anyhow::Result<(BusSettings, Arc<dyn EventBus>, TopicNames)> {
    let (settings, names) = config.build(|c, p| (c.bus_settings(p), c.topic_names(p)))?;
    let bus = settings.open().await?;
    Ok((settings, bus, names))
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    pub command: TopicsCommand,
    #[command(flatten)]
    pub target: BusTarget,
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create the six topics and their dead-letter topics; existing ones are left unchanged.
    Create {
        /// Partitions of each new topic.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
        partitions: i32,
        /// Copies of each partition (default 2 on Kafka; at most the number of brokers)
        /// (`bus.replication_factor`).
        #[arg(long, value_parser = clap::value_parser!(i16).range(1..=16))]
        replication_factor: Option<i16>,
    },
    /// List the topics of the bus.
    List,
    /// Partitions (leader, replicas, in-sync replicas, offsets) and configs of topics
    /// (default: Onboard's topics and dead-letter topics).
    Describe { topics: Vec<String> },
}

#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(subcommand)]
    pub command: GroupsCommand,
    #[command(flatten)]
    pub target: BusTarget,
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Committed offset, end offset and lag of a consumer group on every partition of the six topics.
    Describe {
        /// The group (default: the consumers' group).
        #[arg(default_value = crate::roles::consumer::DEFAULT_GROUP)]
        group: String,
    },
}

impl TopicsArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        self.target.flags(&mut flags);
        if let TopicsCommand::Create {
            replication_factor, ..
        } = &self.command
        {
            flags.set_some("bus.replication_factor", replication_factor.map(i64::from));
        }
        flags
    }
}

impl GroupsArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> Flags {
        let mut flags = Flags::default();
        self.target.flags(&mut flags);
        flags
    }
}

pub async fn topics(args: TopicsArgs, config: Loaded) -> anyhow::Result<()> {
    let (settings, bus, names) = open(&config).await?;
    match args.command {
        TopicsCommand::Create { partitions, .. } => {
            let specs = names.specs(partitions, settings.replication_factor());
            let before = bus.list_topics().await?;
            bus.create_topics(&specs)
                .await
                .context("creating the topics failed")?;
            for spec in &specs {
                if before.contains(&spec.name) {
                    println!("Topic {} already exists; left unchanged.", spec.name);
                } else {
                    println!(
                        "Created topic {} (partitions {}, replication factor {}).",
                        spec.name, spec.partitions, spec.replication_factor
                    );
                }
            }
        }
        TopicsCommand::List => {
            for name in bus.list_topics().await? {
                println!("{name}");
            }
        }
        TopicsCommand::Describe { topics } => {
            let topics = if topics.is_empty() {
                names
                    .all()
                    .into_iter()
                    .chain(names.dead_letters())
                    .collect()
            } else {
                topics
            };
            let infos = bus.describe_topics(&topics).await?;
            print!("{}", render_topics(&infos));
        }
    }
    Ok(())
}

pub async fn groups(args: GroupsArgs, config: Loaded) -> anyhow::Result<()> {
    let (_, bus, names) = open(&config).await?;
    match args.command {
        GroupsCommand::Describe { group } => {
            let lags = bus.describe_group(&group, &names.all()).await?;
            if lags.iter().all(|l| l.committed.is_none()) {
                eprintln!("Consumer group '{group}' has no committed offsets yet.");
            }
            print!("{}", render_lags(&group, &lags));
        }
    }
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Like `kafka-topics.sh --describe`: a summary line per topic, then one row per partition.
pub fn render_topics(infos: &[TopicInfo]) -> String {
    let mut out = String::new();
    for info in infos {
        let replication = info.partitions.first().map_or(0, |p| p.replicas.len());
        let configs = info
            .configs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&format!(
            "Topic: {}  PartitionCount: {}  ReplicationFactor: {}  Configs: {}\n",
            info.name,
            info.partitions.len(),
            replication,
            configs
        ));
        let mut rows = vec![vec![
            "PARTITION".to_string(),
            "LEADER".into(),
            "REPLICAS".into(),
            "ISR".into(),
            "START-OFFSET".into(),
            "END-OFFSET".into(),
        ]];
        for p in &info.partitions {
            rows.push(vec![
                p.partition.to_string(),
                p.leader.to_string(),
                join(&p.replicas),
                join(&p.isr),
                p.start_offset.to_string(),
                p.end_offset.to_string(),
            ]);
        }
        for line in table(&rows) {
            out.push_str("    ");
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Like `kafka-consumer-groups.sh --describe`: one row per partition.
pub fn render_lags(group: &str, lags: &[PartitionLag]) -> String {
    let mut rows = vec![vec![
        "GROUP".to_string(),
        "TOPIC".into(),
        "PARTITION".into(),
        "CURRENT-OFFSET".into(),
        "LOG-END-OFFSET".into(),
        "LAG".into(),
    ]];
    for lag in lags {
        rows.push(vec![
            group.to_string(),
            lag.topic.clone(),
            lag.partition.to_string(),
            lag.committed.map_or("-".to_string(), |c| c.to_string()),
            lag.end.to_string(),
            lag.lag().to_string(),
        ]);
    }
    table(&rows).into_iter().map(|l| l + "\n").collect()
}

/// Left-aligned columns two spaces apart; trailing spaces trimmed.
pub(crate) fn table(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let line: String = row
                .iter()
                .enumerate()
                .map(|(c, cell)| format!("{cell:<width$}  ", width = widths[c]))
                .collect();
            line.trim_end().to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::bus::PartitionInfo;

    #[test]
    fn lag_rows_line_up_and_show_a_dash_for_never_committed() {
        let lags = vec![
            PartitionLag {
                topic: "kyc-verified".into(),
                partition: 0,
                committed: Some(7),
                end: 10,
            },
            PartitionLag {
                topic: "kyc-verified".into(),
                partition: 1,
                committed: None,
                end: 4,
            },
        ];
        let text = render_lags("g", &lags);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "GROUP  TOPIC         PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG"
        );
        assert_eq!(
            lines[1],
            "g      kyc-verified  0          7               10              3"
        );
        assert_eq!(
            lines[2],
            "g      kyc-verified  1          -               4               4"
        );
    }

    #[test]
    fn a_topic_is_described_with_its_configs_and_partitions() {
        let info = TopicInfo {
            name: "t".into(),
            partitions: vec![PartitionInfo {
                partition: 0,
                leader: 2,
                replicas: vec![2, 3],
                isr: vec![2],
                start_offset: 0,
                end_offset: 5,
            }],
            configs: vec![("retention.ms".into(), "604800000".into())],
        };
        let text = render_topics(&[info]);
        assert!(text.starts_with(
            "Topic: t  PartitionCount: 1  ReplicationFactor: 2  Configs: retention.ms=604800000\n"
        ));
        assert!(
            text.contains("    0          2       2,3       2    0             5\n"),
            "{text}"
        );
    }
}
