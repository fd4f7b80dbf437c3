//! The notification dispatcher: delivers due notifications from the store through the notifier,
//! records each outcome, and retries transient failures with exponential backoff. Deliveries
//! are recorded as they happen, a batch per write: each write takes every delivery that finished
//! while the previous one ran.
//!
//! Permanent failures need no addition to the store port: they are recorded with
//! `notification_failed` and a retry time in the year 9999 ([`parked_until`]), so they stay in
//! the store with their error for an operator to inspect (or redrive by moving the retry time)
//! and are never picked up again on their own.

use crate::ports::notifier::{Notifier, NotifyError};
use crate::ports::store::{Notification, Store, StoreError, NOTIFICATION_LEASE};
use crate::roles::relay::Backoff;
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Longest wait between two attempts of one notification.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// How the dispatcher paces itself.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Notifications fetched per round.
    pub batch_size: i64,
    /// Longest sleep between rounds when nobody nudges; bounds the delay of retries that fall due.
    pub poll_interval: Duration,
    /// A delivery that takes longer counts as a transient failure, so one hung mail server
    /// cannot stall the queue or a graceful shutdown.
    pub delivery_timeout: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(1000),
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DispatchReport {
    /// Notifications that were due.
    pub due: usize,
    pub delivered: usize,
    /// Transient failures, scheduled again.
    pub retried: usize,
    /// Permanent failures, parked.
    pub parked: usize,
}

/// Delivers stored notifications until shut down.
pub struct NotificationDispatcher {
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    /// Consumers nudge it right after committing, so an e-mail leaves without waiting for the poll.
    nudge: Arc<Notify>,
    config: DispatcherConfig,
}

