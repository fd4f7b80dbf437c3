//! Runs the store behaviour suite against the DynamoDB store on moto (`AWS_ENDPOINT_URL`), each
//! case on its own set of tables, plus what only DynamoDB shows: `onboard migrate` creating the
//! tables with TTL once, the 100-item limit of a transaction, and optimistic conditions in place
//! of row locks (a lost race is a `Conflict`, also between two processes).
//!
//! Without `AWS_ENDPOINT_URL` the cases skip with a message, unless `ONBOARD_REQUIRE_AWS=1`
//! (set by scripts/test.sh), which makes them fail.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TimeToLiveStatus;
use onboard::adapters::dynamodb::{DynamoStore, TableNames, MAX_TRANSACTION_ITEMS};
use onboard::domain::event::Topic;
use onboard::domain::workflow::ApplicationStatus;
use onboard::ports::store::{Outbox, StepStore, Store, StoreError};
use onboard::testing::aws::{endpoint_from_env, unique_name};
use onboard::testing::store_suite::{self, StoreHarness};
use std::process::Command;
use std::sync::Arc;

/// Each `fresh` store gets its own tables (a unique suffix) on the shared emulator.
struct DynamoHarness {
    endpoint: Option<String>,
}

impl DynamoHarness {
    fn new() -> Self {
        Self {
            endpoint: endpoint_from_env("store_dynamodb"),
        }
    }
}

#[async_trait]
impl StoreHarness for DynamoHarness {
    async fn fresh(&self) -> Arc<dyn Store> {
        fresh_store().await
    }

    fn available(&self) -> bool {
        self.endpoint.is_some()
    }
}

onboard::store_suite!(DynamoHarness::new());
onboard::trace_suite!(DynamoHarness::new());

fn unique_tables() -> TableNames {
    TableNames::with_suffix(&format!("-{}", unique_name("t")))
}

/// A store on new tables, migrated.
async fn fresh_store() -> Arc<DynamoStore> {
    let store = DynamoStore::open(None, unique_tables()).await;
    store.migrate().await.expect("create the tables");
    store
}

#[tokio::test]
async fn migrate_creates_every_table_with_ttl_once_and_then_nothing() {
    if endpoint_from_env("migrate_creates_every_table").is_none() {
        return;
    }
    let tables = unique_tables();
    let store = DynamoStore::open(None, tables.clone()).await;

    let created = store.migrate().await.expect("first migrate");
    assert_eq!(created, tables.all(), "every table, in definition order");
    for (table, attribute) in [
        (&tables.websocket, "ttl"),
        (&tables.idempotency, "expiresAt"),
    ] {
        let ttl = store
            .client()
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .expect("describe TTL")
            .time_to_live_description
            .expect("a TTL description");
        assert_eq!(
            ttl.time_to_live_status(),
            Some(&TimeToLiveStatus::Enabled),
            "{table}"
        );
        assert_eq!(ttl.attribute_name(), Some(attribute), "{table}");
    }
    assert!(
        store.migrate().await.expect("second migrate").is_empty(),
        "a second run creates nothing"
    );
}

/// `onboard migrate` as an operator runs it: lists the tables it created, then says they exist.
/// Tables an older Onboard made lack the sparse in-progress index: `migrate` adds it and first
/// indexes the in-progress applications already there, so a stall older than the upgrade is
/// still found; a second `migrate` has nothing left to do.
#[tokio::test]
async fn migrate_adds_the_in_progress_index_to_an_older_applications_table() {
    use aws_sdk_dynamodb::types::{
        AttributeValue, DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate,
    };
    use onboard::ports::operations::OperationsLog;
    if endpoint_from_env("migrate_adds_the_in_progress_index").is_none() {
        return;
    }
    let tables = unique_tables();
    let store = DynamoStore::open(None, tables.clone()).await;
    store.migrate().await.expect("create the tables");
    let (_, waiting) = store_suite::seed_customer(&*store, "c-1", "ada@example.com").await;
    let (_, other) = store_suite::seed_customer(&*store, "c-2", "bob@example.com").await;

    // As the older release left them: no index, and items without its key.
    let client = store.client();
    client
        .update_table()
        .table_name(&tables.applications)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("inProgressStatus-updatedAt")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("drop the index");
    for app in [&waiting, &other] {
        client
            .update_item()
            .table_name(&tables.applications)
            .key(
                "applicationId",
                AttributeValue::S(app.application_id.to_string()),
            )
            .update_expression("REMOVE inProgressStatus")
            .send()
            .await
            .expect("strip the index key");
    }

    let upgraded = store.migrate().await.expect("upgrade");
    assert_eq!(
        upgraded,
        vec![format!(
            "{} (index inProgressStatus-updatedAt)",
            tables.applications
        )]
    );
    let mut stalled: Vec<_> = store
        .applications_stalled_in(ApplicationStatus::Started, store_suite::at(50), 10)
        .await
        .expect("query the new index")
        .into_iter()
        .map(|a| a.application_id)
        .collect();
    stalled.sort();
    let mut expected = vec![waiting.application_id, other.application_id];
    expected.sort();
    assert_eq!(stalled, expected, "both older applications are indexed");
    assert!(store.migrate().await.expect("again").is_empty());
}

