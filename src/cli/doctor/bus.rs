//! The event-bus checks: each bootstrap broker accepting connections (named when not), the
//! cluster answering with the configured authentication (SCRAM/TLS), the twelve topics present
//! with the seed's settings, and the consumer group's commits and lag.

use super::verdict::Verdict;
use crate::adapters::embedded_bus::EmbeddedBus;
use crate::adapters::kafka::{KafkaBus, KafkaSettings};
use crate::ports::bus::{BusError, EventBus, TopicInfo, TopicNames};
use crate::wiring::BusSettings;
use std::path::Path;
use std::time::Duration;

/// How long one broker may take to accept a TCP connection.
const BROKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the authenticated client may take to get the cluster's metadata.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(8);
/// Bound of each admin call (list, describe topics, describe group).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(6);
/// The seed's topic settings (DESIGN.md §3), also Kafka's defaults when a topic does not set them.
const SEED_CONFIGS: [(&str, &str); 2] =
    [("retention.ms", "604800000"), ("cleanup.policy", "delete")];

const TROUBLESHOOTING: &str = "docs/troubleshooting.md";

/// What the bus checks look at.
pub struct BusTarget<'a> {
    pub settings: &'a BusSettings,
    pub names: &'a TopicNames,
    pub group: &'a str,
    /// Total lag above which the group check fails.
    pub max_lag: i64,
}

pub async fn check(target: &BusTarget<'_>) -> Vec<Verdict> {
    match target.settings {
        BusSettings::Embedded { dir, .. } => embedded(dir, target.names).await,
        BusSettings::Kafka(kafka) => self::kafka(kafka, target).await,
    }
}

fn expected_topics(names: &TopicNames) -> Vec<String> {
    names
        .all()
        .into_iter()
        .chain(names.dead_letters())
        .collect()
}

async fn embedded(dir: &Path, names: &TopicNames) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::skip(
        "bus.brokers",
        "the embedded bus has no brokers",
    )];
    if !dir.is_dir() {
        verdicts.push(Verdict::fail(
            "bus.log",
            format!("no embedded bus at {}", dir.display()),
            "give the --data-dir (or --config) of the running system; `onboard up` creates the bus",
        ));
        return verdicts;
    }
    verdicts.push(Verdict::ok(
        "bus.log",
        format!("embedded bus at {}", dir.display()),
    ));
    let expected = expected_topics(names);
    let (root, wanted) = (dir.to_path_buf(), expected.clone());
    let found =
        tokio::task::spawn_blocking(move || EmbeddedBus::topics_on_disk(&root, &wanted)).await;
    match found {
        Ok(Ok(found)) => verdicts.push(topics_verdict(
            &expected,
            &found,
            "`onboard up` creates them as it starts",
        )),
        Ok(Err(error)) => verdicts.push(Verdict::fail(
            "bus.topics",
            error.to_string(),
            "the bus directory is damaged or unreadable; check its owner and permissions",
        )),
        Err(error) => verdicts.push(Verdict::fail(
            "bus.topics",
            error.to_string(),
            "report a bug",
        )),
    }
    verdicts.push(Verdict::skip(
        "bus.group",
        "the embedded bus belongs to its process: see `onboard_consumer_lag` on /metrics, or \
         `onboard groups describe` while `onboard up` is stopped",
    ));
    verdicts
}

