//! The Kafka event bus (rdkafka / librdkafka): the production adapter of the bus port, for MSK
//! or any Apache Kafka 3.x/4.x, with the same contract as the embedded bus.
//!
//! Producer: idempotent, `acks=all`, one request in flight per broker, key = customer id,
//! `partitioner=murmur2_random` (Kafka's Java default, so a key lands on the partition
//! [`partition_for_key`] names); `publish` waits for every delivery report and answers in input
//! order. Consumers: see [`subscription`].
//! Admin: [`admin`]. Every wait is bounded, so an unreachable broker or a wrong password is an
//! error within seconds, never a hang.
//!
//! [`partition_for_key`]: crate::ports::bus::partition_for_key

mod admin;
pub mod config;
mod context;
mod error;
mod subscription;

pub use config::{GroupProtocol, KafkaConfigError, KafkaSettings, Secret, SecurityProtocol};

use crate::ports::bus::{
    BusError, ConsumedRecord, Delivered, EventBus, OutgoingRecord, PartitionLag, SubscribeOptions,
    Subscription, TopicInfo, TopicSpec,
};
use async_trait::async_trait;
use context::OnboardContext;
use rdkafka::admin::AdminClient;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound of one metadata request.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long librdkafka may try to deliver one record (retries included) before reporting failure.
const DELIVERY_TIMEOUT_MS: &str = "30000";
/// How long `publish` waits for room in librdkafka's queue before giving up.
const QUEUE_FULL_PATIENCE: Duration = Duration::from_secs(30);

pub struct KafkaBus {
    settings: KafkaSettings,
    context: OnboardContext,
    producer: FutureProducer<OnboardContext>,
    admin: AdminClient<OnboardContext>,
    /// Topics known to exist, with their partition counts (publish checks before sending, so an
    /// unknown topic fails at once instead of after librdkafka's metadata timeout).
    known_topics: Mutex<HashMap<String, usize>>,
}

impl KafkaBus {
    /// Connects and waits (up to `settings.connect_timeout`) until a broker answers, so wrong
    /// credentials or an unreachable cluster are reported now, with the reason.
    pub async fn connect(settings: KafkaSettings) -> Result<Arc<Self>, BusError> {
        settings
            .validate()
            .map_err(|e| BusError::Invalid(e.to_string()))?;
        let context = OnboardContext::default();
        let mut producer_config = settings.client_config();
        producer_config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("message.timeout.ms", DELIVERY_TIMEOUT_MS)
            .set("allow.auto.create.topics", "false")
            // `publish` enqueues a whole batch at once and then waits for it, so lingering for
            // more records would only add latency (measured in BENCHMARKS.md).
            .set("linger.ms", "0")
            // One request in flight per broker: with more, a later request can be appended while
            // an earlier one failed retriably (a partition whose leader has not loaded it yet,
            // seen on a freshly created topic; a broker keeps no producer state for a partition it
            // has none for, so it accepts a gap in sequence numbers), and librdkafka then counts
            // the earlier records as "implicitly acked" although they never reached the log:
            // `publish` reported them delivered and they were lost (issue 12).
            .set("max.in.flight.requests.per.connection", "1");
        let producer: FutureProducer<OnboardContext> = producer_config
            .create_with_context(context.clone())
            .map_err(|e| error::map(&e, "creating the Kafka producer"))?;
        let admin: AdminClient<OnboardContext> = settings
            .client_config()
            .create_with_context(context.clone())
            .map_err(|e| error::map(&e, "creating the Kafka admin client"))?;
        let bus = Self {
            settings,
            context,
            producer,
            admin,
            known_topics: Mutex::new(HashMap::new()),
        };
        bus.wait_for_cluster().await?;
        Ok(Arc::new(bus))
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.settings
    }

    /// Number of brokers in the cluster.
    pub async fn broker_count(&self) -> Result<usize, BusError> {
        Ok(self.cluster(None).await?.brokers)
    }