impl NotificationDispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        notifier: Arc<dyn Notifier>,
        config: DispatcherConfig,
    ) -> Self {
        Self {
            store,
            notifier,
            nudge: Arc::new(Notify::new()),
            config,
        }
    }

    /// Shares a wake-up with the consumers that write notifications (instead of its own).
    pub fn with_nudge(mut self, nudge: Arc<Notify>) -> Self {
        self.nudge = nudge;
        self
    }

    /// Wakes the dispatcher for an early round. Call `notify_one()` on it: unlike
    /// `notify_waiters()` it keeps the wake-up when the dispatcher is busy delivering, so a
    /// nudge is never lost.
    pub fn nudge_handle(&self) -> Arc<Notify> {
        Arc::clone(&self.nudge)
    }

    /// Runs rounds until `shutdown` is cancelled; a delivery in progress is finished (or times
    /// out) first.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(
            notifier = self.notifier.name(),
            store = self.store.name(),
            "Notification dispatcher started."
        );
        loop {
            let more_waiting = match self.dispatch_due(Utc::now(), &shutdown).await {
                Ok(report) => {
                    let full =
                        i64::try_from(report.due).unwrap_or(i64::MAX) >= self.config.batch_size;
                    full && !shutdown.is_cancelled()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Notification round failed; trying again after the poll interval.");
                    false
                }
            };
            if more_waiting {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.nudge.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
        tracing::info!("Notification dispatcher stopped.");
    }

    /// Records deliveries, retrying while the store is unavailable, for up to half the claims'
    /// lease: a delivery that is not recorded is sent again by whichever dispatcher claims it
    /// after the lease, so a short database outage would otherwise mean a duplicate e-mail.
    async fn record_delivered(
        &self,
        ids: &[String],
        claimed_at: tokio::time::Instant,
    ) -> Result<(), StoreError> {
        let deadline = claimed_at + NOTIFICATION_LEASE / 2;
        let mut backoff = Backoff::with(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            match self.store.notifications_delivered(ids, Utc::now()).await {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() => {
                    let delay = backoff.next_delay();
                    if tokio::time::Instant::now() + delay >= deadline {
                        return Err(error);
                    }
                    tracing::warn!(notifications = ids.len(), error = %error, retry_in_ms = delay.as_millis() as u64, "Recording delivered notifications failed; retrying so they are not sent twice.");
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Records the round's deliveries as they come: each write takes every delivery that
    /// arrived while the previous one ran, so n deliveries cost a few writes instead of n
    /// (they compete for the store's one writer with the consumers). Ends once the deliveries
    /// are over and recorded, or at the first store error.
    async fn record_deliveries(&self, round: &Round, claimed_at: tokio::time::Instant) {
        while let Some(ids) = round.deliveries.next().await {
            match self.record_delivered(&ids, claimed_at).await {
                Ok(()) => {
                    round.delivered.fetch_add(ids.len(), Ordering::SeqCst);
                }
                Err(error) => {
                    round.fail(error);
                    return;
                }
            }
        }
    }

    /// One round: claims the notifications due at `now`, delivers them and records each outcome.
    /// Recipients are served concurrently (up to [`CONCURRENT_RECIPIENTS`]), each recipient's
    /// notifications one after another in the order they were made, so one slow mailbox holds
    /// up only its own mail. Stops on the first store error, since outcomes that cannot be
    /// recorded would only be delivered again (after the claim's lease).
    pub async fn dispatch_due(
        &self,
        now: DateTime<Utc>,
        shutdown: &CancellationToken,
    ) -> Result<DispatchReport, StoreError> {
        let due = self
            .store
            .notifications_due(now, self.config.batch_size)
            .await?;
        let claimed_at = tokio::time::Instant::now();
        let round = Round::default();
        let deliveries = async {
            futures::stream::iter(by_recipient(&due))
                .for_each_concurrent(CONCURRENT_RECIPIENTS, |queue| {
                    self.serve_recipient(queue, shutdown, &round)
                })
                .await;
            round.deliveries.close();
        };
        tokio::join!(deliveries, self.record_deliveries(&round, claimed_at));
        round.report(due.len())
    }

    /// Delivers one recipient's notifications of the round, one after another; stops at the
    /// first store error (of its own or of another recipient's).
    async fn serve_recipient(
        &self,
        queue: Vec<&Notification>,
        shutdown: &CancellationToken,
        round: &Round,
    ) {
        for notification in queue {
            if round.store_failed() {
                return;
            }
            // Every line the delivery logs (here and in the notifier) names the request that
            // caused it.
            let span = tracing::info_span!(
                "notification",
                correlation_id = notification.correlation_id.as_deref(),
                notification_id = %notification.id,
                kind = notification.kind.as_str(),
            );
            let attempt = self
                .attempt(notification, shutdown, round)
                .instrument(span)
                .await;
            if let Err(error) = attempt {
                round.fail(error);
                return;
            }
        }
    }

    /// Delivers one claimed notification and records the outcome: a failure in the store at
    /// once, a delivery through `round` (see [`Self::record_deliveries`]).
    async fn attempt(
        &self,
        notification: &Notification,
        shutdown: &CancellationToken,
        round: &Round,
    ) -> Result<(), StoreError> {
        // Claimed notifications are delivered even while stopping (a graceful stop drains),
        // unless the notifier is failing: then the rest are handed back at once rather than
        // waiting out their lease or holding up the stop.
        if shutdown.is_cancelled() && round.retried.load(Ordering::SeqCst) > 0 {
            self.store
                .notification_failed(
                    &notification.id,
                    "not attempted: the dispatcher stopped",
                    Utc::now(),
                )
                .await?;
            return Ok(());
        }
        let result = tokio::time::timeout(
            self.config.delivery_timeout,
            self.notifier.deliver(notification),
        )
        .await
        .unwrap_or_else(|_| Err(NotifyError::Transient("the delivery timed out".into())));
        match outcome(notification, result, Utc::now()) {
            Outcome::Delivered => {
                round.deliveries.add(notification.id.clone());
                count(notification, "delivered");
                tracing::info!("Notification delivered.");
            }
            Outcome::Failed {
                error,
                retry_at,
                permanent,
            } => {
                self.store
                    .notification_failed(&notification.id, &error, retry_at)
                    .await?;
                // The error text stays in the store: an adapter may name the recipient in it.
                if permanent {
                    round.parked.fetch_add(1, Ordering::SeqCst);
                    count(notification, "parked");
                    tracing::error!(
                        attempt = notification.attempts + 1,
                        "Notification failed permanently and is parked; see its stored error."
                    );
                } else {
                    round.retried.fetch_add(1, Ordering::SeqCst);
                    count(notification, "retried");
                    tracing::warn!(
                        attempt = notification.attempts + 1,
                        retry_at = %retry_at,
                        "Notification failed; it will be retried."
                    );
                }
            }
        }
        Ok(())
    }
}

/// Recipients whose notifications one round delivers at the same time.
pub const CONCURRENT_RECIPIENTS: usize = 16;

/// `due` (in the order it was made) split per recipient, each keeping that order; the
/// recipients in the order of their first notification.
fn by_recipient(due: &[Notification]) -> Vec<Vec<&Notification>> {
    let mut queues: Vec<Vec<&Notification>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for notification in due {
        let at = *index
            .entry(notification.recipient.as_str())
            .or_insert_with(|| {
                queues.push(Vec::new());
                queues.len() - 1
            });
        queues[at].push(notification);
    }
    queues
}

/// Deliveries not yet recorded: the deliveries add to it, the recorder takes them.
#[derive(Default)]
struct Deliveries {
    waiting: std::sync::Mutex<Waiting>,
    added: Notify,
}

#[derive(Default)]
struct Waiting {
    ids: Vec<String>,
    /// No delivery adds any more.
    closed: bool,
}

impl Deliveries {
    /// The waiting deliveries; a poisoned lock still holds them (nothing panics while it is held).
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, id: String) {
        self.waiting().ids.push(id);
        // Keeps the wake-up when the recorder is busy writing, so none is lost.
        self.added.notify_one();
    }

    fn close(&self) {
        self.waiting().closed = true;
        self.added.notify_one();
    }

    /// Every delivery added since the last call, waiting for one; `None` once closed and
    /// every delivery was taken.
    async fn next(&self) -> Option<Vec<String>> {
        loop {
            {
                let mut waiting = self.waiting();
                if !waiting.ids.is_empty() {
                    return Some(std::mem::take(&mut waiting.ids));
                }
                if waiting.closed {
                    return None;
                }
            }
            self.added.notified().await;
        }
    }
}

/// What one round's concurrent deliveries did so far.
#[derive(Default)]
struct Round {
    /// Delivered, waiting to be recorded.
    deliveries: Deliveries,
    /// Delivered and recorded.
    delivered: AtomicUsize,
    retried: AtomicUsize,
    parked: AtomicUsize,
    /// The first store error: the round stops taking new notifications.
    failed: std::sync::Mutex<Option<StoreError>>,
}

impl Round {
    fn store_failed(&self) -> bool {
        self.failed.lock().map_or(true, |failed| failed.is_some())
    }

    fn fail(&self, error: StoreError) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.get_or_insert(error);
        }
    }

    fn report(self, due: usize) -> Result<DispatchReport, StoreError> {
        if let Some(error) = self.failed.into_inner().ok().flatten() {
            return Err(error);
        }
        Ok(DispatchReport {
            due,
            delivered: self.delivered.into_inner(),
            retried: self.retried.into_inner(),
            parked: self.parked.into_inner(),
        })
    }
}

/// Counts one delivery attempt beside its log line, so the dashboard and the logs agree.
fn count(notification: &Notification, outcome: &'static str) {
    metrics::counter!(
        crate::telemetry::NOTIFICATIONS,
        "kind" => notification.kind.as_str(),
        "outcome" => outcome
    )
    .increment(1);
}

/// What to record after one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed {
        error: String,
        retry_at: DateTime<Utc>,
        permanent: bool,
    },
}

