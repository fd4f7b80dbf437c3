//! Kafka administration for the bus port: creating topics (idempotently, refusing a replication
//! factor the cluster cannot hold), listing and describing them, and a group's lag.

use super::{blocking, error, KafkaBus, METADATA_TIMEOUT};
use crate::ports::bus::{BusError, PartitionInfo, PartitionLag, TopicInfo, TopicSpec};
use rdkafka::admin::{AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Bound of a create-topics or describe-configs call.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new topic may take to show up, with leaders, in the metadata.
const PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Owned copy of the metadata librdkafka returned.
#[derive(Debug, Clone)]
pub struct ClusterView {
    pub brokers: usize,
    pub topics: Vec<TopicView>,
}

#[derive(Debug, Clone)]
pub struct TopicView {
    pub name: String,
    pub error: Option<RDKafkaErrorCode>,
    pub partitions: Vec<PartitionView>,
}

#[derive(Debug, Clone)]
pub struct PartitionView {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl TopicView {
    pub fn exists(&self) -> bool {
        self.error.is_none() && !self.partitions.is_empty()
    }

    fn has_leaders(&self) -> bool {
        self.exists() && self.partitions.iter().all(|p| p.leader >= 0)
    }
}

impl From<&Metadata> for ClusterView {
    fn from(metadata: &Metadata) -> Self {
        Self {
            brokers: metadata.brokers().len(),
            topics: metadata
                .topics()
                .iter()
                .map(|t| TopicView {
                    name: t.name().to_string(),
                    error: t.error().map(RDKafkaErrorCode::from),
                    partitions: t
                        .partitions()
                        .iter()
                        .map(|p| PartitionView {
                            id: p.id(),
                            leader: p.leader(),
                            replicas: p.replicas().to_vec(),
                            isr: p.isr().to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT))
}

pub async fn create_topics(bus: &KafkaBus, specs: &[TopicSpec]) -> Result<(), BusError> {
    let cluster = bus.cluster(None).await?;
    let existing: BTreeMap<&str, &TopicView> = cluster
        .topics
        .iter()
        .filter(|t| t.exists())
        .map(|t| (t.name.as_str(), t))
        .collect();
    for spec in specs {
        if let Some(t) = existing.get(spec.name.as_str()) {
            bus.remember(&t.name, t.partitions.len());
        }
    }
    let missing: Vec<&TopicSpec> = specs
        .iter()
        .filter(|s| !existing.contains_key(s.name.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    for spec in &missing {
        if spec.partitions < 1 {
            return Err(BusError::Invalid(format!(
                "topic {} needs at least one partition",
                spec.name
            )));
        }
        if spec.replication_factor < 1 || spec.replication_factor as usize > cluster.brokers {
            return Err(BusError::Invalid(format!(
                "cannot create topic {} with replication factor {}: the cluster has {} broker(s); \
                 use --replication-factor {} (or ONBOARD_REPLICATION_FACTOR) or add brokers",
                spec.name,
                spec.replication_factor,
                cluster.brokers,
                cluster.brokers.max(1)
            )));
        }
    }
    let new_topics: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|spec| {
            spec.configs.iter().fold(
                NewTopic::new(
                    &spec.name,
                    spec.partitions,
                    TopicReplication::Fixed(spec.replication_factor as i32),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let results = bus
        .admin
        .create_topics(new_topics.iter(), &options())
        .await
        .map_err(|e| error::map(&e, "creating topics"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(error::map_code(
                    code,
                    &format!("creating topic {name}: {code}"),
                ))
            }
        }
    }
    // Wait until every new topic is visible with a leader for each partition, so a publish or
    // subscribe right after this call finds it.
    let started = Instant::now();
    for spec in missing {
        loop {
            let view = bus.cluster(Some(&spec.name)).await?;
            if let Some(t) = view.topics.first().filter(|t| t.has_leaders()) {
                bus.remember(&t.name, t.partitions.len());
                break;
            }
            if started.elapsed() > PROPAGATION_TIMEOUT {
                return Err(BusError::Unavailable(format!(
                    "topic {} was created but has no leaders after {}s",
                    spec.name,
                    PROPAGATION_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

pub async fn list_topics(bus: &KafkaBus) -> Result<Vec<String>, BusError> {
    let cluster = bus.cluster(None).await?;
    let mut names: Vec<String> = cluster
        .topics
        .into_iter()
        .filter(|t| t.exists() && !t.name.starts_with("__"))
        .map(|t| t.name)
        .collect();
    names.sort();
    Ok(names)
}

/// Metadata of the named topics, in the order asked; `UnknownTopic` for the first missing one.
async fn topic_views(bus: &KafkaBus, topics: &[String]) -> Result<Vec<TopicView>, BusError> {
    let cluster = bus.cluster(None).await?;
    topics
        .iter()
        .map(|name| {
            cluster
                .topics
                .iter()
                .find(|t| &t.name == name && t.exists())
                .cloned()
                .ok_or_else(|| BusError::UnknownTopic(name.clone()))
        })
        .collect()
}

/// Low and high watermarks of every partition of `views`, keyed by (topic, partition).
async fn watermarks(
    bus: &KafkaBus,
    views: &[TopicView],
) -> Result<BTreeMap<(String, i32), (i64, i64)>, BusError> {
    let producer = bus.producer.clone();
    let wanted: Vec<(String, i32)> = views
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.id)))
        .collect();
    blocking(move || {
        let mut marks = BTreeMap::new();
        for (topic, partition) in wanted {
            // A leader that was just elected (new topic, broker restart) answers "not leader"
            // for a moment: retry transient answers within the metadata timeout.
            let started = Instant::now();
            let mark = loop {
                match producer
                    .client()
                    .fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
                {
                    Ok(mark) => break mark,
                    Err(e) => {
                        let mapped = error::map(
                            &e,
                            &format!("reading the offsets of {topic} [{partition}]"),
                        );
                        if !mapped.is_transient() || started.elapsed() > METADATA_TIMEOUT {
                            return Err(mapped);
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            };
            marks.insert((topic, partition), mark);
        }
        Ok(marks)
    })
    .await?
}

pub async fn describe_topics(
    bus: &KafkaBus,
    topics: &[String],
) -> Result<Vec<TopicInfo>, BusError> {
    let views = topic_views(bus, topics).await?;
    let marks = watermarks(bus, &views).await?;
    let specifiers: Vec<ResourceSpecifier<'_>> = topics
        .iter()
        .map(|t| ResourceSpecifier::Topic(t.as_str()))
        .collect();
    let configs = bus
        .admin
        .describe_configs(specifiers.iter(), &options())
        .await
        .map_err(|e| error::map(&e, "describing topic configs"))?;
    let mut out = Vec::with_capacity(views.len());
    for (view, config) in views.into_iter().zip(configs) {
        let resource = config.map_err(|code| {
            error::map_code(
                code,
                &format!("describing the configs of {}: {code}", view.name),
            )
        })?;
        // Like kafka-topics.sh: only what is set on the topic itself, not broker defaults.
        let mut topic_configs: Vec<(String, String)> = resource
            .entries
            .into_iter()
            .filter(|e| matches!(e.source, ConfigSource::DynamicTopic) && !e.is_sensitive)
            .filter_map(|e| e.value.map(|v| (e.name, v)))
            .collect();
        topic_configs.sort();
        let mut partitions: Vec<PartitionInfo> = view
            .partitions
            .iter()
            .map(|p| {
                let (start, end) = marks
                    .get(&(view.name.clone(), p.id))
                    .copied()
                    .unwrap_or((0, 0));
                PartitionInfo {
                    partition: p.id,
                    leader: p.leader,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    start_offset: start,
                    end_offset: end,
                }
            })
            .collect();
        partitions.sort_by_key(|p| p.partition);
        out.push(TopicInfo {
            name: view.name,
            partitions,
            configs: topic_configs,
        });
    }
    Ok(out)
}

pub async fn describe_group(
    bus: &KafkaBus,
    group: &str,
    topics: &[String],
) -> Result<Vec<PartitionLag>, BusError> {
    let views = topic_views(bus, topics).await?;
    let marks = watermarks(bus, &views).await?;
    let mut tpl = TopicPartitionList::new();
    for view in &views {
        for p in &view.partitions {
            tpl.add_partition(&view.name, p.id);
        }
    }
    // A consumer that never subscribes reads the group's committed offsets without joining it.
    let mut config = bus.settings.client_config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false");
    let committed = blocking(move || {
        let reader: BaseConsumer = config
            .create()
            .map_err(|e| error::map(&e, "creating a Kafka consumer"))?;
        // The group coordinator may still be loading (a fresh cluster, a moved coordinator).
        let started = Instant::now();
        loop {
            match reader.committed_offsets(tpl.clone(), METADATA_TIMEOUT) {
                Ok(committed) => return Ok(committed),
                Err(e) => {
                    let mapped = error::map(&e, "reading the group's committed offsets");
                    if !mapped.is_transient() || started.elapsed() > METADATA_TIMEOUT {
                        return Err(mapped);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    })
    .await??;
    let mut lags = Vec::new();
    for element in committed.elements() {
        let committed = match element.offset() {
            Offset::Offset(n) => Some(n),
            _ => None,
        };
        let end = marks
            .get(&(element.topic().to_string(), element.partition()))
            .map(|&(_, high)| high)
            .unwrap_or(0);
        lags.push(PartitionLag {
            topic: element.topic().to_string(),
            partition: element.partition(),
            committed,
            end,
        });
    }
    lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(lags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_with_an_error_or_no_partitions_does_not_exist() {
        let missing = TopicView {
            name: "t".into(),
            error: Some(RDKafkaErrorCode::UnknownTopicOrPartition),
            partitions: vec![],
        };
        assert!(!missing.exists());
        let leaderless = TopicView {
            name: "t".into(),
            error: None,
            partitions: vec![PartitionView {
                id: 0,
                leader: -1,
                replicas: vec![1],
                isr: vec![],
            }],
        };
        assert!(leaderless.exists() && !leaderless.has_leaders());
    }
}
