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

/// A database created before migrations 0002 and 0005: its notifications take the type,
/// application and correlation id of their event (stored with them), so the SNS notifier can
/// label what was queued before the upgrade and its log lines name the request; an event
/// without an application leaves the notification without one.
#[tokio::test]
async fn notifications_queued_before_the_upgrade_take_their_events_type_and_application() {
    use onboard::domain::event::Topic;
    use onboard::ports::store::{EventLog, NotificationKind, NotificationQueue};
    use store_suite::{customer_id, envelope, notification_of};

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("onboard.db");
    // The schema as the first release left it: only migration 0001 applied.
    let first_only = dir.path().join("migrations");
    std::fs::create_dir(&first_only).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite/0001_initial.sql"),
        first_only.join("0001_initial.sql"),
    )
    .unwrap();
    let old = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(first_only)
        .await
        .unwrap()
        .run(&old)
        .await
        .unwrap();

    // An event with an application and one without, each with a queued notification, written
    // as the first release wrote them (no event_type, no application_id on the notification).
    let who = customer_id("c-1");
    let app = onboard::domain::ids::ApplicationId::new();
    let verified = envelope(
        &who,
        Some(app),
        1,
        Topic::KycVerified,
        serde_json::json!({}),
    );
    let failed = envelope(&who, None, 2, Topic::WorkflowErrors, serde_json::json!({}));
    let email = notification_of(&verified, NotificationKind::CustomerEmail);
    let alert = notification_of(&failed, NotificationKind::OperatorAlert);
    for (event, n) in [(&verified, &email), (&failed, &alert)] {
        let at = event
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        sqlx::query(
            "INSERT INTO events (event_id, customer_id, sequence, application_id, topic,
                                 occurred_at, envelope, stored_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(event.id.to_string())
        .bind(event.customer_id.as_str())
        .bind(event.sequence as i64)
        .bind(event.application_id.map(|a| a.to_string()))
        .bind(event.topic.as_str())
        .bind(&at)
        .bind(serde_json::to_string(event).unwrap())
        .bind(&at)
        .execute(&old)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO notifications (id, event_id, kind, recipient, subject, body, created_at,
                                        attempts, next_attempt_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
        )
        .bind(&n.id)
        .bind(n.event_id.to_string())
        .bind(n.kind.as_str())
        .bind(&n.recipient)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(&at)
        .bind(&at)
        .execute(&old)
        .await
        .unwrap();
    }
    old.close().await;

    let store = SqliteStore::open(&path).await.expect("open and migrate");
    let due = store
        .notifications_due(store_suite::at(1000), 10)
        .await
        .expect("due");
    assert_eq!(due, vec![email, alert], "labelled as if written today");
    // The event log is untouched by the migration.
    assert_eq!(store.events_after(&who, 0, 10).await.unwrap().len(), 2);
}