fn outcome(
    notification: &Notification,
    result: Result<(), NotifyError>,
    now: DateTime<Utc>,
) -> Outcome {
    match result {
        Ok(()) => Outcome::Delivered,
        Err(NotifyError::Transient(e)) => {
            let delay = chrono::Duration::from_std(retry_delay(notification.attempts))
                .unwrap_or(chrono::Duration::MAX);
            Outcome::Failed {
                error: format!("transient: {e}"),
                retry_at: now + delay,
                permanent: false,
            }
        }
        Err(NotifyError::Permanent(e)) => Outcome::Failed {
            error: format!("permanent: {e}"),
            retry_at: parked_until(),
            permanent: true,
        },
    }
}

/// Wait before the next attempt after `failed_attempts_before` earlier failures plus this one:
/// 1 s, 2 s, 4 s, … capped at [`MAX_RETRY_DELAY`].
pub fn retry_delay(failed_attempts_before: u32) -> Duration {
    let secs = 1u64
        .checked_shl(failed_attempts_before)
        .unwrap_or(u64::MAX)
        .min(MAX_RETRY_DELAY.as_secs());
    Duration::from_secs(secs)
}

/// The retry time of a parked notification: far enough never to fall due, and still an
/// ordinary timestamp every database stores and sorts.
pub fn parked_until() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::EventId;
    use crate::ports::store::NotificationKind;

    fn notification(attempts: u32) -> Notification {
        Notification {
            id: "e.customer_email".into(),
            event_id: EventId::new(),
            kind: NotificationKind::CustomerEmail,
            event_type: crate::domain::event::Topic::UserInfoSubmitted,
            application_id: None,
            correlation_id: None,
            recipient: "a@example.com".into(),
            subject: "s".into(),
            body: "b".into(),
            created_at: Utc::now(),
            attempts,
        }
    }

    #[test]
    fn retry_delays_double_from_one_second_and_stop_at_five_minutes() {
        let delays: Vec<u64> = (0..12).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY_DELAY);
    }

    #[test]
    fn a_transient_failure_is_retried_after_the_backoff_of_its_attempt() {
        let now = Utc::now();
        let got = outcome(
            &notification(3),
            Err(NotifyError::Transient("disk full".into())),
            now,
        );
        assert_eq!(
            got,
            Outcome::Failed {
                error: "transient: disk full".into(),
                retry_at: now + chrono::Duration::seconds(8),
                permanent: false,
            }
        );
    }

    #[test]
    fn a_permanent_failure_is_parked_far_in_the_future() {
        let got = outcome(
            &notification(0),
            Err(NotifyError::Permanent("bad address".into())),
            Utc::now(),
        );
        let Outcome::Failed {
            retry_at,
            permanent,
            error,
        } = got
        else {
            panic!("expected a failure, got {got:?}");
        };
        assert!(permanent);
        assert_eq!(error, "permanent: bad address");
        assert_eq!(retry_at, parked_until());
        assert!(retry_at > Utc::now() + chrono::Duration::days(365 * 1000));
    }

    /// Compiles only if `run` can be handed to `tokio::spawn`.
    #[allow(dead_code)]
    fn run_can_be_spawned(dispatcher: NotificationDispatcher) {
        fn is_send<T: Send + 'static>(_: T) {}
        is_send(dispatcher.run(CancellationToken::new()));
    }

    #[test]
    fn a_success_is_recorded_as_delivered() {
        assert_eq!(
            outcome(&notification(5), Ok(()), Utc::now()),
            Outcome::Delivered
        );
    }
}
