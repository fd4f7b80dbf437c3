//! The store behaviour suite: every case any `Store` adapter must pass (SQLite now, PostgreSQL
//! later), run per adapter through [`store_suite!`](crate::store_suite).
//!
//! Cases never reuse a transaction after one of its statements failed, because PostgreSQL
//! aborts the whole transaction at that point while SQLite does not. Instants are whole
//! milliseconds so every database keeps them exactly.

use crate::domain::customer::{Email, PersonName, PhoneNumber};
use crate::domain::document::{ContentKind, DocumentType};
use crate::domain::event::{Envelope, EventDraft, Topic, ENVELOPE_VERSION};
use crate::domain::ids::{ApplicationId, ConnectionId, CustomerId, DocumentId, EventId};
use crate::domain::kyc::{KycDecision, KycReason};
use crate::domain::policy::CoverageType;
use crate::domain::workflow::ApplicationStatus;
use crate::ports::store::{
    ApplicationRecord, AuditEntry, ConnectionRecord, CustomerRecord, DocumentRecord, EventRecord,
    Expiry, IdempotentResponse, KycRecord, Notification, NotificationKind, RecommendationRecord,
    RecordOutcome, Store, StoreError, StoreStats,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

/// Gives each case a store of its own.
#[async_trait]
pub trait StoreHarness: Send + Sync {
    /// A store over an empty, migrated database that no other call of `fresh` shares.
    async fn fresh(&self) -> Arc<dyn Store>;

    /// `false` when the adapter's server is not configured and the harness chose to skip
    /// (saying so itself); the cases then return without running.
    fn available(&self) -> bool {
        true
    }
}

/// Expands to one `#[tokio::test]` per case of the suite; `$harness` is an expression that
/// builds a [`StoreHarness`] and is evaluated once per test.
///
/// ```ignore
/// onboard::store_suite!(SqliteHarness::new());
/// ```
#[macro_export]
macro_rules! store_suite {
    ($harness:expr) => {
        $crate::store_suite!(@cases $harness;
            a_committed_step_keeps_its_state_and_its_outbox_row,
            a_dropped_transaction_leaves_no_state_no_outbox_row_and_no_sequence,
            sequences_are_per_customer_start_at_one_and_have_no_gaps,
            concurrent_transactions_hand_out_distinct_sequences,
            the_outbox_lists_pending_rows_in_insertion_order_until_marked_sent,
            an_idempotent_response_is_read_back_and_refused_a_second_time,
            a_taken_email_or_customer_id_is_refused_with_a_conflict_naming_the_rule,
            application_state_round_trips_through_a_transaction,
            customers_are_read_together_and_unknown_ids_are_left_out,
            recording_an_event_twice_stores_it_once_with_one_audit_row_and_one_notification,
            a_batch_is_recorded_in_one_go_and_skips_events_already_stored,
            every_event_of_a_large_batch_keeps_its_own_audit_row_and_notifications,
            customers_never_read_each_others_events,
            timelines_follow_sequence_order_and_recent_events_come_newest_first,
            the_projection_follows_the_newest_event_even_when_events_arrive_out_of_order,
            a_due_notification_is_claimed_by_one_dispatcher_until_delivered_or_its_lease_ends,
            notifications_are_claimed_in_the_order_their_attempts_fall_due,
            a_parked_notification_is_listed_and_redriven_once,
            a_notification_keeps_its_event_type_and_application,
            the_registry_hides_expired_connections_and_sweeps_them,
            touching_a_connection_extends_its_life_and_removing_it_deletes_it,
            connections_of_returns_only_that_customers_live_connections,
            connections_of_each_returns_every_asked_customers_live_connections,
            removing_connections_in_batches_deletes_exactly_those_rows,
            stats_count_what_the_store_holds,
            purges_delete_sent_outbox_rows_old_idempotency_keys_and_expired_connections,
            a_dead_letter_replay_is_audited_and_listed_for_its_record_only,
            a_stall_is_found_by_status_and_age_and_alerted_once,
        );
    };
    (@cases $harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let harness = $harness;
                if !$crate::testing::store_suite::StoreHarness::available(&harness) {
                    return;
                }
                let store = $crate::testing::store_suite::StoreHarness::fresh(&harness).await;
                $crate::testing::store_suite::$case(store).await;
            }
        )*
    };
}

// ---- builders ----------------------------------------------------------------------------

/// A fixed instant plus `seconds`, so cases do not depend on the clock.
pub fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
        + Duration::seconds(seconds)
}

pub fn customer_id(raw: &str) -> CustomerId {
    CustomerId::parse(raw).expect("a valid customer id")
}

/// A customer record; domain values are built through serde because they are
/// `#[serde(transparent)]` and valid by construction here.
pub fn customer(id: &str, email: &str) -> CustomerRecord {
    CustomerRecord {
        customer_id: customer_id(id),
        email: serde_json::from_value::<Email>(json!(email)).expect("an e-mail"),
        first_name: serde_json::from_value::<PersonName>(json!("Ada")).expect("a name"),
        last_name: serde_json::from_value::<PersonName>(json!("Lovelace")).expect("a name"),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 12, 10).expect("a date"),
        phone_number: serde_json::from_value::<PhoneNumber>(json!("+447700900123"))
            .expect("a phone number"),
        created_at: at(0),
    }
}

pub fn application(customer: &CustomerId, created: i64) -> ApplicationRecord {
    ApplicationRecord {
        application_id: ApplicationId::new(),
        customer_id: customer.clone(),
        status: ApplicationStatus::Started,
        policy_id: None,
        created_at: at(created),
        updated_at: at(created),
    }
}

pub fn draft(
    customer: &CustomerId,
    application: Option<ApplicationId>,
    topic: Topic,
) -> EventDraft {
    EventDraft::new(
        topic,
        customer.clone(),
        application,
        "corr-1",
        json!({"n": 1}),
    )
}

/// A sealed envelope as a consumer receives it.
pub fn envelope(
    customer: &CustomerId,
    application: Option<ApplicationId>,
    sequence: u64,
    topic: Topic,
    data: Value,
) -> Envelope {
    Envelope {
        id: EventId::new(),
        topic,
        version: ENVELOPE_VERSION,
        occurred_at: at(i64::try_from(sequence).expect("a small sequence")),
        customer_id: customer.clone(),
        application_id: application,
        correlation_id: "corr-1".into(),
        sequence,
        data,
    }
}

pub fn audit_of(event: &Envelope) -> AuditEntry {
    AuditEntry {
        event_id: event.id,
        customer_id: event.customer_id.clone(),
        application_id: event.application_id,
        action: event.topic.as_str().into(),
        at: event.occurred_at,
    }
}

pub fn notification_of(event: &Envelope, kind: NotificationKind) -> Notification {
    Notification {
        id: format!("{}.{}", event.id, kind.as_str()),
        event_id: event.id,
        kind,
        event_type: event.topic,
        application_id: event.application_id,
        correlation_id: Some(event.correlation_id.clone()),
        recipient: "ada@example.com".into(),
        subject: "Your application".into(),
        body: "We received your details.".into(),
        created_at: event.occurred_at,
        attempts: 0,
    }
}