async fn kafka(settings: &KafkaSettings, target: &BusTarget<'_>) -> Vec<Verdict> {
    let brokers: Vec<String> = settings
        .brokers
        .split(',')
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    let probes = futures::future::join_all(brokers.iter().map(|b| probe_broker(b))).await;
    let down: Vec<String> = brokers
        .iter()
        .zip(&probes)
        .filter_map(|(broker, probe)| probe.as_ref().err().map(|why| format!("{broker} ({why})")))
        .collect();
    let mut verdicts = vec![if down.is_empty() {
        Verdict::ok(
            "bus.brokers",
            format!(
                "{} of {} bootstrap brokers accept connections: {}",
                brokers.len(),
                brokers.len(),
                brokers.join(", ")
            ),
        )
    } else {
        Verdict::fail(
            "bus.brokers",
            format!("unreachable: {}", down.join("; ")),
            format!(
                "start the broker or correct KAFKA_BROKERS; from another network (a Lambda's VPC), \
                 allow the broker ports in its security group ({TROUBLESHOOTING}, \
                 \"Cannot connect to Kafka\")"
            ),
        )
    }];
    if down.len() == brokers.len() {
        verdicts.push(Verdict::skip("bus.cluster", "no broker is reachable"));
        verdicts.push(Verdict::skip("bus.topics", "no broker is reachable"));
        verdicts.push(Verdict::skip("bus.group", "no broker is reachable"));
        return verdicts;
    }
    let mut settings = settings.clone();
    settings.connect_timeout = CLUSTER_TIMEOUT;
    let protocol = settings.security_protocol.as_str();
    let bus = match tokio::time::timeout(
        CLUSTER_TIMEOUT + Duration::from_secs(2),
        KafkaBus::connect(settings),
    )
    .await
    {
        Ok(Ok(bus)) => bus,
        Ok(Err(error)) => {
            verdicts.push(cluster_failure(&error));
            verdicts.push(Verdict::skip("bus.topics", "the cluster did not answer"));
            verdicts.push(Verdict::skip("bus.group", "the cluster did not answer"));
            return verdicts;
        }
        Err(_) => {
            verdicts.push(Verdict::fail(
                "bus.cluster",
                format!("no metadata within {} s", CLUSTER_TIMEOUT.as_secs()),
                "check the brokers' logs and the network path",
            ));
            return verdicts;
        }
    };
    let count = bounded(bus.broker_count()).await;
    verdicts.push(match count {
        Ok(n) => Verdict::ok(
            "bus.cluster",
            format!("{n} broker(s) answer over {protocol}"),
        ),
        Err(error) => cluster_failure(&error),
    });
    let expected = expected_topics(target.names);
    let present = match bounded(bus.list_topics()).await {
        Ok(list) => list,
        Err(error) => {
            verdicts.push(Verdict::fail(
                "bus.topics",
                error.to_string(),
                "check the admin client's ACLs (Describe on the cluster)",
            ));
            return verdicts;
        }
    };
    let existing: Vec<String> = expected
        .iter()
        .filter(|t| present.contains(t))
        .cloned()
        .collect();
    let described = if existing.is_empty() {
        Ok(Vec::new())
    } else {
        bounded(bus.describe_topics(&existing)).await
    };
    let described = match described {
        Ok(infos) => infos,
        Err(error) => {
            verdicts.push(Verdict::fail(
                "bus.topics",
                error.to_string(),
                "check the admin client's ACLs (DescribeConfigs on the topics)",
            ));
            return verdicts;
        }
    };
    let found: Vec<Option<TopicInfo>> = expected
        .iter()
        .map(|name| described.iter().find(|i| &i.name == name).cloned())
        .collect();
    verdicts.push(topics_verdict(
        &expected,
        &found,
        "run `onboard topics create`",
    ));
    verdicts.push(group_verdict(&*bus, target, &existing).await);
    verdicts
}

/// Connects to one broker's port, saying why not.
async fn probe_broker(broker: &str) -> Result<(), String> {
    match tokio::time::timeout(
        BROKER_CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(broker),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            BROKER_CONNECT_TIMEOUT.as_secs()
        )),
    }
}

async fn bounded<T>(
    call: impl std::future::Future<Output = Result<T, BusError>>,
) -> Result<T, BusError> {
    tokio::time::timeout(ADMIN_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(BusError::Unavailable(format!(
                "no answer within {} s",
                ADMIN_TIMEOUT.as_secs()
            )))
        })
}

fn cluster_failure(error: &BusError) -> Verdict {
    let remedy = match error {
        BusError::Auth(_) => {
            "check KAFKA_USERNAME, KAFKA_PASSWORD (or its file) and KAFKA_SASL_MECHANISM \
                              (MSK: SCRAM-SHA-512 on port 9096)"
        }
        BusError::Invalid(_) => "correct the bus settings (`onboard check-config`)",
        _ => {
            "check KAFKA_SECURITY_PROTOCOL and KAFKA_CA_FILE match the listener (MSK: TLS 9094, \
              SCRAM 9096), and the brokers' logs"
        }
    };
    Verdict::fail("bus.cluster", error.to_string(), remedy)
}

