//! Runs the store behaviour suite against a real PostgreSQL server (`DATABASE_URL`), one fresh
//! database per case, plus what only a shared server can show: row locks between concurrent
//! transactions, racing idempotency keys, one active outbox relay, and losing the server.
//!
//! Without `DATABASE_URL` the cases skip with a message, unless `ONBOARD_REQUIRE_POSTGRES=1`
//! (set by scripts/test.sh), which makes them fail.

use async_trait::async_trait;
use onboard::adapters::postgres::{DatabaseUrl, PostgresStore};
use onboard::domain::event::Topic;
use onboard::domain::workflow::ApplicationStatus;
use onboard::ports::store::{
    EventLog, IdempotentResponse, Outbox, StepStore, Store, StoreBase, StoreError,
};
use onboard::testing::postgres::{
    create_database, server_from_env, through, unique_database_name, with_session_setting,
};
use onboard::testing::proxy::TcpProxy;
use onboard::testing::store_suite::{self, StoreHarness};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The pool of a store the cases open: the largest default of `store.max_connections`.
const POOL: u32 = 16;

/// Each `fresh` store is a new database on the `DATABASE_URL` server.
struct PostgresHarness {
    server: Option<DatabaseUrl>,
}

impl PostgresHarness {
    fn new() -> Self {
        Self {
            server: server_from_env("store_postgres"),
        }
    }
}

#[async_trait]
impl StoreHarness for PostgresHarness {
    async fn fresh(&self) -> Arc<dyn Store> {
        open_fresh(self.server.as_ref().expect("a server")).await.1
    }

    fn available(&self) -> bool {
        self.server.is_some()
    }
}

onboard::store_suite!(PostgresHarness::new());
onboard::trace_suite!(PostgresHarness::new());

/// A new database and a store on it.
async fn open_fresh(server: &DatabaseUrl) -> (DatabaseUrl, Arc<PostgresStore>) {
    let url = create_database(server, &unique_database_name("onboard_test")).await;
    let store = PostgresStore::open(&url, POOL)
        .await
        .expect("open the store");
    (url, store)
}

/// The server for a PostgreSQL-only case, or `None` to skip.
fn server(test: &str) -> Option<DatabaseUrl> {
    server_from_env(test)
}

/// Waits until a session on the database at `url` waits for a lock (PostgreSQL's own view of
/// it), so a check that a transaction "is blocked" is made on an observed wait, not after a
/// sleep that a slow machine could outlast.
async fn wait_until_a_session_waits_for_a_lock(url: &DatabaseUrl) {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url.expose_secret())
        .await
        .expect("a monitoring connection");
    let started = std::time::Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut db)
        .await
        .expect("read pg_stat_activity");
        if waiting > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no session ever waited for a lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_transactions_on_one_application_take_turns_through_its_row_lock() {
    let Some(server) = server("row lock") else {
        return;
    };
    let (url, store) = open_fresh(&server).await;
    let (_, application) = store_suite::seed_customer(&*store, "c-1", "ada@example.com").await;
    let id = application.application_id;

    let mut first = store.begin().await.expect("begin");
    first
        .application_for_update(id)
        .await
        .expect("lock")
        .expect("the application");

    let second_store = store.clone();
    let second = tokio::spawn(async move {
        let mut tx = second_store.begin().await.expect("begin");
        let seen = tx
            .application_for_update(id)
            .await
            .expect("lock")
            .expect("the application");
        tx.commit().await.expect("commit");
        seen.status
    });
    wait_until_a_session_waits_for_a_lock(&url).await;
    assert!(
        !second.is_finished(),
        "the second transaction must wait for the first one's row lock"
    );

    first
        .update_application(
            id,
            ApplicationStatus::DocumentsProcessed,
            None,
            store_suite::at(5),
        )
        .await
        .expect("update");
    first.commit().await.expect("commit");
    let seen = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .expect("the second transaction proceeds once the first committed")
        .expect("no panic");
    assert_eq!(
        seen,
        ApplicationStatus::DocumentsProcessed,
        "the second transaction reads what the first committed"
    );
}