    async fn wait_for_cluster(&self) -> Result<(), BusError> {
        let started = Instant::now();
        let limit = self.settings.connect_timeout;
        loop {
            let producer = self.producer.clone();
            let answer = blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, Duration::from_secs(1))
            })
            .await?;
            match answer {
                Ok(metadata) if !metadata.brokers().is_empty() => {
                    self.context.clear_issue();
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if error::map(&e, "").is_transient() => {}
                Err(e) => return Err(error::map(&e, "connecting to Kafka")),
            }
            let issue = self.context.last_issue();
            if issue.as_ref().is_some_and(|i| i.is_auth()) || started.elapsed() >= limit {
                return Err(error::unreachable(
                    &self.settings.brokers,
                    started.elapsed(),
                    issue,
                ));
            }
        }
    }

    /// Fails with `UnknownTopic` for the first topic that does not exist.
    async fn ensure_topics(&self, topics: &BTreeSet<&str>) -> Result<(), BusError> {
        for topic in topics {
            let known = self
                .known_topics
                .lock()
                .map(|known| known.contains_key(*topic))
                .unwrap_or(false);
            if known {
                continue;
            }
            let view = self.cluster(Some(topic)).await?;
            match view.topics.first() {
                Some(t) if t.exists() => self.remember(&t.name, t.partitions.len()),
                _ => return Err(BusError::UnknownTopic(topic.to_string())),
            }
        }
        Ok(())
    }

    fn remember(&self, topic: &str, partitions: usize) {
        if let Ok(mut known) = self.known_topics.lock() {
            known.insert(topic.to_string(), partitions);
        }
    }

    /// A snapshot of the cluster's metadata (of one topic, or of all).
    async fn cluster(&self, topic: Option<&str>) -> Result<admin::ClusterView, BusError> {
        let producer = self.producer.clone();
        let topic = topic.map(str::to_owned);
        let issue = self.context.clone();
        let brokers = self.settings.brokers.clone();
        blocking(move || {
            producer
                .client()
                .fetch_metadata(topic.as_deref(), METADATA_TIMEOUT)
                .map(|m| admin::ClusterView::from(&m))
                .map_err(|e| match error::map(&e, "reading the cluster metadata") {
                    BusError::Unavailable(_) => {
                        error::unreachable(&brokers, METADATA_TIMEOUT, issue.last_issue())
                    }
                    other => other,
                })
        })
        .await?
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn create_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError> {
        admin::create_topics(self, specs).await
    }

    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Delivered>, BusError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let topics: BTreeSet<&str> = records.iter().map(|r| r.topic.as_str()).collect();
        self.ensure_topics(&topics).await?;

        // Enqueue strictly in input order (a full queue is waited out, never skipped), so the
        // idempotent producer appends one key's records in that order.
        let mut pending = Vec::with_capacity(records.len());
        for r in &records {
            let headers = r.headers.iter().fold(
                OwnedHeaders::new_with_capacity(r.headers.len()),
                |headers, (key, value)| {
                    headers.insert(Header {
                        key,
                        value: Some(value.as_bytes()),
                    })
                },
            );
            let mut record = FutureRecord::to(&r.topic)
                .key(r.key.as_bytes())
                .payload(r.value.as_ref())
                .headers(headers);
            let queued_at = Instant::now();
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if queued_at.elapsed() < QUEUE_FULL_PATIENCE =>
                    {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        return Err(publish_error(&e, &r.topic));
                    }
                }
            }
        }

        // Every delivery report is checked, even after a failure, so none is left unobserved.
        let mut delivered = Vec::with_capacity(pending.len());
        let mut failure = None;
        for (delivery, r) in pending.into_iter().zip(&records) {
            match delivery.await {
                Ok(Ok(d)) => delivered.push(Delivered {
                    partition: d.partition,
                    offset: d.offset,
                }),
                Ok(Err((e, _))) => {
                    failure.get_or_insert_with(|| publish_error(&e, &r.topic));
                }
                Err(_canceled) => {
                    failure.get_or_insert(BusError::Closed);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(delivered),
        }
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let topics: BTreeSet<&str> = options.topics.iter().map(String::as_str).collect();
        if topics.is_empty() {
            return Err(BusError::Invalid("a subscription needs a topic".into()));
        }
        self.ensure_topics(&topics).await?;
        let subscription = subscription::KafkaSubscription::join(&self.settings, options).await?;
        Ok(Box::new(subscription))
    }

    async fn describe_group(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Vec<PartitionLag>, BusError> {
        admin::describe_group(self, group, topics).await
    }

    async fn list_topics(&self) -> Result<Vec<String>, BusError> {
        admin::list_topics(self).await
    }

    async fn describe_topics(&self, topics: &[String]) -> Result<Vec<TopicInfo>, BusError> {
        admin::describe_topics(self, topics).await
    }

    async fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<ConsumedRecord>, BusError> {
        subscription::read_partition(&self.settings, topic, partition, from, max).await
    }
}

fn publish_error(error: &KafkaError, topic: &str) -> BusError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            BusError::UnknownTopic(topic.to_string())
        }
        _ => error::map(error, &format!("publishing to {topic}")),
    }
}

/// Runs a blocking librdkafka call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BusError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BusError::Unavailable(format!("a Kafka client task failed: {e}")))
}
