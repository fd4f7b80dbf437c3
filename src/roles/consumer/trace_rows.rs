//! The trace rows of long-running consumers (push outcomes, where committed records came
//! from), written behind them: a member hands its rows over and polls on, and one writer stores
//! what every member handed over since its last write in one go. Before, each member waited
//! for two write transactions of its own after every batch, on the store's only writer where
//! that is SQLite.
//!
//! The rows are for `onboard trace`, best effort as before: rows handed over while the queue is
//! full, or that the store refuses, are missing from the trace, with a warning. A Lambda
//! invocation writes its rows itself (nothing of it runs after it returns).

use crate::ports::store::Store;
use crate::ports::trace::{CommittedRecord, PushRecord};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Hand-overs queued at most; beyond it rows are dropped (the store is failing or far behind).
const QUEUE: usize = 4096;
/// Rows stored in one write at most.
const MAX_ROWS_A_WRITE: usize = 2048;

enum Rows {
    Pushes(Vec<PushRecord>),
    Committed(Vec<CommittedRecord>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Self::Pushes(rows) => rows.len(),
            Self::Committed(rows) => rows.len(),
        }
    }
}

/// Takes trace rows from the members; cheap to clone. The writer ends, after storing what was
/// handed over, once every clone is dropped.
#[derive(Clone)]
pub(crate) struct TraceRows {
    queue: mpsc::Sender<Rows>,
}

impl TraceRows {
    /// Starts the writer on `store`.
    pub(crate) fn start(store: Arc<dyn Store>) -> (Self, JoinHandle<()>) {
        let (queue, handed_over) = mpsc::channel(QUEUE);
        (Self { queue }, tokio::spawn(write(store, handed_over)))
    }

    pub(crate) fn pushes(&self, rows: Vec<PushRecord>) {
        self.hand_over(Rows::Pushes(rows));
    }

    pub(crate) fn committed(&self, rows: Vec<CommittedRecord>) {
        self.hand_over(Rows::Committed(rows));
    }

    fn hand_over(&self, rows: Rows) {
        if rows.len() == 0 {
            return;
        }
        if let Err(error) = self.queue.try_send(rows) {
            let rows = match error {
                mpsc::error::TrySendError::Full(rows) | mpsc::error::TrySendError::Closed(rows) => {
                    rows.len()
                }
            };
            tracing::warn!(
                rows,
                "The trace writer is behind; these push and commit records will miss from the trace."
            );
        }
    }
}

/// Stores everything handed over since the last write, pushes and commits side by side (on
/// SQLite both join one group commit), until every sender is gone.
async fn write(store: Arc<dyn Store>, mut handed_over: mpsc::Receiver<Rows>) {
    while let Some(first) = handed_over.recv().await {
        let (mut pushes, mut committed) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(rows) = next.take() {
            match rows {
                Rows::Pushes(rows) => pushes.extend(rows),
                Rows::Committed(rows) => committed.extend(rows),
            }
            if pushes.len() + committed.len() < MAX_ROWS_A_WRITE {
                next = handed_over.try_recv().ok();
            }
        }
        tokio::join!(
            store_pushes(&*store, &pushes),
            store_committed(&*store, &committed)
        );
    }
}

/// Records push outcomes; a failure is logged (the trace misses them).
pub(super) async fn store_pushes(store: &dyn Store, pushes: &[PushRecord]) {
    if let Err(error) = store.record_pushes(pushes).await {
        tracing::warn!(error = %error, pushes = pushes.len(), "Recording push outcomes failed; their trace will miss them.");
    }
}

/// Records where committed records came from; a failure is logged (the trace misses it).
pub(super) async fn store_committed(store: &dyn Store, committed: &[CommittedRecord]) {
    if let Err(error) = store.events_committed(committed).await {
        tracing::warn!(error = %error, records = committed.len(), "Recording the commit of consumed records failed; their trace will miss it.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sqlite::SqliteStore;
    use crate::domain::event::Topic;
    use crate::domain::ids::ConnectionId;
    use crate::ports::trace::PushResult;
    use crate::testing::store_suite::{at, audit_of, customer_id, envelope};

    #[tokio::test]
    async fn rows_handed_over_by_every_member_are_stored_before_the_writer_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = SqliteStore::open(&dir.path().join("onboard.db"))
            .await
            .expect("store");
        let who = customer_id("c-1");
        let events: Vec<_> = (1..=3)
            .map(|n| {
                envelope(
                    &who,
                    None,
                    n,
                    Topic::UserInfoSubmitted,
                    serde_json::json!({}),
                )
            })
            .collect();
        for event in &events {
            store
                .record_event(event, &audit_of(event), &[])
                .await
                .expect("record");
        }
        let (rows, writer) = TraceRows::start(store.clone());
        let members: Vec<TraceRows> = (0..3).map(|_| rows.clone()).collect();
        drop(rows);
        for (n, (member, event)) in members.iter().zip(&events).enumerate() {
            member.pushes(vec![PushRecord {
                event_id: event.id,
                connection_id: ConnectionId::new(),
                node_id: "node-1".into(),
                outcome: PushResult::Delivered,
                at: at(20),
            }]);
            member.committed(vec![CommittedRecord {
                event_id: event.id,
                partition: 0,
                offset: n as i64,
                published_at: None,
                committed_at: at(30 + n as i64),
            }]);
        }
        drop(members);
        writer
            .await
            .expect("the writer ends once every member is gone");

        let trace = store.customer_trace(&who, 10).await.expect("trace");
        assert_eq!(trace.len(), 3);
        for (n, hop) in trace.iter().enumerate() {
            assert_eq!(hop.pushes.len(), 1, "event {n}'s push");
            let consumed = hop.consumed.as_ref().expect("consumed");
            assert_eq!(consumed.offset, Some(n as i64));
            assert_eq!(consumed.committed_at, Some(at(30 + n as i64)));
        }
    }
}
