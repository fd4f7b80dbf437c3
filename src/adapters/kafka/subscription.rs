//! One Kafka consumer-group member. At-least-once: `enable.auto.offset.store=false`, so an
//! offset is stored only when the caller acknowledges the record (after its store transaction
//! committed); stored offsets are committed periodically by librdkafka, on `commit`, before a
//! rebalance revokes partitions (see the client context) and on `close`.

use super::config::GroupProtocol;
use super::context::OnboardContext;
use super::{blocking, error, KafkaSettings};
use crate::ports::bus::{BusError, ConsumedRecord, StartFrom, SubscribeOptions, Subscription};
use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Classic protocol: a member that stops heartbeating (killed process) loses its partitions
/// after this long.
const SESSION_TIMEOUT_MS: &str = "10000";
/// How often stored (acknowledged) offsets are committed in the background.
const AUTO_COMMIT_INTERVAL_MS: &str = "1000";
/// How long joining waits for the first assignment before going on (a restarted process may
/// wait for the session of its killed predecessor to expire).
const JOIN_WAIT: Duration = Duration::from_secs(5);
/// How long `commit` keeps serving a rebalance and retrying before it reports failure.
const COMMIT_PATIENCE: Duration = Duration::from_secs(10);
/// How long a KIP-848 member that joined a group with others (its epoch is above
/// [`FIRST_MEMBER_EPOCH`]) waits for partitions before it counts as a member the group has none
/// for.
const EMPTY_ASSIGNMENT_GRACE: Duration = Duration::from_millis(200);
/// The epoch of a new group's first member. The coordinator answers its first heartbeat with
/// the epoch but no partitions, which follow a heartbeat later (0.5 s with `scripts/kafka.sh`);
/// being the group's only member, it cannot be one the group has nothing for, so it waits for
/// them. (Counted as idle after the grace, `onboard up` on new topics was ready owning 15 of
/// its 18 partitions in 2 starts of 4.)
const FIRST_MEMBER_EPOCH: i32 = 1;
/// How long each poll of the join loop waits: the assignment usually arrives within a few
/// milliseconds of subscribing (KIP-848), and a process is ready only after all six members.
const JOIN_POLL: Duration = Duration::from_millis(10);

type Consumer_ = BaseConsumer<OnboardContext>;
type Batch = Result<Vec<ConsumedRecord>, BusError>;

pub struct KafkaSubscription {
    consumer: Option<Arc<Consumer_>>,
    max_batch: usize,
    /// A poll whose caller stopped waiting: its records are handed out by the next `poll`, so
    /// none is skipped (skipping one and acknowledging a later offset would lose it).
    in_flight: Option<JoinHandle<Batch>>,
    /// Records fetched while joining, handed out first.
    early: Vec<ConsumedRecord>,
}

impl KafkaSubscription {
    /// Joins the group and waits (boundedly) until the member got its first assignment, so a
    /// process is ready only once its consumers own partitions; records fetched meanwhile are
    /// kept for the first `poll`.
    pub async fn join(
        settings: &KafkaSettings,
        options: SubscribeOptions,
    ) -> Result<Self, BusError> {
        let mut config = settings.client_config();
        config
            .set("group.id", &options.group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", AUTO_COMMIT_INTERVAL_MS)
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match options.start_from {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            )
            .set("enable.partition.eof", "false")
            .set("allow.auto.create.topics", "false");
        match settings.group_protocol {
            // Session timeout, heartbeat interval and assignor are the broker's (KIP-848).
            GroupProtocol::Consumer => {
                config.set("group.protocol", "consumer");
            }
            // Eager rebalancing (range): with cooperative-sticky, librdkafka 2.12 was seen to
            // resume a partition re-assigned to the same member past records it never
            // delivered (the bus suite caught it); losing records is not a trade-off to make.
            GroupProtocol::Classic => {
                config
                    .set("group.protocol", "classic")
                    .set("partition.assignment.strategy", "range,roundrobin")
                    .set("session.timeout.ms", SESSION_TIMEOUT_MS)
                    .set("heartbeat.interval.ms", "500");
            }
        }
        let context = OnboardContext::default();
        let consumer: Consumer_ = config
            .create_with_context(context.clone())
            .map_err(|e| error::map(&e, "creating the Kafka consumer"))?;
        let topics: Vec<&str> = options.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| error::map(&e, &format!("subscribing to {}", topics.join(", "))))?;
        let consumer = Arc::new(consumer);
        let max_batch = options.max_batch.max(1);
        let joining = consumer.clone();
        let protocol = settings.group_protocol;
        let early =
            blocking(move || first_assignment(&joining, &context, protocol, max_batch)).await??;
        Ok(Self {
            consumer: Some(consumer),
            max_batch,
            in_flight: None,
            early,
        })
    }