/// Every expected topic present, with the seed's settings.
fn topics_verdict(expected: &[String], found: &[Option<TopicInfo>], create: &str) -> Verdict {
    let missing: Vec<&str> = expected
        .iter()
        .zip(found)
        .filter(|(_, info)| info.is_none())
        .map(|(name, _)| name.as_str())
        .collect();
    if !missing.is_empty() {
        return Verdict::fail(
            "bus.topics",
            format!(
                "{} of {} topics missing: {}",
                missing.len(),
                expected.len(),
                missing.join(", ")
            ),
            format!("{create}; check the topic prefix (--topic-prefix, ONBOARD_TOPIC_PREFIX)"),
        );
    }
    let mut deviations = Vec::new();
    let mut under_replicated = Vec::new();
    for info in found.iter().flatten() {
        for (key, seed) in SEED_CONFIGS {
            if let Some((_, value)) = info.configs.iter().find(|(k, _)| k == key) {
                if value != seed {
                    deviations.push(format!("{} {key}={value}", info.name));
                }
            }
        }
        for p in &info.partitions {
            if p.leader < 0 || p.isr.len() < p.replicas.len() {
                under_replicated.push(format!("{}/{}", info.name, p.partition));
            }
        }
    }
    if !under_replicated.is_empty() {
        return Verdict::fail(
            "bus.topics",
            format!(
                "partitions without a leader or with replicas out of sync: {}",
                under_replicated.join(", ")
            ),
            "a broker is down or lagging: `onboard topics describe` shows which; restart it",
        );
    }
    if !deviations.is_empty() {
        return Verdict::warn(
            "bus.topics",
            format!("settings differ from the seed's (retention.ms=604800000, cleanup.policy=delete): {}", deviations.join(", ")),
            "change them with kafka-configs.sh --alter if unintended",
        );
    }
    Verdict::ok(
        "bus.topics",
        format!(
            "all {} topics present with the seed's settings",
            expected.len()
        ),
    )
}

async fn group_verdict(bus: &dyn EventBus, target: &BusTarget<'_>, existing: &[String]) -> Verdict {
    let topics: Vec<String> = target
        .names
        .all()
        .into_iter()
        .filter(|t| existing.contains(t))
        .collect();
    if topics.is_empty() {
        return Verdict::skip("bus.group", "no topic to read the group's offsets of");
    }
    let group = target.group;
    let lags = match bounded(bus.describe_group(group, &topics)).await {
        Ok(lags) => lags,
        Err(error) => {
            return Verdict::fail(
                "bus.group",
                error.to_string(),
                "check the admin client's ACLs (Describe on the group)",
            )
        }
    };
    if lags.iter().all(|l| l.committed.is_none()) {
        return Verdict::warn(
            "bus.group",
            format!("group '{group}' has committed no offset yet"),
            "start the consumers (`onboard consumer`), or check --group / consumer.group",
        );
    }
    let total: i64 = lags.iter().map(|l| l.lag()).sum();
    if total > target.max_lag {
        let mut worst = lags.clone();
        worst.sort_by_key(|l| std::cmp::Reverse(l.lag()));
        let named: Vec<String> = worst
            .iter()
            .take(3)
            .map(|l| format!("{}/{} lag {}", l.topic, l.partition, l.lag()))
            .collect();
        return Verdict::fail(
            "bus.group",
            format!("group '{group}' is {total} records behind (limit {}); most: {}", target.max_lag, named.join(", ")),
            format!(
                "check the consumers run and are not failing (logs, `onboard dlq list`); add \
                 consumer processes up to the partition count ({TROUBLESHOOTING}, \"Consumer lag increasing\")"
            ),
        );
    }
    Verdict::ok(
        "bus.group",
        format!(
            "group '{group}' is {total} records behind on {} partitions",
            lags.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::bus::PartitionInfo;

    fn info(name: &str, retention: &str, isr: Vec<i32>) -> TopicInfo {
        TopicInfo {
            name: name.into(),
            partitions: vec![PartitionInfo {
                partition: 0,
                leader: 1,
                replicas: vec![1, 2],
                isr,
                start_offset: 0,
                end_offset: 0,
            }],
            configs: vec![("retention.ms".into(), retention.into())],
        }
    }

    #[test]
    fn a_missing_topic_fails_and_is_named() {
        let expected = vec!["a".to_string(), "b".to_string()];
        let v = topics_verdict(
            &expected,
            &[Some(info("a", "604800000", vec![1, 2])), None],
            "create",
        );
        assert_eq!(v.status, super::super::verdict::Status::Fail);
        assert!(
            v.detail.contains("1 of 2 topics missing: b"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn other_settings_warn_and_out_of_sync_replicas_fail() {
        let expected = vec!["a".to_string()];
        let v = topics_verdict(
            &expected,
            &[Some(info("a", "3600000", vec![1, 2]))],
            "create",
        );
        assert_eq!(v.status, super::super::verdict::Status::Warn);
        assert!(v.detail.contains("a retention.ms=3600000"), "{}", v.detail);
        let v = topics_verdict(
            &expected,
            &[Some(info("a", "604800000", vec![1]))],
            "create",
        );
        assert_eq!(v.status, super::super::verdict::Status::Fail);
        assert!(v.detail.contains("a/0"), "{}", v.detail);
    }
}