pub fn connection(customer: &CustomerId, connected: i64, expires: i64) -> ConnectionRecord {
    ConnectionRecord {
        connection_id: ConnectionId::new(),
        customer_id: customer.clone(),
        node_id: "node-1".into(),
        node_url: "http://127.0.0.1:9000".into(),
        source_ip: "192.0.2.1".into(),
        connected_at: at(connected),
        last_seen_at: at(connected),
        expires_at: at(expires),
    }
}

/// Commits a customer with one application.
pub async fn seed_customer(
    store: &dyn Store,
    id: &str,
    email: &str,
) -> (CustomerRecord, ApplicationRecord) {
    let c = customer(id, email);
    let a = application(&c.customer_id, 0);
    let mut tx = store.begin().await.expect("begin");
    tx.insert_customer(&c).await.expect("insert customer");
    tx.insert_application(&a).await.expect("insert application");
    tx.commit().await.expect("commit");
    (c, a)
}

async fn record(
    store: &dyn Store,
    event: &Envelope,
    notifications: &[Notification],
) -> RecordOutcome {
    store
        .record_event(event, &audit_of(event), notifications)
        .await
        .expect("record event")
}

fn sequences(events: &[Envelope]) -> Vec<u64> {
    events.iter().map(|e| e.sequence).collect()
}

// ---- producer transactions ---------------------------------------------------------------

pub async fn a_committed_step_keeps_its_state_and_its_outbox_row(store: Arc<dyn Store>) {
    let c = customer("c-1", "ada@example.com");
    let a = application(&c.customer_id, 0);
    let answer = IdempotentResponse {
        request_hash: "h".into(),
        status: 201,
        body: "{}".into(),
    };

    let mut tx = store.begin().await.expect("begin");
    tx.insert_customer(&c).await.expect("insert customer");
    tx.insert_application(&a).await.expect("insert application");
    tx.save_idempotent_response(&c.customer_id, "key-1", &answer)
        .await
        .expect("save response");
    let sent = tx
        .enqueue_event(draft(
            &c.customer_id,
            Some(a.application_id),
            Topic::UserInfoSubmitted,
        ))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");

    assert_eq!(sent.sequence, 1);
    assert_eq!(
        store.customer(&c.customer_id).await.expect("read"),
        Some(c.clone())
    );
    assert_eq!(
        store.application(a.application_id).await.expect("read"),
        Some(a)
    );
    let pending = store.outbox_pending(10).await.expect("outbox");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].envelope, sent);
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.idempotent_response(&c.customer_id, "key-1")
            .await
            .expect("read"),
        Some(answer)
    );
}

pub async fn a_dropped_transaction_leaves_no_state_no_outbox_row_and_no_sequence(
    store: Arc<dyn Store>,
) {
    let c = customer("c-1", "ada@example.com");
    let a = application(&c.customer_id, 0);
    {
        let mut tx = store.begin().await.expect("begin");
        tx.insert_customer(&c).await.expect("insert customer");
        tx.insert_application(&a).await.expect("insert application");
        tx.enqueue_event(draft(
            &c.customer_id,
            Some(a.application_id),
            Topic::UserInfoSubmitted,
        ))
        .await
        .expect("enqueue");
        // dropped here without commit
    }

    assert_eq!(store.customer(&c.customer_id).await.expect("read"), None);
    assert_eq!(
        store.application(a.application_id).await.expect("read"),
        None
    );
    assert!(store.outbox_pending(10).await.expect("outbox").is_empty());
    assert_eq!(store.stats().await.expect("stats"), StoreStats::default());

    // The same rows can be written again, and the sequence starts over at 1.
    let mut tx = store.begin().await.expect("begin after rollback");
    tx.insert_customer(&c)
        .await
        .expect("the e-mail was not kept");
    let env = tx
        .enqueue_event(draft(&c.customer_id, None, Topic::UserInfoSubmitted))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    assert_eq!(env.sequence, 1);
}

pub async fn sequences_are_per_customer_start_at_one_and_have_no_gaps(store: Arc<dyn Store>) {
    let (a, b) = (customer_id("a"), customer_id("b"));
    let mut tx = store.begin().await.expect("begin");
    let mut got = Vec::new();
    for who in [&a, &a, &b] {
        let env = tx
            .enqueue_event(draft(who, None, Topic::UserInfoSubmitted))
            .await
            .expect("enqueue");
        got.push(env.sequence);
    }
    tx.commit().await.expect("commit");
    assert_eq!(got, vec![1, 2, 1]);

    let mut tx = store.begin().await.expect("begin");
    let lost = tx
        .enqueue_event(draft(&a, None, Topic::DocumentsProcessed))
        .await
        .expect("enqueue");
    assert_eq!(lost.sequence, 3);
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    let a3 = tx
        .enqueue_event(draft(&a, None, Topic::DocumentsProcessed))
        .await
        .expect("enqueue");
    let b2 = tx
        .enqueue_event(draft(&b, None, Topic::DocumentsProcessed))
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    assert_eq!(
        (a3.sequence, b2.sequence),
        (3, 2),
        "the rolled-back 3 is handed out again"
    );
}

pub async fn concurrent_transactions_hand_out_distinct_sequences(store: Arc<dyn Store>) {
    let who = customer_id("busy");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let who = who.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("begin");
                let env = tx
                    .enqueue_event(draft(&who, None, Topic::UserInfoSubmitted))
                    .await
                    .expect("enqueue");
                tokio::task::yield_now().await;
                tx.commit().await.expect("commit");
                env.sequence
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("task"));
    }
    got.sort_unstable();
    assert_eq!(got, (1..=8).collect::<Vec<u64>>());
}

pub async fn the_outbox_lists_pending_rows_in_insertion_order_until_marked_sent(
    store: Arc<dyn Store>,
) {
    let (a, b) = (customer_id("a"), customer_id("b"));
    let mut sent = Vec::new();
    for who in [&b, &a, &b] {
        let mut tx = store.begin().await.expect("begin");
        sent.push(
            tx.enqueue_event(draft(who, None, Topic::UserInfoSubmitted))
                .await
                .expect("enqueue"),
        );
        tx.commit().await.expect("commit");
    }

    let pending = store.outbox_pending(10).await.expect("outbox");
    let ids: Vec<EventId> = pending.iter().map(|r| r.envelope.id).collect();
    assert_eq!(ids, sent.iter().map(|e| e.id).collect::<Vec<_>>());
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.outbox_pending(1).await.expect("outbox").len(), 1);

    store
        .outbox_mark_sent(&[pending[0].seq, pending[1].seq])
        .await
        .expect("mark sent");
    store.outbox_mark_sent(&[]).await.expect("nothing to mark");
    let left = store.outbox_pending(10).await.expect("outbox");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].envelope, sent[2]);
}