    fn consumer(&self) -> Result<Arc<Consumer_>, BusError> {
        self.consumer.clone().ok_or(BusError::Closed)
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn poll(&mut self, max_wait: Duration) -> Result<Vec<ConsumedRecord>, BusError> {
        if !self.early.is_empty() {
            let take = self.early.len().min(self.max_batch);
            return Ok(self.early.drain(..take).collect());
        }
        if self.in_flight.is_none() {
            let consumer = self.consumer()?;
            let max_batch = self.max_batch;
            self.in_flight = Some(tokio::task::spawn_blocking(move || {
                poll_batch(&consumer, max_wait, max_batch)
            }));
        }
        let Some(handle) = self.in_flight.as_mut() else {
            return Err(BusError::Closed);
        };
        let joined = handle.await;
        self.in_flight = None;
        joined.map_err(|e| BusError::Unavailable(format!("a Kafka poll task failed: {e}")))?
    }

    fn ack(&mut self, record: &ConsumedRecord) {
        let Some(consumer) = &self.consumer else {
            return;
        };
        // librdkafka stores offset + 1, the next one to read. A partition this member no longer
        // owns answers with a state error: ignored, the new owner reads the record again.
        if let Err(e) = consumer.store_offset(&record.topic, record.partition, record.offset) {
            tracing::debug!(topic = %record.topic, partition = record.partition, error = %e,
                "Not storing the offset of a partition this member no longer owns.");
        }
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        if let Some(handle) = self.in_flight.take() {
            // Keep what an abandoned poll fetched: the commit below may poll too.
            let fetched = handle
                .await
                .map_err(|e| BusError::Unavailable(format!("a Kafka poll task failed: {e}")))??;
            self.early.extend(fetched);
        }
        let consumer = self.consumer()?;
        let max_batch = self.max_batch;
        let (result, fetched) = blocking(move || {
            let started = Instant::now();
            let mut fetched = Vec::new();
            loop {
                match commit_stored(&consumer) {
                    // A rebalance is under way: serve it (a poll does), then commit again.
                    Err(CommitError::Rebalancing(_)) if started.elapsed() < COMMIT_PATIENCE => {
                        match poll_batch(&consumer, Duration::from_millis(100), max_batch) {
                            Ok(batch) => fetched.extend(batch),
                            Err(error) => return (Err(error), fetched),
                        }
                    }
                    Err(CommitError::Rebalancing(error) | CommitError::Other(error)) => {
                        return (Err(error), fetched)
                    }
                    Ok(()) => return (Ok(()), fetched),
                }
            }
        })
        .await?;
        // Records fetched while serving the rebalance are handed out by the next poll, in order.
        self.early.extend(fetched);
        result
    }

    async fn close(mut self: Box<Self>) -> Result<(), BusError> {
        if let Some(handle) = self.in_flight.take() {
            // Records of an abandoned poll were never acknowledged: they are read again later.
            let _ = handle.await;
        }
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        blocking(move || {
            let committed = match commit_stored(&consumer) {
                // Closing with auto-commit on commits the stored offsets once more, after the
                // rebalance; what moved meanwhile is re-read by its new owner (at-least-once).
                Err(CommitError::Rebalancing(_)) => Ok(()),
                Err(CommitError::Other(error)) => Err(error),
                Ok(()) => Ok(()),
            };
            // Dropping the last handle closes the consumer: it leaves the group, so its
            // partitions move to the other members at once.
            drop(consumer);
            committed
        })
        .await?
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Leaving the group waits for the broker; keep that off the async workers.
        if let Some(consumer) = self.consumer.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn_blocking(move || drop(consumer));
                }
                Err(_) => drop(consumer),
            }
        }
    }
}

