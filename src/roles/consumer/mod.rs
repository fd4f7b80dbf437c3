//! The consumer role (the seed's consumer Lambdas, DESIGN.md §7): one group member per topic;
//! each record is stored with its projection, audit row and notifications in one transaction,
//! acknowledged only after that commit, then pushed to the customer's open connections.
//!
//! [`ConsumerRole::process_batch`] is the work on one batch; the long-running members
//! ([`ConsumerRole::run`]) poll, call it until nothing is left to retry, then acknowledge.

mod counters;
mod dead_letter;
mod trace_rows;

use crate::domain::event::{Envelope, Topic};
use crate::domain::ids::{ConnectionId, CustomerId, EventId};
use crate::ports::bus::{
    ConsumedRecord, EventBus, StartFrom, SubscribeOptions, Subscription, TopicNames,
};
use crate::ports::pusher::{PushOutcome, Pusher};
use crate::ports::store::{
    AuditEntry, ConnectionRecord, CustomerRecord, EventRecord, RecordOutcome, Store, StoreError,
};
use crate::ports::trace::{CommittedRecord, PushRecord, PushResult, MAX_PUSHES_PER_EVENT};
use crate::roles::relay::Backoff;
use crate::roles::supervisor::Readiness;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The seed's consumer group.
pub const DEFAULT_GROUP: &str = "onboard-ai-consumer-group";

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub group: String,
    pub topics: Vec<Topic>,
    /// Records per poll (the seed's event source mapping `--batch-size`).
    pub batch_size: usize,
    pub start_from: StartFrom,
    /// Where operator alerts go.
    pub operator_address: String,
    /// Attempts for a record that fails permanently before it goes to the dead-letter topic.
    pub max_attempts: u32,
    /// Operator alerts e-mailed per minute at most (see `notify::AlertBudget`).
    pub operator_alerts_per_minute: u32,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            group: DEFAULT_GROUP.into(),
            topics: Topic::ALL.to_vec(),
            batch_size: 100,
            start_from: StartFrom::Earliest,
            operator_address: "operators@onboard.local".into(),
            max_attempts: 5,
            operator_alerts_per_minute: crate::roles::notify::DEFAULT_ALERTS_PER_MINUTE,
        }
    }
}

/// Why a record could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// Retried until it succeeds (database down, bus unavailable); the offset is not committed meanwhile.
    #[error("transient: {0}")]
    Transient(String),
    /// Will not succeed by retrying (unreadable record); dead-lettered after `max_attempts`.
    #[error("poison: {0}")]
    Poison(String),
}

impl From<StoreError> for ProcessError {
    fn from(error: StoreError) -> Self {
        if error.is_transient() {
            Self::Transient(error.to_string())
        } else {
            Self::Poison(error.to_string())
        }
    }
}

#[derive(Clone)]
pub struct ConsumerRole {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    pub pusher: Arc<dyn Pusher>,
    /// Woken after a commit that wrote notifications.
    pub notifier_nudge: Arc<Notify>,
    pub config: ConsumerConfig,
    pub topics: TopicNames,
    /// Operator alerts beyond it are counted instead of e-mailed.
    pub alert_budget: Arc<crate::roles::notify::AlertBudget>,
    /// Where the long-running members hand their trace rows ([`trace_rows`]); without it (a
    /// Lambda invocation) a batch writes its own before it returns.
    pub(crate) trace_rows: Option<trace_rows::TraceRows>,
}