pub async fn an_idempotent_response_is_read_back_and_refused_a_second_time(store: Arc<dyn Store>) {
    let (a, b) = (customer_id("a"), customer_id("b"));
    let first = IdempotentResponse {
        request_hash: "hash-1".into(),
        status: 201,
        body: r#"{"customerId":"a"}"#.into(),
    };
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.idempotent_response(&a, "k").await.expect("read"), None);
    tx.save_idempotent_response(&a, "k", &first)
        .await
        .expect("save");
    // A look outside the transaction sees only what was committed.
    assert_eq!(
        store
            .idempotent_response(&a, "k")
            .await
            .expect("plain read"),
        None
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .idempotent_response(&a, "k")
            .await
            .expect("plain read"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .idempotent_response(&b, "k")
            .await
            .expect("plain read"),
        None
    );

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.idempotent_response(&a, "k").await.expect("read"),
        Some(first.clone())
    );
    let again = tx.save_idempotent_response(&a, "k", &first).await;
    assert!(
        matches!(again, Err(StoreError::Conflict(_))),
        "got {again:?}"
    );
    drop(tx);

    // Keys belong to one customer: another customer may use the same key.
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.idempotent_response(&b, "k").await.expect("read"), None);
    tx.save_idempotent_response(&b, "k", &first)
        .await
        .expect("save for b");
    tx.commit().await.expect("commit");
}

pub async fn a_taken_email_or_customer_id_is_refused_with_a_conflict_naming_the_rule(
    store: Arc<dyn Store>,
) {
    let (first, _) = seed_customer(&*store, "c-1", "ada@example.com").await;

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.customer_id_by_email(&first.email).await.expect("lookup"),
        Some(first.customer_id.clone())
    );
    let same_email = customer("c-2", "ada@example.com");
    match tx.insert_customer(&same_email).await {
        Err(StoreError::Conflict(rule)) => assert!(rule.contains("email"), "rule: {rule}"),
        other => panic!("expected a conflict on the e-mail, got {other:?}"),
    }
    drop(tx);

    let mut tx = store.begin().await.expect("begin");
    let same_id = customer("c-1", "other@example.com");
    match tx.insert_customer(&same_id).await {
        Err(StoreError::Conflict(rule)) => assert!(!rule.contains("email"), "rule: {rule}"),
        other => panic!("expected a conflict on the id, got {other:?}"),
    }
    drop(tx);

    assert_eq!(store.stats().await.expect("stats").customers, 1);
    assert_eq!(
        store.customer(&first.customer_id).await.expect("read"),
        Some(first)
    );
}

pub async fn application_state_round_trips_through_a_transaction(store: Arc<dyn Store>) {
    let (c, older) = seed_customer(&*store, "c-1", "ada@example.com").await;
    let newer = application(&c.customer_id, 10);
    let document = |seconds: i64, kind: DocumentType| DocumentRecord {
        document_id: DocumentId::new(),
        application_id: older.application_id,
        document_type: kind,
        document_number: "AB123456".into(),
        full_name: "Ada Lovelace".into(),
        expiry_date: NaiveDate::from_ymd_opt(2035, 1, 31).expect("a date"),
        content_kind: ContentKind::Pdf,
        size_bytes: 2048,
        sha256: "ab".repeat(32),
        stored_path: "documents/x.pdf".into(),
        created_at: at(seconds),
    };
    let (passport, bill) = (
        document(1, DocumentType::Passport),
        document(2, DocumentType::UtilityBill),
    );
    let passport_id = passport.document_id;
    let kyc = |seconds: i64, decision: KycDecision| KycRecord {
        application_id: older.application_id,
        document_id: Some(passport_id),
        decision,
        reasons: vec![KycReason {
            code: "age".into(),
            verdict: crate::domain::kyc::Verdict::Pass,
            message: "The customer is an adult.".into(),
        }],
        checked_at: at(seconds),
    };
    let recommendation = |policy: &str, budget: Option<i64>| RecommendationRecord {
        application_id: older.application_id,
        policy_id: policy.into(),
        product_name: format!("Product {policy}"),
        coverage_type: CoverageType::Life,
        monthly_premium_cents: 2500,
        monthly_budget_cents: budget,
        reasons: vec!["Fits the budget.".into()],
        created_at: at(3),
    };

    let mut tx = store.begin().await.expect("begin");
    tx.insert_application(&newer)
        .await
        .expect("insert application");
    tx.insert_document(&bill).await.expect("insert document");
    tx.insert_document(&passport)
        .await
        .expect("insert document");
    tx.insert_kyc_result(&kyc(5, KycDecision::Review))
        .await
        .expect("kyc");
    tx.insert_kyc_result(&kyc(6, KycDecision::Approved))
        .await
        .expect("kyc");
    tx.upsert_recommendation(&recommendation("life-basic", None))
        .await
        .expect("recommend");
    tx.upsert_recommendation(&recommendation("life-plus", Some(3000)))
        .await
        .expect("recommend again");
    tx.update_application(
        older.application_id,
        ApplicationStatus::Completed,
        Some("life-plus"),
        at(7),
    )
    .await
    .expect("update");

    let locked = tx
        .application_for_update(older.application_id)
        .await
        .expect("read")
        .expect("the application exists");
    assert_eq!(locked.status, ApplicationStatus::Completed);
    assert_eq!(locked.policy_id.as_deref(), Some("life-plus"));
    assert_eq!(locked.updated_at, at(7));
    assert_eq!(locked.created_at, older.created_at);
    let ids: Vec<_> = tx
        .applications_of(&c.customer_id)
        .await
        .expect("read")
        .iter()
        .map(|a| a.application_id)
        .collect();
    assert_eq!(
        ids,
        vec![newer.application_id, older.application_id],
        "newest first"
    );
    assert_eq!(
        tx.documents(older.application_id).await.expect("read"),
        vec![passport.clone(), bill.clone()],
        "oldest first"
    );
    assert_eq!(
        tx.recommendation(older.application_id).await.expect("read"),
        Some(recommendation("life-plus", Some(3000)))
    );
    tx.commit().await.expect("commit");

    assert_eq!(
        store.documents(older.application_id).await.expect("read"),
        vec![passport, bill]
    );
    assert_eq!(
        store.kyc_result(older.application_id).await.expect("read"),
        Some(kyc(6, KycDecision::Approved)),
        "the newest result counts"
    );
    assert_eq!(
        store
            .recommendation(older.application_id)
            .await
            .expect("read"),
        Some(recommendation("life-plus", Some(3000)))
    );
    assert_eq!(
        store.application(older.application_id).await.expect("read"),
        Some(locked)
    );
    assert_eq!(
        store.kyc_result(newer.application_id).await.expect("read"),
        None
    );
    assert!(store
        .documents(newer.application_id)
        .await
        .expect("read")
        .is_empty());
}

// ---- consumers ---------------------------------------------------------------------------

