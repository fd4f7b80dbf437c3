//! `$disconnect`'s registry clean-up, in batches. A closing session hands its connection id to
//! this queue instead of deleting its row itself, and one worker deletes the queued rows with
//! one store call per batch. So when thousands of sockets close at once (a network blip, a
//! shutdown) the registry is cleaned with a handful of statements on one pool connection, and
//! the steps' transactions never wait behind thousands of single-row deletes.

use crate::domain::ids::ConnectionId;
use crate::ports::store::Store;
use crate::telemetry;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a stopping gateway waits for its closing sessions' rows to be deleted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The connection ids of closed sessions whose registry rows are still to be deleted. The
/// channel is unbounded, but holds at most one id per session the node accepted
/// (`gateway.max_connections`).
#[derive(Debug)]
pub struct Deregistrations {
    queued: mpsc::UnboundedSender<ConnectionId>,
    /// Taken by the one worker that runs.
    pending: Mutex<Option<mpsc::UnboundedReceiver<ConnectionId>>>,
    /// Most ids deleted by one store call.
    batch: usize,
}

impl Deregistrations {
    pub fn new(batch: usize) -> Self {
        let (queued, pending) = mpsc::unbounded_channel();
        Self {
            queued,
            pending: Mutex::new(Some(pending)),
            batch: batch.max(1),
        }
    }

    /// Queues the row of a session that has closed.
    pub fn push(&self, connection: ConnectionId) {
        // Only fails once the worker has stopped for good: the sweeper expires the row then.
        let _ = self.queued.send(connection);
    }

    /// Deletes queued rows in batches until `shutdown`, then, for at most [`SHUTDOWN_GRACE`],
    /// those of the sessions still closing (`all_closed` tells when none is left).
    pub async fn run(
        &self,
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
        all_closed: impl Fn() -> bool,
    ) {
        let Some(mut pending) = self.pending.lock().expect("deregistration lock").take() else {
            return; // another worker runs
        };
        let mut batch = Vec::with_capacity(self.batch);
        loop {
            let received = tokio::select! {
                received = pending.recv_many(&mut batch, self.batch) => received,
                () = shutdown.cancelled() => break,
            };
            if received == 0 {
                return;
            }
            remove(&*store, &mut batch).await;
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while !(all_closed() && pending.is_empty()) {
            match tokio::time::timeout_at(deadline, pending.recv_many(&mut batch, self.batch)).await
            {
                Ok(received) if received > 0 => remove(&*store, &mut batch).await,
                _ => {
                    tracing::warn!("Sessions were still closing after the grace; the sweeper will expire their registry rows.");
                    return;
                }
            }
        }
    }
}

/// Deletes the rows of `batch` (then empties it); a failure leaves them to the sweeper.
async fn remove(store: &dyn Store, batch: &mut Vec<ConnectionId>) {
    match store.remove_connections(batch).await {
        Ok(()) => tracing::debug!(
            removed = batch.len(),
            "Removed closed WebSocket registrations."
        ),
        Err(error) => tracing::warn!(
            error = %error,
            rows = batch.len(),
            "Removing closed WebSocket registrations failed; the sweeper will expire them."
        ),
    }
    // Counted closed once its registry row is gone (or left to expire), so the gauge and the
    // registry agree.
    metrics::gauge!(telemetry::WEBSOCKET_CONNECTIONS).decrement(batch.len() as f64);
    batch.clear();
}