enum CommitError {
    /// The group is rebalancing; committing again after serving the rebalance succeeds.
    Rebalancing(BusError),
    Other(BusError),
}

fn commit_stored(consumer: &Consumer_) -> Result<(), CommitError> {
    use RDKafkaErrorCode as C;
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => Ok(()),
        Err(e) => match e.rdkafka_error_code() {
            // Nothing acknowledged since the last commit.
            Some(C::NoOffset) => Ok(()),
            Some(
                C::RebalanceInProgress
                | C::IllegalGeneration
                | C::UnknownMemberId
                | C::AssignmentLost
                // KIP-848: the member's epoch moved on (a reassignment) before this commit.
                | C::StaleMemberEpoch,
            ) => Err(CommitError::Rebalancing(error::map(
                &e,
                "committing offsets during a rebalance",
            ))),
            _ => Err(CommitError::Other(error::map(&e, "committing offsets"))),
        },
    }
}

/// How long a group-less read waits for the records it knows are there.
const READ_PATIENCE: Duration = Duration::from_secs(10);

/// `EventBus::read_partition` on Kafka: a consumer with the partition assigned (no group join,
/// no commit: `group.id` is only a label here) reads from `from` until it has `max` records or
/// reached the partition's high watermark.
pub(super) async fn read_partition(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
    from: i64,
    max: usize,
) -> Result<Vec<ConsumedRecord>, BusError> {
    let mut config = settings.client_config();
    config
        .set("group.id", "onboard-partition-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("allow.auto.create.topics", "false");
    let consumer: Consumer_ = config
        .create_with_context(OnboardContext::default())
        .map_err(|e| error::map(&e, "creating the Kafka reader"))?;
    let topic = topic.to_string();
    blocking(move || {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, READ_PATIENCE)
            .map_err(|e| error::map(&e, &format!("reading the offsets of {topic}")))?;
        let from = from.max(low);
        if from >= high || max == 0 {
            return Ok(Vec::new());
        }
        let mut assignment = rdkafka::TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, partition, rdkafka::Offset::Offset(from))
            .map_err(|e| error::map(&e, "assigning the partition"))?;
        consumer
            .assign(&assignment)
            .map_err(|e| error::map(&e, "assigning the partition"))?;
        let wanted = usize::try_from(high - from).unwrap_or(usize::MAX).min(max);
        let deadline = Instant::now() + READ_PATIENCE;
        let mut records: Vec<ConsumedRecord> = Vec::with_capacity(wanted);
        while records.len() < wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(BusError::Unavailable(format!(
                    "{topic}/{partition}: only {} of {wanted} records arrived in time",
                    records.len()
                )));
            }
            match consumer.poll(left.min(Duration::from_millis(500))) {
                Some(Ok(message)) if message.offset() >= from => records.push(to_record(&message)),
                Some(Ok(_)) => {}
                Some(Err(e)) => consume_error(e, consumer.context())?,
                None => {}
            }
        }
        Ok(records)
    })
    .await?
}

/// Waits up to `max_wait` for a first record, then takes whatever else is ready, up to `max_batch`.
fn poll_batch(consumer: &Consumer_, max_wait: Duration, max_batch: usize) -> Batch {
    let deadline = Instant::now() + max_wait;
    let mut batch = Vec::new();
    while batch.len() < max_batch {
        let wait = if batch.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        match consumer.poll(wait) {
            Some(Ok(message)) => batch.push(to_record(&message)),
            Some(Err(e)) => consume_error(e, consumer.context())?,
            None if !batch.is_empty() || Instant::now() >= deadline => break,
            // A rebalance or commit event was served; keep waiting.
            None => {}
        }
    }
    Ok(batch)
}