pub async fn recording_an_event_twice_stores_it_once_with_one_audit_row_and_one_notification(
    store: Arc<dyn Store>,
) {
    let who = customer_id("c-1");
    let app = ApplicationId::new();
    let event = envelope(
        &who,
        Some(app),
        1,
        Topic::UserInfoSubmitted,
        json!({"status": "USER_INFO_SUBMITTED"}),
    );
    let email = notification_of(&event, NotificationKind::CustomerEmail);
    let alert = notification_of(&event, NotificationKind::OperatorAlert);

    assert_eq!(
        record(&*store, &event, std::slice::from_ref(&email)).await,
        RecordOutcome::Inserted
    );
    assert_eq!(
        record(&*store, &event, &[email.clone(), alert]).await,
        RecordOutcome::Duplicate
    );

    assert_eq!(
        store.events_after(&who, 0, 10).await.expect("events"),
        vec![event.clone()]
    );
    assert_eq!(
        store.audit_trail(&who, 10).await.expect("audit"),
        vec![audit_of(&event)]
    );
    assert_eq!(
        store.notifications_due(at(1000), 10).await.expect("due"),
        vec![email]
    );
    let projection = store
        .application_projection(app)
        .await
        .expect("projection")
        .expect("a projection exists");
    assert_eq!(projection.event_count, 1);
    assert_eq!(store.stats().await.expect("stats").events, 1);
}

/// A consumer batch of `events`, each with its audit row and a customer e-mail.
fn records_with_mail(events: &[&Envelope]) -> Vec<EventRecord> {
    events
        .iter()
        .map(|e| EventRecord {
            event: (*e).clone(),
            audit: audit_of(e),
            notifications: vec![notification_of(e, NotificationKind::CustomerEmail)],
        })
        .collect()
}

pub async fn a_batch_is_recorded_in_one_go_and_skips_events_already_stored(store: Arc<dyn Store>) {
    let who = customer_id("c-1");
    let app = ApplicationId::new();
    let first = envelope(
        &who,
        Some(app),
        1,
        Topic::UserInfoSubmitted,
        json!({"status": "USER_INFO_SUBMITTED"}),
    );
    let second = envelope(
        &who,
        Some(app),
        2,
        Topic::DocumentsProcessed,
        json!({"status": "DOCUMENTS_PROCESSED"}),
    );
    let third = envelope(
        &who,
        Some(app),
        3,
        Topic::KycVerified,
        json!({"status": "KYC_VERIFIED"}),
    );
    record(
        &*store,
        &first,
        &[notification_of(&first, NotificationKind::CustomerEmail)],
    )
    .await;

    // A redelivered batch overlapping what was stored: the first event is skipped whole.
    let batch = records_with_mail(&[&first, &second, &third]);
    assert_eq!(
        store.record_events(&batch).await.expect("record batch"),
        vec![
            RecordOutcome::Duplicate,
            RecordOutcome::Inserted,
            RecordOutcome::Inserted
        ]
    );
    assert_eq!(
        store
            .record_events(&batch)
            .await
            .expect("record batch again"),
        vec![RecordOutcome::Duplicate; 3]
    );
    assert_eq!(
        sequences(&store.events_after(&who, 0, 10).await.expect("events")),
        vec![1, 2, 3]
    );
    assert_eq!(store.audit_trail(&who, 10).await.expect("audit").len(), 3);
    assert_eq!(
        store
            .notifications_due(at(1000), 10)
            .await
            .expect("due")
            .len(),
        3
    );
    let projection = store
        .application_projection(app)
        .await
        .expect("projection")
        .expect("exists");
    assert_eq!(projection.event_count, 3);
    assert_eq!(projection.status, Some(ApplicationStatus::KycVerified));

    // The same event twice in one batch (a record redelivered within one poll) is new once.
    let fourth = envelope(
        &who,
        Some(app),
        4,
        Topic::PolicyRecommended,
        json!({"status": "POLICY_RECOMMENDED"}),
    );
    let twice = records_with_mail(&[&fourth, &fourth]);
    assert_eq!(
        store.record_events(&twice).await.expect("record twice"),
        vec![RecordOutcome::Inserted, RecordOutcome::Duplicate]
    );
    assert_eq!(store.audit_trail(&who, 10).await.expect("audit").len(), 4);
    let projection = store
        .application_projection(app)
        .await
        .expect("projection")
        .expect("exists");
    assert_eq!(projection.event_count, 4);
}

/// A poll batch larger than one statement takes (the SQL stores send a batch's events, audit
/// rows and notifications as multi-row inserts of up to 32 rows): every event is stored once,
/// with its own audit row and notifications and none of its neighbours' values, whichever
/// statement it went in; duplicates within the batch and events stored before are skipped.
pub async fn every_event_of_a_large_batch_keeps_its_own_audit_row_and_notifications(
    store: Arc<dyn Store>,
) {
    let customers: Vec<CustomerId> = (0..3).map(|i| customer_id(&format!("c-{i}"))).collect();
    let events: Vec<Envelope> = (0..47_usize)
        .map(|i| {
            envelope(
                &customers[i % 3],
                (!i.is_multiple_of(4)).then(ApplicationId::new),
                u64::try_from(i / 3 + 1).expect("a small sequence"),
                [Topic::UserInfoSubmitted, Topic::WorkflowErrors][i % 2],
                json!({"n": i}),
            )
        })
        .collect();
    let record_of = |i: usize| {
        let e = &events[i];
        let mut mail = notification_of(e, NotificationKind::CustomerEmail);
        mail.recipient = format!("customer-{i}@example.com");
        mail.subject = format!("Step {i}");
        let mut alert = notification_of(e, NotificationKind::OperatorAlert);
        alert.recipient = format!("ops-{i}@example.com");
        alert.body = format!("Event {i} failed.");
        alert.correlation_id = (!i.is_multiple_of(5)).then(|| format!("corr-{i}"));
        EventRecord {
            event: e.clone(),
            audit: audit_of(e),
            notifications: vec![mail, alert],
        }
    };
    let stored_before = record_of(0);
    assert_eq!(
        store
            .record_events(std::slice::from_ref(&stored_before))
            .await
            .expect("record one"),
        vec![RecordOutcome::Inserted]
    );

    // Every event, the first stored already and the 21st twice.
    let mut batch: Vec<EventRecord> = (0..events.len()).map(record_of).collect();
    batch.insert(30, record_of(20));
    let mut expected = vec![RecordOutcome::Inserted; batch.len()];
    expected[0] = RecordOutcome::Duplicate;
    expected[30] = RecordOutcome::Duplicate;
    assert_eq!(
        store.record_events(&batch).await.expect("record the batch"),
        expected
    );

    for (c, customer) in customers.iter().enumerate() {
        let own: Vec<&Envelope> = events.iter().skip(c).step_by(3).collect();
        assert_eq!(
            store
                .events_after(customer, 0, 100)
                .await
                .expect("events")
                .iter()
                .collect::<Vec<_>>(),
            own,
            "customer {customer} reads exactly its own events, each as it was sent"
        );
        assert_eq!(
            store.audit_trail(customer, 100).await.expect("audit"),
            own.iter().map(|e| audit_of(e)).collect::<Vec<_>>(),
            "customer {customer} has one audit row per event, in the order they were stored"
        );
    }
    let mut queued = store
        .notifications_due(at(10_000), 1_000)
        .await
        .expect("due");
    let mut sent: Vec<Notification> = (0..events.len())
        .flat_map(|i| record_of(i).notifications)
        .collect();
    queued.sort_by(|a, b| a.id.cmp(&b.id));
    sent.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(queued, sent, "every notification once, with its own values");
}