impl ConsumerRole {
    /// Runs one member per topic until shutdown; ready once every member joined its group.
    pub async fn run(
        self,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let (rows, trace_writer) = trace_rows::TraceRows::start(self.store.clone());
        let this = Self {
            trace_rows: Some(rows),
            ..self
        };
        let mut members = tokio::task::JoinSet::new();
        for (topic, subscription) in this.join_members().await? {
            let role = this.clone();
            let token = shutdown.clone();
            members.spawn(async move { (topic, role.consume(topic, subscription, token).await) });
        }
        let stop_lag = shutdown.child_token();
        let lag = tokio::spawn(counters::report_lag(
            this.bus.clone(),
            this.config.group.clone(),
            this.config
                .topics
                .iter()
                .map(|&t| this.topics.name(t))
                .collect(),
            stop_lag.clone(),
        ));
        readiness.set(true);
        let mut result = Ok(());
        while let Some(joined) = members.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((topic, Err(error))) => {
                    shutdown.cancel();
                    result = Err(error.context(format!("consumer of {topic} failed")));
                }
                Err(panic) => {
                    shutdown.cancel();
                    result = Err(anyhow::anyhow!("a consumer panicked: {panic}"));
                }
            }
        }
        readiness.set(false);
        stop_lag.cancel();
        let _ = lag.await;
        // The members are gone: the writer stores what they handed over, then ends.
        drop(this);
        let _ = trace_writer.await;
        result
    }

    async fn consume(
        &self,
        topic: Topic,
        mut subscription: Box<dyn Subscription>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        tracing::info!(topic = %topic, group = %self.config.group, "Consumer joined its group.");
        'outer: while !shutdown.is_cancelled() {
            let batch = tokio::select! {
                _ = shutdown.cancelled() => break,
                batch = subscription.poll(Duration::from_millis(500)) => batch,
            };
            let records = match batch {
                Ok(records) => records,
                Err(error) if error.is_transient() => {
                    tracing::warn!(topic = %topic, error = %error, "Polling failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            if records.is_empty() {
                // Nothing to store, push or acknowledge: an empty poll costs no transaction.
                continue;
            }
            match self.settle(topic, &records, &shutdown).await {
                Handled::Done => records.iter().for_each(|r| subscription.ack(r)),
                // Not acknowledged: the records are delivered again after restart.
                Handled::ShuttingDown => break 'outer,
            }
            match subscription.commit().await {
                Ok(()) => self.note_committed(&records).await,
                Err(error) => {
                    tracing::warn!(topic = %topic, error = %error, "Committing offsets failed; they will be committed later.");
                }
            }
        }
        subscription.close().await?;
        tracing::info!(topic = %topic, "Consumer left its group.");
        Ok(())
    }

    /// Joins one member per topic, each waiting for its first assignment. The first joins
    /// alone: on a new group (and new topics) its partitions come a heartbeat after its epoch,
    /// and by then the group's coordinator knows every topic. The others then join at once and
    /// get their partitions with their epochs. (All six at once on topics created moments
    /// before, five of them (three once) were given epochs without partitions and counted as
    /// members the group has nothing for, in each of 12 first starts: ready without their
    /// partitions, which came a heartbeat later.)
    async fn join_members(&self) -> anyhow::Result<Vec<(Topic, Box<dyn Subscription>)>> {
        let Some((&first, rest)) = self.config.topics.split_first() else {
            return Ok(Vec::new());
        };
        let mut members = vec![(first, self.join(first).await?)];
        let others = rest
            .iter()
            .map(|&topic| async move { self.join(topic).await.map(|s| (topic, s)) });
        members.extend(futures::future::try_join_all(others).await?);
        Ok(members)
    }

    async fn join(&self, topic: Topic) -> anyhow::Result<Box<dyn Subscription>> {
        Ok(self
            .bus
            .subscribe(SubscribeOptions {
                group: self.config.group.clone(),
                topics: vec![self.topics.name(topic)],
                start_from: self.config.start_from,
                max_batch: self.config.batch_size,
            })
            .await?)
    }

    /// Records for `onboard trace` where each committed record's event came from and when the
    /// group committed it; best effort (the trace then shows the commit as unknown).
    async fn note_committed(&self, records: &[ConsumedRecord]) {
        let committed_at = chrono::Utc::now();
        let committed: Vec<CommittedRecord> = records
            .iter()
            .filter_map(|record| {
                let event_id = EventId::parse(record.header("event-id")?).ok()?;
                Some(CommittedRecord {
                    event_id,
                    partition: record.partition,
                    offset: record.offset,
                    published_at: chrono::DateTime::from_timestamp_millis(record.timestamp_ms),
                    committed_at,
                })
            })
            .collect();
        match &self.trace_rows {
            Some(rows) => rows.committed(committed),
            None => trace_rows::store_committed(&*self.store, &committed).await,
        }
    }

    /// Processes a poll batch until every record is stored or dead-lettered, retrying the
    /// failed ones with backoff; only then may the batch be acknowledged.
    async fn settle(
        &self,
        topic: Topic,
        records: &[ConsumedRecord],
        shutdown: &CancellationToken,
    ) -> Handled {
        let mut backoff = Backoff::with(Duration::from_millis(100), Duration::from_secs(5));
        let mut todo = records.to_vec();
        loop {
            let report = self.process_batch(topic, &todo).await;
            let Some(reason) = report.first_failure() else {
                return Handled::Done;
            };
            let delay = backoff.next_delay();
            tracing::warn!(topic = %topic, error = %reason, records = report.failed().count(), retry_in_ms = delay.as_millis() as u64, "Processing records failed; retrying.");
            todo = report.failed().map(|i| todo[i].clone()).collect();
            tokio::select! {
                _ = shutdown.cancelled() => return Handled::ShuttingDown,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Processes one batch of records consumed from `topic` (a poll, or a Lambda invocation):
    /// stores each event with its projection, audit row and notifications, then pushes it.
    ///
    /// The batch is stored in one transaction. If the store refuses it for good, or a record is
    /// unreadable, the records are processed one by one instead, so a poison record is retried
    /// on its own and, after `max_attempts`, dead-lettered. A transient failure stops there:
    /// that record and the ones after it are reported [`RecordResult::Failed`] for the caller
    /// to process again (everything here is idempotent by event id).
    pub async fn process_batch(&self, topic: Topic, records: &[ConsumedRecord]) -> BatchReport {
        let started = std::time::Instant::now();
        let report = self.process_batch_uncounted(topic, records).await;
        counters::count_settled(topic, &report, started.elapsed());
        report
    }

    async fn process_batch_uncounted(
        &self,
        topic: Topic,
        records: &[ConsumedRecord],
    ) -> BatchReport {
        let stored = match self.prepare(topic, records).await {
            Ok(items) => match self.store.record_events(&items).await {
                Ok(outcomes) => {
                    self.after_commit(&items, &outcomes).await;
                    Ok(outcomes)
                }
                Err(error) => Err(ProcessError::from(error)),
            },
            Err(error) => Err(error),
        };
        match stored {
            Ok(outcomes) => BatchReport {
                results: outcomes.into_iter().map(RecordResult::from).collect(),
            },
            Err(ProcessError::Transient(reason)) => BatchReport {
                results: vec![RecordResult::Failed { reason }; records.len()],
            },
            Err(ProcessError::Poison(_)) => self.process_one_by_one(topic, records).await,
        }
    }

    async fn process_one_by_one(&self, topic: Topic, records: &[ConsumedRecord]) -> BatchReport {
        let mut results = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            match self.process_with_attempts(topic, record).await {
                Ok(result) => results.push(result),
                Err(reason) => {
                    // Keep the partition's order: nothing after a record that must be retried.
                    results.extend(std::iter::repeat_n(
                        RecordResult::Failed { reason },
                        records.len() - index,
                    ));
                    break;
                }
            }
        }
        BatchReport { results }
    }

    /// Processes one record, retrying a poison failure up to `max_attempts` before it goes to
    /// the dead-letter topic; `Err` is a transient failure, for the caller to retry.
    async fn process_with_attempts(
        &self,
        topic: Topic,
        record: &ConsumedRecord,
    ) -> Result<RecordResult, String> {
        let mut backoff = Backoff::with(Duration::from_millis(100), Duration::from_secs(5));
        let mut poison_attempts = 0;
        loop {
            let reason = match self.process(topic, record).await {
                Ok(outcome) => return Ok(outcome.into()),
                Err(ProcessError::Transient(reason)) => return Err(reason),
                Err(ProcessError::Poison(reason)) => reason,
            };
            poison_attempts += 1;
            if poison_attempts >= self.config.max_attempts {
                return match dead_letter::send(self.bus.as_ref(), record, &reason, poison_attempts)
                    .await
                {
                    Ok(()) => Ok(RecordResult::DeadLettered { reason }),
                    Err(error) => Err(format!("dead-lettering a poison record failed: {error}")),
                };
            }
            let delay = backoff.next_delay();
            tracing::warn!(
                topic = %record.topic, partition = record.partition, offset = record.offset,
                error = %reason, retry_in_ms = delay.as_millis() as u64,
                "Processing a record failed; retrying."
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// Reads the records and builds what their transaction writes, with one read for the
    /// customers of them all (claim check: contact data comes from the store, never from the
    /// event).
    async fn prepare(
        &self,
        topic: Topic,
        records: &[ConsumedRecord],
    ) -> Result<Vec<EventRecord>, ProcessError> {
        let events = records
            .iter()
            .map(|record| self.envelope_of(topic, record))
            .collect::<Result<Vec<_>, _>>()?;
        let customers = self.store.customers(&distinct_customers(&events)).await?;
        let now = chrono::Utc::now();
        Ok(events
            .into_iter()
            .map(|event| {
                let customer = customers.get(&event.customer_id);
                self.record_of(event, customer, now)
            })
            .collect())
    }

    /// The event a record carries, if it is one of `topic`'s.
    fn envelope_of(&self, topic: Topic, record: &ConsumedRecord) -> Result<Envelope, ProcessError> {
        let expected = self.topics.name(topic);
        if record.topic != expected {
            return Err(ProcessError::Poison(format!(
                "a record of topic {} given to the consumer of {expected}",
                record.topic
            )));
        }
        let event = Envelope::from_json(&record.value)
            .map_err(|e| ProcessError::Poison(format!("not an event envelope: {e}")))?;
        if self.topics.name(event.topic) != record.topic {
            return Err(ProcessError::Poison(format!(
                "an event of type {} on topic {}",
                event.topic, record.topic
            )));
        }
        Ok(event)
    }

    /// What storing `event` writes besides it: its audit row and notifications.
    fn record_of(
        &self,
        event: Envelope,
        customer: Option<&CustomerRecord>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> EventRecord {
        let mut notifications = crate::roles::notify::notifications_for(
            &event,
            customer,
            &self.config.operator_address,
            now,
        );
        self.alert_budget.admit(&mut notifications);
        let audit = AuditEntry {
            event_id: event.id,
            customer_id: event.customer_id.clone(),
            application_id: event.application_id,
            action: format!("{} consumed", event.topic),
            at: now,
        };
        EventRecord {
            event,
            audit,
            notifications,
        }
    }

    /// Wakes the notifier for new notifications and pushes every event, in order.
    async fn after_commit(&self, items: &[EventRecord], outcomes: &[RecordOutcome]) {
        let new_mail = items.iter().zip(outcomes).any(|(item, outcome)| {
            *outcome == RecordOutcome::Inserted && !item.notifications.is_empty()
        });
        if new_mail {
            self.notifier_nudge.notify_one();
        }
        // One read for the connections of every customer in the batch, after its commit (as
        // the read per event was): a connection registered after it learns of these events
        // from the last stored sequence its welcome carries.
        let customers = distinct_customers(items.iter().map(|item| &item.event));
        let connections = match self
            .store
            .connections_of_each(&customers, chrono::Utc::now())
            .await
        {
            Ok(connections) => connections,
            Err(error) => {
                tracing::warn!(error = %error, "Listing the customers' connections failed; they will catch up on resume.");
                HashMap::new()
            }
        };
        let mut gone = HashSet::new();
        let mut pushes = Vec::new();
        for (item, outcome) in items.iter().zip(outcomes) {
            let event = &item.event;
            let span = tracing::info_span!("event", correlation_id = %event.correlation_id, event_id = %event.id);
            tracing::debug!(
                parent: &span,
                topic = %event.topic,
                sequence = event.sequence,
                notifications = item.notifications.len(),
                duplicate = *outcome == RecordOutcome::Duplicate,
                "Stored a consumed event."
            );
            let of_customer = connections
                .get(&event.customer_id)
                .map_or(&[][..], Vec::as_slice);
            pushes.extend(
                self.push(event, of_customer, &mut gone)
                    .instrument(span)
                    .await,
            );
        }
        match &self.trace_rows {
            Some(rows) => rows.pushes(pushes),
            None => trace_rows::store_pushes(&*self.store, &pushes).await,
        }
    }

    /// Stores one record with its projection, audit row and notifications, then pushes it.
    #[tracing::instrument(skip_all, fields(topic = %record.topic, offset = record.offset))]
    async fn process(
        &self,
        topic: Topic,
        record: &ConsumedRecord,
    ) -> Result<RecordOutcome, ProcessError> {
        let items = self.prepare(topic, std::slice::from_ref(record)).await?;
        let outcomes = self.store.record_events(&items).await?;
        self.after_commit(&items, &outcomes).await;
        outcomes
            .first()
            .copied()
            .ok_or_else(|| ProcessError::Transient("the store reported no outcome".into()))
    }

    /// Best effort: a client that misses a push catches up with `resume`. Returns the outcome
    /// per connection (at most [`MAX_PUSHES_PER_EVENT`]) for `onboard trace`.
    /// Pushes `event` to the customer's `connections`, except those found `gone` earlier in
    /// the batch (a gone one is removed from the registry and added there).
    async fn push(
        &self,
        event: &Envelope,
        connections: &[ConnectionRecord],
        gone: &mut HashSet<ConnectionId>,
    ) -> Vec<PushRecord> {
        let mut outcomes = Vec::with_capacity(connections.len().min(MAX_PUSHES_PER_EVENT));
        for connection in connections {
            if gone.contains(&connection.connection_id) {
                continue;
            }
            let outcome = match self.pusher.push_event(connection, event).await {
                Ok(PushOutcome::Delivered) => PushResult::Delivered,
                Ok(PushOutcome::Gone) => {
                    gone.insert(connection.connection_id);
                    if let Err(error) = self.store.remove_connection(connection.connection_id).await
                    {
                        tracing::warn!(error = %error, "Removing a gone connection failed; the sweeper will.");
                    }
                    PushResult::Gone
                }
                Err(error) => {
                    tracing::warn!(error = %error, connection_id = %connection.connection_id, "Pushing an event failed.");
                    PushResult::Failed
                }
            };
            tracing::debug!(connection_id = %connection.connection_id, node_id = %connection.node_id, outcome = outcome.as_str(), "Pushed an event.");
            if outcomes.len() < MAX_PUSHES_PER_EVENT {
                outcomes.push(PushRecord {
                    event_id: event.id,
                    connection_id: connection.connection_id,
                    node_id: connection.node_id.clone(),
                    outcome,
                    at: chrono::Utc::now(),
                });
            }
        }
        outcomes
    }
}

/// The customers of `events`, each once, in the order they first appear.
fn distinct_customers<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Vec<CustomerId> {
    let mut seen = HashSet::new();
    events
        .into_iter()
        .map(|event| &event.customer_id)
        .filter(|&id| seen.insert(id))
        .cloned()
        .collect()
}

enum Handled {
    Done,
    ShuttingDown,
}

/// What [`ConsumerRole::process_batch`] did with each record, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub results: Vec<RecordResult>,
}

/// What happened to one record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordResult {
    /// Stored now (event, projection, audit row, notifications) and pushed.
    Stored,
    /// Already stored by an earlier delivery: nothing written, pushed again (clients drop
    /// what they already have).
    Duplicate,
    /// Could not be processed after `max_attempts`; moved to `<topic>.dlq`.
    DeadLettered { reason: String },
    /// Not processed (the store or bus is unavailable, or an earlier record of the batch
    /// failed so): process it again; until then it must not be acknowledged.
    Failed { reason: String },
}

impl From<RecordOutcome> for RecordResult {
    fn from(outcome: RecordOutcome) -> Self {
        match outcome {
            RecordOutcome::Inserted => Self::Stored,
            RecordOutcome::Duplicate => Self::Duplicate,
        }
    }
}

impl BatchReport {
    /// Positions (in the batch given) of the records to process again.
    pub fn failed(&self) -> impl Iterator<Item = usize> + '_ {
        self.results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, RecordResult::Failed { .. }))
            .map(|(i, _)| i)
    }

    /// Why the first failed record failed; `None` when the whole batch is done.
    pub fn first_failure(&self) -> Option<&str> {
        self.results.iter().find_map(|r| match r {
            RecordResult::Failed { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// Whether every record was stored or dead-lettered, so the batch may be acknowledged.
    pub fn is_complete(&self) -> bool {
        self.first_failure().is_none()
    }
}