/// Polls until the member got its first assignment (or, with KIP-848, joined with none), at most
/// [`JOIN_WAIT`]; returns the records fetched meanwhile, for the first `poll`.
fn first_assignment(
    consumer: &Consumer_,
    context: &OnboardContext,
    protocol: GroupProtocol,
    max_batch: usize,
) -> Batch {
    let started = Instant::now();
    let mut member_since: Option<Instant> = None;
    let mut early = Vec::new();
    while !context.assigned() && started.elapsed() < JOIN_WAIT {
        early.extend(poll_batch(consumer, JOIN_POLL, max_batch)?);
        // KIP-848 calls back only with partitions: a member the group has nothing for (more
        // members than partitions) has joined once the coordinator gave it an epoch. A moment
        // is left for an assignment that came with the epoch.
        if protocol == GroupProtocol::Consumer && member_epoch(consumer) > FIRST_MEMBER_EPOCH {
            let since = *member_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= EMPTY_ASSIGNMENT_GRACE {
                tracing::info!(
                    "The consumer group has no partitions for this member for now; it takes over some when another member leaves."
                );
                return Ok(early);
            }
        }
    }
    if !context.assigned() {
        tracing::warn!(
            "The consumer group has not assigned partitions yet; it keeps joining in the background."
        );
    }
    Ok(early)
}

/// The epoch the group coordinator gave this member (KIP-848; the generation with the classic
/// protocol): 0 or less until it joined.
fn member_epoch(consumer: &Consumer_) -> i32 {
    use rdkafka::bindings as rd;
    // SAFETY: the client pointer is valid while `consumer` is borrowed; librdkafka returns a
    // new metadata object (or null), read once and destroyed here.
    unsafe {
        let metadata = rd::rd_kafka_consumer_group_metadata(consumer.client().native_ptr());
        if metadata.is_null() {
            return -1;
        }
        let epoch = rd::rd_kafka_consumer_group_metadata_generation_id(metadata);
        rd::rd_kafka_consumer_group_metadata_destroy(metadata);
        epoch
    }
}

/// Errors that end the poll (fatal, authentication that persists) are returned; passing ones
/// are logged.
fn consume_error(error: KafkaError, context: &OnboardContext) -> Result<(), BusError> {
    match &error {
        KafkaError::PartitionEOF(_) => Ok(()),
        // A broker before Kafka 4.0 does not know KIP-848's heartbeat.
        KafkaError::MessageConsumptionFatal(RDKafkaErrorCode::UnsupportedVersion) => {
            Err(BusError::Invalid(format!(
                "the Kafka brokers do not support the consumer group protocol of KIP-848 \
                 (Kafka 4.0 or later): set KAFKA_GROUP_PROTOCOL=classic \
                 (bus.kafka.group_protocol) for them ({error})"
            )))
        }
        KafkaError::MessageConsumptionFatal(_) => Err(error::map(&error, "consuming")),
        _ => match error::map(&error, "consuming") {
            auth @ BusError::Auth(_) if context.note_auth_failure() => Err(auth),
            auth @ BusError::Auth(_) => {
                tracing::warn!(error = %auth, "A Kafka consumer could not authenticate; it keeps trying for a few seconds (a connection that dropped during its handshake is reported so).");
                Ok(())
            }
            other => {
                // Broker restarts, leader moves and topics still propagating pass by themselves.
                tracing::warn!(error = %other, "A Kafka consumer reported a problem; it keeps trying.");
                Ok(())
            }
        },
    }
}

fn to_record(message: &BorrowedMessage<'_>) -> ConsumedRecord {
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ConsumedRecord {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        headers,
        value: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
    }
}