pub async fn customers_never_read_each_others_events(store: Arc<dyn Store>) {
    let (a, b, nobody) = (customer_id("a"), customer_id("b"), customer_id("nobody"));
    let a1 = envelope(&a, None, 1, Topic::UserInfoSubmitted, json!({}));
    let a2 = envelope(&a, None, 2, Topic::DocumentsProcessed, json!({}));
    let b1 = envelope(&b, None, 1, Topic::UserInfoSubmitted, json!({}));
    for e in [&a2, &b1, &a1] {
        record(&*store, e, &[]).await;
    }

    assert_eq!(
        store.events_after(&a, 0, 10).await.expect("events"),
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(
        store.events_after(&a, 1, 10).await.expect("events"),
        vec![a2.clone()]
    );
    assert_eq!(
        store.events_after(&a, 0, 1).await.expect("events"),
        vec![a1.clone()]
    );
    assert_eq!(
        store.events_after(&b, 0, 10).await.expect("events"),
        vec![b1.clone()]
    );
    assert!(store
        .events_after(&nobody, 0, 10)
        .await
        .expect("events")
        .is_empty());

    assert_eq!(
        store.event_of_customer(&a, b1.id).await.expect("read"),
        None
    );
    assert_eq!(
        store.event_of_customer(&b, b1.id).await.expect("read"),
        Some(b1)
    );
    assert_eq!(
        store.event_of_customer(&a, a2.id).await.expect("read"),
        Some(a2)
    );

    assert_eq!(store.last_stored_sequence(&a).await.expect("seq"), 2);
    assert_eq!(store.last_stored_sequence(&b).await.expect("seq"), 1);
    assert_eq!(store.last_stored_sequence(&nobody).await.expect("seq"), 0);
}

pub async fn timelines_follow_sequence_order_and_recent_events_come_newest_first(
    store: Arc<dyn Store>,
) {
    let who = customer_id("c-1");
    let (app, other_app) = (ApplicationId::new(), ApplicationId::new());
    let e1 = envelope(&who, Some(app), 1, Topic::UserInfoSubmitted, json!({}));
    let e2 = envelope(
        &who,
        Some(other_app),
        2,
        Topic::UserInfoSubmitted,
        json!({}),
    );
    let e3 = envelope(&who, Some(app), 3, Topic::DocumentsProcessed, json!({}));
    for e in [&e3, &e1, &e2] {
        record(&*store, e, &[]).await;
    }

    assert_eq!(
        sequences(&store.application_events(app).await.expect("timeline")),
        vec![1, 3]
    );
    assert_eq!(
        sequences(&store.recent_events(2).await.expect("recent")),
        vec![3, 2]
    );
    assert!(store
        .application_events(ApplicationId::new())
        .await
        .expect("timeline")
        .is_empty());
}

pub async fn the_projection_follows_the_newest_event_even_when_events_arrive_out_of_order(
    store: Arc<dyn Store>,
) {
    let who = customer_id("c-1");
    let app = ApplicationId::new();
    let status = |s: ApplicationStatus| json!({"status": s.as_str()});
    let e1 = envelope(
        &who,
        Some(app),
        1,
        Topic::UserInfoSubmitted,
        status(ApplicationStatus::UserInfoSubmitted),
    );
    let e2 = envelope(
        &who,
        Some(app),
        2,
        Topic::DocumentsProcessed,
        status(ApplicationStatus::DocumentsProcessed),
    );
    let e3 = envelope(
        &who,
        Some(app),
        3,
        Topic::WorkflowErrors,
        json!({"step": "perform-kyc"}),
    );
    let e4 = envelope(
        &who,
        Some(app),
        4,
        Topic::KycVerified,
        status(ApplicationStatus::KycVerified),
    );

    record(&*store, &e2, &[]).await;
    record(&*store, &e1, &[]).await;
    let p = store
        .application_projection(app)
        .await
        .expect("read")
        .expect("projected");
    assert_eq!(
        p.status,
        Some(ApplicationStatus::DocumentsProcessed),
        "the late older event does not win"
    );
    assert_eq!(
        (p.last_event_id, p.last_sequence, p.event_count),
        (e2.id, 2, 2)
    );
    assert_eq!(p.last_event_type, Topic::DocumentsProcessed);
    assert_eq!(
        (p.application_id, p.customer_id.clone()),
        (app, who.clone())
    );

    record(&*store, &e3, &[]).await;
    let p = store
        .application_projection(app)
        .await
        .expect("read")
        .expect("projected");
    assert_eq!(
        p.status,
        Some(ApplicationStatus::DocumentsProcessed),
        "an event without status keeps it"
    );
    assert_eq!(
        (p.last_event_type, p.last_sequence, p.event_count),
        (Topic::WorkflowErrors, 3, 3)
    );

    record(&*store, &e4, &[]).await;
    let p = store
        .application_projection(app)
        .await
        .expect("read")
        .expect("projected");
    assert_eq!(p.status, Some(ApplicationStatus::KycVerified));
    assert_eq!((p.last_event_id, p.event_count), (e4.id, 4));

    let without_application = envelope(&who, None, 5, Topic::WorkflowErrors, json!({}));
    record(&*store, &without_application, &[]).await;
    assert_eq!(
        store
            .application_projection(app)
            .await
            .expect("read")
            .expect("projected")
            .event_count,
        4
    );
    assert_eq!(
        store
            .application_projection(ApplicationId::new())
            .await
            .expect("read"),
        None
    );
}

pub async fn a_due_notification_is_claimed_by_one_dispatcher_until_delivered_or_its_lease_ends(
    store: Arc<dyn Store>,
) {
    let who = customer_id("c-1");
    let first = envelope(&who, None, 1, Topic::UserInfoSubmitted, json!({}));
    let second = envelope(&who, None, 2, Topic::WorkflowErrors, json!({}));
    let email = notification_of(&first, NotificationKind::CustomerEmail);
    let alert = notification_of(&second, NotificationKind::OperatorAlert);
    record(&*store, &second, std::slice::from_ref(&alert)).await;
    record(&*store, &first, std::slice::from_ref(&email)).await;

    assert!(
        store
            .notifications_due(at(0), 10)
            .await
            .expect("due")
            .is_empty(),
        "not created yet"
    );
    assert_eq!(
        store.notifications_due(at(2), 1).await.expect("due"),
        vec![email.clone()],
        "oldest first"
    );
    assert_eq!(
        store.notifications_due(at(2), 10).await.expect("due"),
        vec![alert.clone()],
        "a claimed notification is not handed out again"
    );
    assert!(store
        .notifications_due(at(3), 10)
        .await
        .expect("due")
        .is_empty());

    store
        .notification_failed(&email.id, "smtp: connection refused", at(30))
        .await
        .expect("failed");
    assert!(store
        .notifications_due(at(29), 10)
        .await
        .expect("due")
        .is_empty());
    let retried = store.notifications_due(at(30), 10).await.expect("due");
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, email.id);
    assert_eq!(retried[0].attempts, 1);

    // A dispatcher that claimed the alert and died: after the lease another one takes it up.
    let lease = crate::ports::store::NOTIFICATION_LEASE.as_secs() as i64;
    assert_eq!(
        store
            .notifications_due(at(2 + lease), 10)
            .await
            .expect("due"),
        vec![alert.clone()]
    );

    // Both marked in one call, beside an id the store never had (ignored).
    store
        .notifications_delivered(
            &[
                email.id.clone(),
                "no-such-notification".into(),
                alert.id.clone(),
            ],
            at(61),
        )
        .await
        .expect("delivered");
    assert!(store
        .notifications_due(at(10_000), 10)
        .await
        .expect("due")
        .is_empty());
    assert_eq!(store.stats().await.expect("stats").notifications_pending, 0);
}