#[tokio::test]
async fn the_migrate_command_lists_the_tables_it_created_and_then_none() {
    let Some(endpoint) = endpoint_from_env("the_migrate_command_lists") else {
        return;
    };
    let environment = unique_name("env");
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let run = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
        onboard::testing::env::hermetic(&mut command)
            .args(["migrate", "--data-dir"])
            .arg(data_dir.path())
            .env("NO_COLOR", "1")
            .env("ONBOARD_STORE", "dynamodb")
            .env("ENVIRONMENT", &environment)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("the binary runs")
    };

    let first = run();
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let expected = TableNames::for_environment(&environment).all().len();
    assert!(
        text.contains(&format!("created {expected} table(s)")),
        "{text}"
    );
    for table in TableNames::for_environment(&environment).all() {
        assert!(
            text.contains(&format!("  {table}\n")),
            "{table} not listed: {text}"
        );
    }

    let second = run();
    let text = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{text}");
    assert!(text.contains("every table exists"), "{text}");
    assert!(!text.contains("created"), "{text}");
}

#[tokio::test]
async fn a_transaction_above_the_item_limit_is_refused_and_writes_nothing() {
    if endpoint_from_env("a_transaction_above_the_item_limit").is_none() {
        return;
    }
    let store = fresh_store().await;
    let who = store_suite::customer_id("busy");
    let mut tx = store.begin().await.expect("begin");
    // One outbox row per event plus the customer's counter: one more than DynamoDB takes.
    for _ in 0..MAX_TRANSACTION_ITEMS {
        tx.enqueue_event(store_suite::draft(&who, None, Topic::UserInfoSubmitted))
            .await
            .expect("enqueue");
    }
    match tx.commit().await {
        Err(StoreError::Other(message)) => {
            assert!(message.contains("limit of 100"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(store.outbox_pending(10).await.expect("outbox").is_empty());

    let mut tx = store.begin().await.expect("begin");
    let first = tx
        .enqueue_event(store_suite::draft(&who, None, Topic::UserInfoSubmitted))
        .await
        .expect("enqueue");
    tx.commit()
        .await
        .expect("a transaction within the limit commits");
    assert_eq!(first.sequence, 1, "the refused transaction took no number");
}

#[tokio::test]
async fn a_step_that_lost_the_race_for_an_application_fails_with_a_conflict() {
    if endpoint_from_env("a_step_that_lost_the_race").is_none() {
        return;
    }
    let store = fresh_store().await;
    let (_, application) = store_suite::seed_customer(&*store, "c-1", "ada@example.com").await;
    let id = application.application_id;

    let mut slow = store.begin().await.expect("begin");
    slow.application_for_update(id)
        .await
        .expect("read")
        .expect("exists");
    let mut fast = store.begin().await.expect("begin");
    fast.application_for_update(id)
        .await
        .expect("read")
        .expect("exists");
    fast.update_application(
        id,
        ApplicationStatus::DocumentsProcessed,
        None,
        store_suite::at(5),
    )
    .await
    .expect("update");
    fast.commit().await.expect("the first commit wins");

    slow.update_application(id, ApplicationStatus::Completed, None, store_suite::at(6))
        .await
        .expect("update");
    match slow.commit().await {
        Err(StoreError::Conflict(rule)) => assert!(rule.contains("application"), "{rule}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.application(id).await.expect("read").map(|a| a.status),
        Some(ApplicationStatus::DocumentsProcessed),
        "the loser wrote nothing"
    );

    // A step that only read the application is refused too once it changed under it.
    let mut reader = store.begin().await.expect("begin");
    reader.application_for_update(id).await.expect("read");
    reader
        .enqueue_event(store_suite::draft(
            &application.customer_id,
            Some(id),
            Topic::KycVerified,
        ))
        .await
        .expect("enqueue");
    let mut writer = store.begin().await.expect("begin");
    writer
        .update_application(id, ApplicationStatus::KycVerified, None, store_suite::at(7))
        .await
        .expect("update");
    writer.commit().await.expect("commit");
    assert!(matches!(
        reader.commit().await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store.outbox_pending(10).await.expect("outbox").is_empty());
}

/// Two processes (two stores, no shared lock) sequencing the same customer: one commits, the
/// other gets a `Conflict`, and no number is handed out twice.
#[tokio::test]
async fn two_processes_racing_for_a_customers_sequence_never_both_commit() {
    if endpoint_from_env("two_processes_racing").is_none() {
        return;
    }
    let first = fresh_store().await;
    let second = Arc::new(DynamoStore::with_client(
        first.client().clone(),
        first.tables().clone(),
    ));
    let who = store_suite::customer_id("c-1");

    let mut a = first.begin().await.expect("begin");
    let mut b = second.begin().await.expect("begin");
    let from_a = a
        .enqueue_event(store_suite::draft(&who, None, Topic::UserInfoSubmitted))
        .await
        .expect("enqueue");
    let from_b = b
        .enqueue_event(store_suite::draft(&who, None, Topic::UserInfoSubmitted))
        .await
        .expect("enqueue");
    assert_eq!((from_a.sequence, from_b.sequence), (1, 1));
    a.commit().await.expect("the first commit wins");
    assert!(matches!(b.commit().await, Err(StoreError::Conflict(_))));

    let pending = first.outbox_pending(10).await.expect("outbox");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].envelope.id, from_a.id);
}
