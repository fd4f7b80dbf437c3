//! Runs the store behaviour suite against the SQLite adapter, plus what only a file can show.

use async_trait::async_trait;
use onboard::adapters::sqlite::SqliteStore;
use onboard::ports::store::{ConnectionRegistry, Outbox, StepStore, Store, StoreBase};
use onboard::testing::store_suite::{self, StoreHarness};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Each `fresh` store is a new file in the harness's own temporary directory.
struct SqliteHarness {
    dir: tempfile::TempDir,
    opened: AtomicUsize,
}

impl SqliteHarness {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
            opened: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl StoreHarness for SqliteHarness {
    async fn fresh(&self) -> Arc<dyn Store> {
        let n = self.opened.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.path().join(format!("store-{n}/onboard.db"));
        SqliteStore::open(&path).await.expect("open the store")
    }
}

onboard::store_suite!(SqliteHarness::new());
onboard::trace_suite!(SqliteHarness::new());

#[tokio::test]
async fn committed_data_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("nested/dir/onboard.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let (customer, application) =
        store_suite::seed_customer(&*store, "c-1", "ada@example.com").await;
    let mut tx = store.begin().await.expect("begin");
    let sent = tx
        .enqueue_event(store_suite::draft(
            &customer.customer_id,
            Some(application.application_id),
            onboard::domain::event::Topic::UserInfoSubmitted,
        ))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    let conn = store_suite::connection(&customer.customer_id, 0, 100);
    store.register_connection(&conn).await.expect("register");
    store.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path)
        .await
        .expect("reopen runs no migration twice");
    assert_eq!(
        reopened
            .customer(&customer.customer_id)
            .await
            .expect("read"),
        Some(customer.clone())
    );
    assert_eq!(
        reopened
            .application(application.application_id)
            .await
            .expect("read"),
        Some(application)
    );
    let pending = reopened.outbox_pending(10).await.expect("outbox");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].envelope, sent);
    assert_eq!(
        reopened
            .connection(conn.connection_id, store_suite::at(1))
            .await
            .expect("read"),
        Some(conn)
    );
    // The sequence counter survived too: the next event is the customer's second.
    let mut tx = reopened.begin().await.expect("begin");
    let next = tx
        .enqueue_event(store_suite::draft(
            &customer.customer_id,
            None,
            onboard::domain::event::Topic::WorkflowErrors,
        ))
        .await
        .expect("enqueue");
    assert_eq!(next.sequence, 2);
}

#[tokio::test]
async fn a_closed_store_reports_unavailable() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("onboard.db"))
        .await
        .expect("open");
    store.close().await;
    let err = store.ping().await.expect_err("closed");
    assert!(err.is_transient(), "got {err:?}");
    assert!(store.begin().await.err().is_some_and(|e| e.is_transient()));
}