/// A claim takes what fell due first: a retry waits behind notifications that were due
/// before it, however old it is; the claimed batch is handed out oldest first.
pub async fn notifications_are_claimed_in_the_order_their_attempts_fall_due(store: Arc<dyn Store>) {
    let who = customer_id("c-1");
    let mut emails = Vec::new();
    for sequence in 1..=3 {
        let event = envelope(&who, None, sequence, Topic::UserInfoSubmitted, json!({}));
        let email = notification_of(&event, NotificationKind::CustomerEmail);
        record(&*store, &event, std::slice::from_ref(&email)).await;
        emails.push(email);
    }
    let [oldest, second, third] = [&emails[0], &emails[1], &emails[2]];
    assert!(oldest.created_at < second.created_at && second.created_at < third.created_at);

    let claimed = store
        .notifications_due(third.created_at, 1)
        .await
        .expect("due");
    assert_eq!(claimed, vec![oldest.clone()]);
    let retry_at = third.created_at + Duration::seconds(1);
    store
        .notification_failed(&oldest.id, "smtp: connection refused", retry_at)
        .await
        .expect("failed");

    let later = retry_at + Duration::seconds(10);
    let claim_ids =
        |claimed: Vec<Notification>| -> Vec<String> { claimed.into_iter().map(|n| n.id).collect() };
    assert_eq!(
        claim_ids(store.notifications_due(later, 2).await.expect("due")),
        [second.id.clone(), third.id.clone()],
        "the retry fell due after the other two"
    );
    assert_eq!(
        claim_ids(store.notifications_due(later, 2).await.expect("due")),
        vec![oldest.id.clone()]
    );
}

/// What a notifier labels its messages with (the SNS `event_type` and `application_id`
/// attributes) comes back from the store as it was written, including "no application".
pub async fn a_notification_keeps_its_event_type_and_application(store: Arc<dyn Store>) {
    let who = customer_id("c-1");
    let app = ApplicationId::new();
    let verified = envelope(&who, Some(app), 1, Topic::KycVerified, json!({}));
    let failed = envelope(&who, None, 2, Topic::WorkflowErrors, json!({}));
    let email = notification_of(&verified, NotificationKind::CustomerEmail);
    let alert = notification_of(&failed, NotificationKind::OperatorAlert);
    record(&*store, &verified, std::slice::from_ref(&email)).await;
    record(&*store, &failed, std::slice::from_ref(&alert)).await;

    let labels: Vec<_> = store
        .notifications_due(at(1000), 10)
        .await
        .expect("due")
        .into_iter()
        .map(|n| (n.id, n.event_type, n.application_id))
        .collect();
    assert_eq!(
        labels,
        vec![
            (email.id, Topic::KycVerified, Some(app)),
            (alert.id, Topic::WorkflowErrors, None),
        ]
    );
}

pub async fn a_parked_notification_is_listed_and_redriven_once(store: Arc<dyn Store>) {
    let parked_until = crate::roles::notify::parked_until();
    let who = customer_id("c-1");
    let first = envelope(&who, None, 1, Topic::UserInfoSubmitted, json!({}));
    let second = envelope(&who, None, 2, Topic::WorkflowErrors, json!({}));
    let email = notification_of(&first, NotificationKind::CustomerEmail);
    let alert = notification_of(&second, NotificationKind::OperatorAlert);
    record(&*store, &first, std::slice::from_ref(&email)).await;
    record(&*store, &second, std::slice::from_ref(&alert)).await;
    assert_eq!(
        store.notifications_due(at(5), 10).await.expect("due").len(),
        2
    );
    store
        .notification_failed(
            &email.id,
            "permanent: 550 mailbox unavailable",
            parked_until,
        )
        .await
        .expect("parked");
    store
        .notification_failed(&alert.id, "transient: timeout", at(100))
        .await
        .expect("retried later");

    let parked = store
        .parked_notifications(parked_until, 10)
        .await
        .expect("parked list");
    assert_eq!(parked.len(), 1, "only the permanent failure is parked");
    assert_eq!(parked[0].id, email.id);
    assert_eq!(parked[0].attempts, 1);
    assert_eq!(
        parked[0].last_error.as_deref(),
        Some("permanent: 550 mailbox unavailable")
    );

    assert!(store
        .redrive_notification(&email.id, parked_until, at(50))
        .await
        .expect("redrive"));
    assert!(
        !store
            .redrive_notification(&email.id, parked_until, at(51))
            .await
            .expect("redrive again"),
        "a second redrive finds nothing parked"
    );
    assert!(!store
        .redrive_notification(&alert.id, parked_until, at(51))
        .await
        .expect("redrive a waiting one"));
    assert!(store
        .parked_notifications(parked_until, 10)
        .await
        .expect("parked list")
        .is_empty());
    let due = store.notifications_due(at(50), 10).await.expect("due");
    assert_eq!(
        due.len(),
        1,
        "the redriven one is due at once, the other still waits"
    );
    assert_eq!(due[0].id, email.id);
}

// ---- connection registry -----------------------------------------------------------------

pub async fn the_registry_hides_expired_connections_and_sweeps_them(store: Arc<dyn Store>) {
    let who = customer_id("c-1");
    let long = connection(&who, 0, 100);
    let short = connection(&who, 1, 10);
    store.register_connection(&long).await.expect("register");
    store.register_connection(&short).await.expect("register");

    assert_eq!(
        store
            .connection(short.connection_id, at(9))
            .await
            .expect("read"),
        Some(short.clone())
    );
    assert_eq!(
        store
            .connection(short.connection_id, at(10))
            .await
            .expect("read"),
        None,
        "dead at expiry"
    );
    assert_eq!(
        store
            .connection(long.connection_id, at(50))
            .await
            .expect("read"),
        Some(long.clone())
    );
    assert_eq!(
        store.all_connections(at(5), 10).await.expect("all"),
        vec![long.clone(), short.clone()]
    );
    assert_eq!(
        store.all_connections(at(5), 1).await.expect("all"),
        vec![long.clone()]
    );
    assert_eq!(
        store.all_connections(at(50), 10).await.expect("all"),
        vec![long.clone()]
    );

    assert_eq!(store.sweep_connections(at(50)).await.expect("sweep"), 1);
    assert_eq!(store.sweep_connections(at(50)).await.expect("sweep"), 0);
    assert!(
        !store
            .remove_connection(short.connection_id)
            .await
            .expect("remove"),
        "already swept"
    );
    assert_eq!(
        store
            .connection(long.connection_id, at(50))
            .await
            .expect("read"),
        Some(long)
    );
}