#[tokio::test]
async fn racing_requests_with_one_idempotency_key_store_one_answer_and_the_other_conflicts() {
    let Some(server) = server("idempotency race") else {
        return;
    };
    let (url, store) = open_fresh(&server).await;
    let customer = store_suite::customer_id("c-1");
    let answer = |body: &str| IdempotentResponse {
        request_hash: "h".into(),
        status: 201,
        body: body.into(),
    };

    let mut first = store.begin().await.expect("begin");
    let mut second = store.begin().await.expect("begin");
    assert_eq!(
        first.idempotent_response(&customer, "k").await.unwrap(),
        None
    );
    assert_eq!(
        second.idempotent_response(&customer, "k").await.unwrap(),
        None
    );
    first
        .save_idempotent_response(&customer, "k", &answer("first"))
        .await
        .expect("the first insert goes through");

    let customer_2 = customer.clone();
    let loser = tokio::spawn(async move {
        second
            .save_idempotent_response(&customer_2, "k", &answer("second"))
            .await
    });
    wait_until_a_session_waits_for_a_lock(&url).await;
    assert!(
        !loser.is_finished(),
        "the second insert waits for the first transaction to decide"
    );
    first.commit().await.expect("commit");

    let outcome = tokio::time::timeout(Duration::from_secs(5), loser)
        .await
        .expect("decided once the first committed")
        .expect("no panic");
    match outcome {
        Err(StoreError::Conflict(rule)) => {
            assert!(rule.contains("idempotency_keys"), "rule: {rule}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.idempotent_response(&customer, "k").await.unwrap(),
        Some(answer("first"))
    );
}

#[tokio::test]
async fn a_conflict_names_the_rule_but_never_the_value() {
    let Some(server) = server("conflict message") else {
        return;
    };
    let (_, store) = open_fresh(&server).await;
    store_suite::seed_customer(&*store, "c-1", "ada@example.com").await;
    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .insert_customer(&store_suite::customer("c-2", "ada@example.com"))
        .await
        .expect_err("the e-mail is taken");
    let message = err.to_string();
    assert!(message.contains("customers_email_unique"), "{message}");
    assert!(!message.contains("ada@example.com"), "{message}");
}

#[tokio::test]
async fn only_one_store_relays_the_outbox_at_a_time_and_another_takes_over_when_it_goes() {
    let Some(server) = server("relay lease") else {
        return;
    };
    let (url, first) = open_fresh(&server).await;
    let second = PostgresStore::open(&url, POOL)
        .await
        .expect("a second process");
    let customer = store_suite::customer_id("c-1");
    let mut tx = first.begin().await.expect("begin");
    let sent = tx
        .enqueue_event(store_suite::draft(
            &customer,
            None,
            Topic::UserInfoSubmitted,
        ))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    let pending = first.outbox_pending(10).await.expect("outbox");
    assert_eq!(pending.len(), 1, "the first relay to ask takes the lease");
    assert_eq!(pending[0].envelope, sent);
    assert!(
        second.outbox_pending(10).await.expect("outbox").is_empty(),
        "a second relay stands by while the first holds the lease"
    );

    // The active relay's process goes away (closing its connections, as an exit would).
    first.close().await;
    // PostgreSQL ends the closed session, and so frees its advisory lock, a moment after the
    // client has gone: the standby polls as a relay does, within a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let pending = loop {
        let pending = second.outbox_pending(10).await.expect("outbox");
        if !pending.is_empty() || std::time::Instant::now() > deadline {
            break pending;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        pending.len(),
        1,
        "the standby relay takes over the unsent row within 10 s"
    );
    second
        .outbox_mark_sent(&[pending[0].seq])
        .await
        .expect("mark sent");
    assert!(second.outbox_pending(10).await.expect("outbox").is_empty());
}

#[tokio::test]
async fn instants_keep_microseconds_and_dates_and_json_round_trip() {
    let Some(server) = server("precision") else {
        return;
    };
    let (_, store) = open_fresh(&server).await;
    let mut customer = store_suite::customer("c-1", "ada@example.com");
    customer.created_at = store_suite::at(0) + chrono::Duration::microseconds(123_456);
    let mut tx = store.begin().await.expect("begin");
    tx.insert_customer(&customer).await.expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(
        store.customer(&customer.customer_id).await.expect("read"),
        Some(customer)
    );
}

/// The versions of every migration shipped in `migrations/postgres/` (`NNNN_words.sql`), in
/// order, so the case holds whatever migrations are added.
fn shipped_versions() -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .expect("the migrations folder")
        .filter_map(|entry| {
            let name = entry.expect("a migration").file_name();
            let name = name.to_string_lossy();
            name.strip_suffix(".sql")?.split_once('_')?.0.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    assert!(!versions.is_empty(), "no migration in {}", dir.display());
    versions
}

#[tokio::test]
async fn migrating_again_applies_nothing_and_a_new_database_gets_the_whole_schema() {
    let Some(server) = server("migrations") else {
        return;
    };
    let (url, store) = open_fresh(&server).await;
    assert!(store.migrate().await.expect("migrate").is_empty());

    let other = create_database(&server, &unique_database_name("onboard_test")).await;
    let bare = PostgresStore::connect(&other, POOL).await.expect("connect");
    let applied = bare.migrate().await.expect("migrate");
    assert_eq!(
        applied.iter().map(|m| m.version).collect::<Vec<_>>(),
        shipped_versions()
    );
    assert_ne!(url.expose_secret(), other.expose_secret());
}

#[tokio::test]
async fn a_store_that_lost_its_server_is_unavailable_and_recovers_when_it_is_back() {
    let Some(server) = server("server loss") else {
        return;
    };
    let (url, direct) = open_fresh(&server).await;
    let (customer, _) = store_suite::seed_customer(&*direct, "c-1", "ada@example.com").await;

    // The store reaches the server only through a proxy the test can cut.
    let upstream = url.server();
    let proxy = TcpProxy::start("127.0.0.1:0".parse().unwrap(), upstream.clone()).await;
    let via_proxy = through(&url, proxy.addr());
    let store = PostgresStore::open(&via_proxy, POOL).await.expect("open");
    store.ping().await.expect("reachable");

    let addr = proxy.addr();
    proxy.stop().await;
    // What the roles call: readiness, a producer step, a consumer storing an event.
    let event = store_suite::envelope(
        &customer.customer_id,
        None,
        1,
        Topic::UserInfoSubmitted,
        serde_json::json!({}),
    );
    let audit = store_suite::audit_of(&event);
    let (ping, begin, record) = tokio::join!(
        store.ping(),
        store.begin(),
        store.record_event(&event, &audit, &[])
    );
    for outcome in [ping.err(), begin.err(), record.err()] {
        let err = outcome.expect("the server is gone");
        assert!(err.is_transient(), "got {err:?}");
    }

    let proxy = TcpProxy::start(addr, upstream).await;
    store.ping().await.expect("reachable again");
    store
        .record_event(&event, &audit, &[])
        .await
        .expect("the consumer's retry succeeds");
    assert_eq!(
        store.customer(&customer.customer_id).await.expect("read"),
        Some(customer)
    );
    proxy.stop().await;
}

/// Every process migrates when it starts: several starting at once on a new database (a fresh
/// deployment, or parallel tests) must all come up, not fail on each other's `CREATE TABLE`.
#[tokio::test]
async fn processes_starting_together_on_a_new_database_all_migrate_it() {
    let Some(server) = server("processes_starting_together") else {
        return;
    };
    for _ in 0..3 {
        let url = create_database(&server, &unique_database_name("onboard_race")).await;
        let opened =
            futures::future::join_all((0..8).map(|_| PostgresStore::open(&url, POOL))).await;
        for store in opened {
            let store = store.expect("every process migrates and opens the store");
            store.close().await;
        }
    }
}

/// `/readyz` tells a load balancer the truth about the store (docs/architecture.md): 503 with
/// `store: false` while PostgreSQL cannot be reached, 200 again once it can, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_unavailable_while_the_store_is_down_and_ready_again_after() {
    let Some(server) = server("readyz_is_unavailable_while_the_store_is_down") else {
        return;
    };
    let url = create_database(&server, &unique_database_name("onboard_readyz")).await;
    let upstream = url.server();
    let proxy = TcpProxy::start("127.0.0.1:0".parse().unwrap(), upstream.clone()).await;
    let via_proxy = through(&url, proxy.addr());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = onboard::app::Settings::new(([127, 0, 0, 1], 0).into(), dir.path().into());
    settings.secret = onboard::auth::SecretSource {
        inline: Some("readyz-test-secret-that-is-long-enough-for-hs256".into()),
        file: None,
    };
    settings.store = onboard::wiring::StoreSettings::Postgres {
        url: via_proxy,
        max_connections: POOL,
    };
    let application = onboard::app::Application::build(settings)
        .await
        .expect("the app builds");
    let readyz = format!("http://{}/readyz", application.local_addr());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(application.run(shutdown.clone()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let wait_for = |ready: bool| {
        let (http, readyz) = (http.clone(), readyz.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(answer) = http.get(&readyz).send().await {
                    let status = answer.status().as_u16();
                    let body: serde_json::Value = answer.json().await.unwrap_or_default();
                    if (status == 200) == ready && body["store"] == ready {
                        if !ready {
                            assert_eq!(body["code"], "not-ready", "{body}");
                            assert!(body["detail"].as_str().unwrap().contains("store"));
                        }
                        return;
                    }
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "/readyz never said ready = {ready}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for(true).await;
    let addr = proxy.addr();
    proxy.stop().await;
    wait_for(false).await;
    let proxy = TcpProxy::start(addr, upstream).await;
    wait_for(true).await;
    shutdown.cancel();
    running.await.expect("joined").expect("a clean shutdown");
    proxy.stop().await;
}

/// A database created before migrations 0002 and 0005: its notifications take the type,
/// application and correlation id of their event (stored with them), so the SNS notifier can
/// label what was queued before the upgrade and its log lines name the request; an event
/// without an application leaves the notification without one.
#[tokio::test]
async fn notifications_queued_before_the_upgrade_take_their_events_type_and_application() {
    use onboard::ports::store::{NotificationKind, NotificationQueue};
    use store_suite::{customer_id, envelope, notification_of};
    let Some(server) = server("migration 0002 backfill") else {
        return;
    };
    let url = create_database(&server, &unique_database_name("onboard_test")).await;
    // The schema as the first release left it: only migration 0001 applied.
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/postgres/0001_initial.sql"),
        dir.path().join("0001_initial.sql"),
    )
    .unwrap();
    let old = sqlx::PgPool::connect(url.expose_secret()).await.unwrap();
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .unwrap()
        .run(&old)
        .await
        .unwrap();

    // Written as the first release wrote them: no event_type, no application_id.
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
        sqlx::query(
            "INSERT INTO events (event_id, customer_id, sequence, application_id, topic,
                                 occurred_at, envelope, stored_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $6)",
        )
        .bind(event.id.0)
        .bind(event.customer_id.as_str())
        .bind(event.sequence as i64)
        .bind(event.application_id.map(|a| a.0))
        .bind(event.topic.as_str())
        .bind(event.occurred_at)
        .bind(serde_json::to_value(event).unwrap())
        .execute(&old)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO notifications (id, event_id, kind, recipient, subject, body, created_at,
                                        attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $7)",
        )
        .bind(&n.id)
        .bind(n.event_id.0)
        .bind(n.kind.as_str())
        .bind(&n.recipient)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(n.created_at)
        .execute(&old)
        .await
        .unwrap();
    }
    old.close().await;

    let store = PostgresStore::open(&url, POOL)
        .await
        .expect("open and migrate");
    let due = store
        .notifications_due(store_suite::at(1000), 10)
        .await
        .expect("due");
    assert_eq!(due, vec![email, alert], "labelled as if written today");
}

#[tokio::test]
async fn a_store_opens_no_more_connections_than_store_max_connections() {
    let Some(server) = server("pool size") else {
        return;
    };
    let url = create_database(&server, &unique_database_name("onboard_test")).await;
    let customer = store_suite::customer_id("c-1");
    for max_connections in [1, 2] {
        let store = PostgresStore::open(&url, max_connections)
            .await
            .expect("open the store");
        // A producer step's transaction holds one connection until it ends.
        let tx = store.begin().await.expect("begin");
        let reader = Arc::clone(&store);
        let id = customer.clone();
        let mut read = tokio::spawn(async move { reader.customer(&id).await });
        // Long enough for a new connection on a busy machine, when the pool may open one; a
        // read that must wait is seen waiting for half a second.
        let patience = if max_connections > 1 { 5_000 } else { 500 };
        let meanwhile = tokio::time::timeout(Duration::from_millis(patience), &mut read).await;
        assert_eq!(
            meanwhile.is_ok(),
            max_connections > 1,
            "with {max_connections} connection(s), a read beside an open transaction \
             {} wait for it",
            if max_connections > 1 {
                "does not"
            } else {
                "must"
            }
        );
        drop(tx);
        let found = match meanwhile {
            Ok(answered) => answered,
            Err(_) => tokio::time::timeout(Duration::from_secs(4), read)
                .await
                .expect("the read gets the connection once the transaction ended"),
        };
        assert_eq!(found.expect("the read's task").expect("the read"), None);
        store.close().await;
    }
}

#[tokio::test]
async fn a_transaction_left_idle_loses_its_session_and_what_it_locked() {
    let Some(server) = server("idle transaction") else {
        return;
    };
    let (url, _) = open_fresh(&server).await;
    // The default is a minute (src/adapters/postgres/session.rs); a URL's own value wins, so
    // the test asks for 300 ms.
    let impatient = with_session_setting(&url, "idle_in_transaction_session_timeout", "300");
    let store = PostgresStore::open(&impatient, POOL).await.expect("open");
    let customer = store_suite::customer_id("c-1");
    let event = || store_suite::draft(&customer, None, Topic::UserInfoSubmitted);

    // A step's transaction takes the customer's sequence row, then its client stops.
    let mut stalled = store.begin().await.expect("begin");
    stalled.enqueue_event(event()).await.expect("enqueue");
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // The server ended it: the next step on the customer does not wait for its lock.
    let mut next = store.begin().await.expect("begin");
    let sent = tokio::time::timeout(Duration::from_secs(3), next.enqueue_event(event()))
        .await
        .expect("the stalled transaction's row lock is gone")
        .expect("enqueue");
    next.commit().await.expect("commit");
    assert_eq!(sent.sequence, 1, "the stalled event was never committed");
    assert!(
        stalled.commit().await.is_err(),
        "the stalled transaction cannot commit after the server ended it"
    );
    let pending = store.outbox_pending(10).await.expect("outbox");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].envelope, sent);
}