pub async fn touching_a_connection_extends_its_life_and_removing_it_deletes_it(
    store: Arc<dyn Store>,
) {
    let who = customer_id("c-1");
    let c = connection(&who, 0, 10);
    store.register_connection(&c).await.expect("register");

    assert!(store
        .touch_connection(c.connection_id, at(5), at(100))
        .await
        .expect("touch"));
    let seen = store
        .connection(c.connection_id, at(50))
        .await
        .expect("read")
        .expect("alive after the heartbeat");
    assert_eq!(
        (seen.last_seen_at, seen.expires_at, seen.connected_at),
        (at(5), at(100), at(0))
    );

    assert!(store
        .remove_connection(c.connection_id)
        .await
        .expect("remove"));
    assert!(!store
        .remove_connection(c.connection_id)
        .await
        .expect("remove"));
    assert!(!store
        .touch_connection(c.connection_id, at(6), at(200))
        .await
        .expect("touch"));
    assert_eq!(
        store
            .connection(c.connection_id, at(7))
            .await
            .expect("read"),
        None
    );
}

/// A mass disconnect: more ids than one DynamoDB batch (25), an unknown id, and another
/// customer's rows that must stay.
pub async fn removing_connections_in_batches_deletes_exactly_those_rows(store: Arc<dyn Store>) {
    let leaving = customer_id("c-leaving");
    let staying = customer_id("c-staying");
    let mut gone = Vec::new();
    for _ in 0..30 {
        let c = connection(&leaving, 0, 100);
        store.register_connection(&c).await.expect("register");
        gone.push(c.connection_id);
    }
    let kept = connection(&staying, 0, 100);
    store.register_connection(&kept).await.expect("register");

    store
        .remove_connections(&[])
        .await
        .expect("nothing to remove");
    gone.push(ConnectionId::new());
    store
        .remove_connections(&gone)
        .await
        .expect("remove in batches");

    assert_eq!(
        store.connections_of(&leaving, at(1)).await.expect("read"),
        Vec::new()
    );
    let left: Vec<_> = store
        .all_connections(at(1), 100)
        .await
        .expect("read")
        .into_iter()
        .map(|c| c.connection_id)
        .collect();
    assert_eq!(left, vec![kept.connection_id]);
}

pub async fn connections_of_returns_only_that_customers_live_connections(store: Arc<dyn Store>) {
    let (a, b) = (customer_id("a"), customer_id("b"));
    let a_live = connection(&a, 0, 100);
    let a_dead = connection(&a, 0, 20);
    let b_live = connection(&b, 0, 100);
    for c in [&a_live, &a_dead, &b_live] {
        store.register_connection(c).await.expect("register");
    }

    assert_eq!(
        store.connections_of(&a, at(20)).await.expect("read"),
        vec![a_live]
    );
    assert_eq!(
        store.connections_of(&b, at(20)).await.expect("read"),
        vec![b_live]
    );
    assert!(store
        .connections_of(&customer_id("c"), at(20))
        .await
        .expect("read")
        .is_empty());
}

/// An id asked twice is read once (DynamoDB refuses a batch with a key twice).
pub async fn customers_are_read_together_and_unknown_ids_are_left_out(store: Arc<dyn Store>) {
    let (ada, _) = seed_customer(&*store, "c-1", "ada@example.com").await;
    seed_customer(&*store, "c-2", "bob@example.com").await;
    let (cyd, _) = seed_customer(&*store, "c-3", "cyd@example.com").await;

    let found = store
        .customers(&[
            cyd.customer_id.clone(),
            customer_id("nobody"),
            ada.customer_id.clone(),
            cyd.customer_id.clone(),
        ])
        .await
        .expect("read");
    assert_eq!(found.len(), 2, "the asked customers that exist, no more");
    assert_eq!(found[&ada.customer_id], ada);
    assert_eq!(found[&cyd.customer_id], cyd);
    assert!(store.customers(&[]).await.expect("read nobody").is_empty());
}

pub async fn connections_of_each_returns_every_asked_customers_live_connections(
    store: Arc<dyn Store>,
) {
    let (a, b, c) = (customer_id("a"), customer_id("b"), customer_id("c"));
    let a_first = connection(&a, 0, 100);
    let a_second = connection(&a, 5, 100);
    let a_dead = connection(&a, 0, 20);
    let b_live = connection(&b, 0, 100);
    let c_live = connection(&c, 0, 100);
    for record in [&a_second, &a_dead, &b_live, &a_first, &c_live] {
        store.register_connection(record).await.expect("register");
    }

    let each = store
        .connections_of_each(&[a.clone(), b.clone(), customer_id("nobody")], at(20))
        .await
        .expect("read");
    assert_eq!(each.len(), 2, "only asked customers with live connections");
    assert_eq!(
        each[&a],
        vec![a_first, a_second],
        "oldest first, none expired"
    );
    assert_eq!(each[&b], vec![b_live]);
    assert!(store
        .connections_of_each(&[], at(20))
        .await
        .expect("read nobody")
        .is_empty());
}

pub async fn stats_count_what_the_store_holds(store: Arc<dyn Store>) {
    let (ada, _) = seed_customer(&*store, "c-1", "ada@example.com").await;
    seed_customer(&*store, "c-2", "bob@example.com").await;
    let mut tx = store.begin().await.expect("begin");
    for _ in 0..3 {
        tx.enqueue_event(draft(&ada.customer_id, None, Topic::UserInfoSubmitted))
            .await
            .expect("enqueue");
    }
    tx.commit().await.expect("commit");
    let first = store.outbox_pending(1).await.expect("outbox");
    store
        .outbox_mark_sent(&[first[0].seq])
        .await
        .expect("mark sent");

    let event = envelope(
        &ada.customer_id,
        None,
        1,
        Topic::UserInfoSubmitted,
        json!({}),
    );
    record(
        &*store,
        &event,
        &[notification_of(&event, NotificationKind::CustomerEmail)],
    )
    .await;

    // Stats count connections alive at the real clock: one far in the future, one long gone.
    let live = connection(&ada.customer_id, 0, 0);
    store
        .register_connection(&ConnectionRecord {
            expires_at: Utc::now() + Duration::hours(1),
            ..live
        })
        .await
        .expect("register");
    let dead = connection(&ada.customer_id, 0, 0);
    store
        .register_connection(&ConnectionRecord {
            expires_at: Utc::now() - Duration::hours(1),
            ..dead
        })
        .await
        .expect("register");

    assert_eq!(
        store.stats().await.expect("stats"),
        StoreStats {
            customers: 2,
            applications: 2,
            events: 1,
            outbox_pending: 2,
            notifications_pending: 1,
            connections: 1,
        }
    );
}

pub async fn purges_delete_sent_outbox_rows_old_idempotency_keys_and_expired_connections(
    store: Arc<dyn Store>,
) {
    let purged_here = store.expiry() == Expiry::Purged;
    let who = customer_id("c-1");
    let mut sent = Vec::new();
    for _ in 0..3 {
        let mut tx = store.begin().await.expect("begin");
        sent.push(
            tx.enqueue_event(draft(&who, None, Topic::UserInfoSubmitted))
                .await
                .expect("enqueue"),
        );
        tx.save_idempotent_response(
            &who,
            &format!("k-{}", sent.len()),
            &IdempotentResponse {
                request_hash: "h".into(),
                status: 201,
                body: "{}".into(),
            },
        )
        .await
        .expect("save");
        tx.commit().await.expect("commit");
    }
    let pending = store.outbox_pending(10).await.expect("outbox");
    store
        .outbox_mark_sent(&[pending[0].seq, pending[1].seq])
        .await
        .expect("mark sent");

    // Nothing is old enough an hour ago.
    let now = Utc::now();
    let an_hour_ago = now - Duration::hours(1);
    assert_eq!(
        store
            .purge_sent_outbox(an_hour_ago, 10)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        store
            .purge_idempotency_keys(an_hour_ago, 10)
            .await
            .expect("purge"),
        0
    );

    // One batch at a time, and only sent rows.
    let later = now + Duration::minutes(1);
    let batches: Vec<u64> = {
        let mut batches = Vec::new();
        loop {
            let n = store.purge_sent_outbox(later, 1).await.expect("purge");
            if n == 0 {
                break batches;
            }
            batches.push(n);
        }
    };
    assert_eq!(batches, if purged_here { vec![1, 1] } else { vec![] });
    let left = store.outbox_pending(10).await.expect("outbox");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].envelope, sent[2]);

    let purged_keys = store.purge_idempotency_keys(later, 2).await.expect("purge")
        + store.purge_idempotency_keys(later, 2).await.expect("purge");
    let mut tx = store.begin().await.expect("begin");
    let replay = tx.idempotent_response(&who, "k-1").await.expect("read");
    if purged_here {
        assert_eq!(purged_keys, 3);
        assert_eq!(replay, None, "a purged key is a new request");
    } else {
        assert_eq!(purged_keys, 0);
        assert!(replay.is_some(), "the TTL, not the purge, expires keys");
    }
    drop(tx);

    let long = connection(&who, 0, 100);
    let short = connection(&who, 1, 10);
    store.register_connection(&long).await.expect("register");
    store.register_connection(&short).await.expect("register");
    assert_eq!(
        store
            .purge_expired_connections(at(50), 10)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        store
            .connection(short.connection_id, at(5))
            .await
            .expect("read"),
        None,
        "the expired row is gone, not just hidden"
    );
    assert_eq!(
        store
            .connection(long.connection_id, at(50))
            .await
            .expect("read"),
        Some(long)
    );
}
// ---- operations log ----------------------------------------------------------------------

fn replay(
    record_id: &str,
    by: &str,
    forced: bool,
    at_s: i64,
) -> crate::ports::operations::DeadLetterReplay {
    crate::ports::operations::DeadLetterReplay {
        record_id: record_id.into(),
        origin_topic: "user-info-submitted".into(),
        event_id: Some("not-an-event".into()),
        replayed_to: "user-info-submitted:1:7".into(),
        replayed_by: by.into(),
        reason: "fixed the consumer".into(),
        forced,
        replayed_at: at(at_s),
    }
}

pub async fn a_dead_letter_replay_is_audited_and_listed_for_its_record_only(store: Arc<dyn Store>) {
    let record = "user-info-submitted.dlq:1:0";
    assert!(store
        .dead_letter_replays(record)
        .await
        .expect("replays")
        .is_empty());
    let first = replay(record, "alice", false, 10);
    let again = replay(record, "bob", true, 20);
    store
        .record_dead_letter_replay(&first)
        .await
        .expect("audit the replay");
    store
        .record_dead_letter_replay(&replay("kyc-verified.dlq:0:3", "carol", false, 15))
        .await
        .expect("audit another record's replay");
    store
        .record_dead_letter_replay(&again)
        .await
        .expect("audit a forced replay");
    assert_eq!(
        store.dead_letter_replays(record).await.expect("replays"),
        vec![first, again],
        "both replays of the record, oldest first, and nothing of the other record"
    );
}

pub async fn a_stall_is_found_by_status_and_age_and_alerted_once(store: Arc<dyn Store>) {
    use crate::ports::operations::Stall;
    let (_, waiting) = seed_customer(&*store, "c-1", "ada@example.com").await;
    let (_, moved) = seed_customer(&*store, "c-2", "bob@example.com").await;
    let mut tx = store.begin().await.expect("begin");
    tx.application_for_update(moved.application_id)
        .await
        .expect("read")
        .expect("exists");
    tx.update_application(
        moved.application_id,
        ApplicationStatus::UserInfoSubmitted,
        None,
        at(100),
    )
    .await
    .expect("update");
    tx.commit().await.expect("commit");

    let ids = |apps: Vec<ApplicationRecord>| -> Vec<ApplicationId> {
        apps.into_iter().map(|a| a.application_id).collect()
    };
    let started = store
        .applications_stalled_in(ApplicationStatus::Started, at(50), 10)
        .await
        .expect("stalled");
    assert_eq!(ids(started), vec![waiting.application_id]);
    assert!(
        store
            .applications_stalled_in(ApplicationStatus::UserInfoSubmitted, at(100), 10)
            .await
            .expect("stalled")
            .is_empty(),
        "changed at the cut-off: not stalled yet"
    );
    let submitted = store
        .applications_stalled_in(ApplicationStatus::UserInfoSubmitted, at(101), 10)
        .await
        .expect("stalled");
    assert_eq!(ids(submitted), vec![moved.application_id]);

    let stall = Stall {
        application_id: waiting.application_id,
        status: ApplicationStatus::Started,
        since: at(0),
    };
    let alert = |id: &str, created: i64| Notification {
        id: id.into(),
        event_id: EventId::new(),
        kind: NotificationKind::OperatorAlert,
        event_type: Topic::WorkflowErrors,
        application_id: Some(waiting.application_id),
        correlation_id: None,
        recipient: "ops@example.com".into(),
        subject: "[onboard] stalled".into(),
        body: "stalled\n".into(),
        created_at: at(created),
        attempts: 0,
    };
    assert!(store
        .claim_stall_alert(&stall, &alert("stall-1", 60), at(60))
        .await
        .expect("first claim"));
    assert!(
        !store
            .claim_stall_alert(&stall, &alert("stall-1", 61), at(61))
            .await
            .expect("second claim"),
        "the same stall is alerted once"
    );
    let later = Stall {
        since: at(200),
        ..stall.clone()
    };
    assert!(store
        .claim_stall_alert(&later, &alert("stall-2", 300), at(300))
        .await
        .expect("a new stall"));
    let due: Vec<String> = store
        .notifications_due(at(400), 10)
        .await
        .expect("due")
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(due, vec!["stall-1".to_string(), "stall-2".to_string()]);
}
