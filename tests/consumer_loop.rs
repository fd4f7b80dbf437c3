//! What a consumer member does between two polls: store and push what came, nothing else. An
//! empty poll opens no transaction, and the group's lag is read beside the members, so a bus
//! whose group offsets take long to read (Kafka's admin round trips) holds back no event and
//! no shutdown.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use onboard::app::{Components, Settings};
use onboard::auth::SecretSource;
use onboard::domain::ids::CustomerId;
use onboard::ports::bus::{
    BusError, ConsumedRecord, Delivered, EventBus, OutgoingRecord, PartitionLag, RetentionOutcome,
    SubscribeOptions, Subscription, TopicInfo, TopicSpec,
};
use onboard::roles::api;
use onboard::roles::supervisor::Readiness;
use onboard::testing::pushes::{connection_elsewhere, RecordingPusher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const SECRET: &str = "consumer-lag-test-secret-that-is-long-enough-for-hs256";

/// The embedded bus, except that reading a group's offsets never finishes.
struct OffsetsNeverAnswer {
    inner: Arc<dyn EventBus>,
    lag_reads: AtomicUsize,
}

#[async_trait]
impl EventBus for OffsetsNeverAnswer {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn create_topics(&self, specs: &[TopicSpec]) -> Result<(), BusError> {
        self.inner.create_topics(specs).await
    }
    async fn enforce_retention(&self) -> Result<Vec<RetentionOutcome>, BusError> {
        self.inner.enforce_retention().await
    }
    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Delivered>, BusError> {
        self.inner.publish(records).await
    }
    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.subscribe(options).await
    }
    async fn describe_group(
        &self,
        _group: &str,
        _topics: &[String],
    ) -> Result<Vec<PartitionLag>, BusError> {
        self.lag_reads.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
    async fn list_topics(&self) -> Result<Vec<String>, BusError> {
        self.inner.list_topics().await
    }
    async fn describe_topics(&self, topics: &[String]) -> Result<Vec<TopicInfo>, BusError> {
        self.inner.describe_topics(topics).await
    }
    async fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<ConsumedRecord>, BusError> {
        self.inner.read_partition(topic, partition, from, max).await
    }
}

async fn register_connection(components: &Components, customer: &CustomerId) {
    components
        .store
        .register_connection(&connection_elsewhere(customer))
        .await
        .unwrap();
}

/// A customer's first step through the API router, then published by the relay.
async fn submit_user_info(components: &Components, customer: &CustomerId) {
    let request = Request::post("/v1/customers")
        .header(
            "authorization",
            format!("Bearer {}", components.auth.issue(customer, 3600)),
        )
        .header("idempotency-key", format!("submit-{customer}"))
        .header("content-type", "application/json")
        .body(Body::from(
            serde_json::json!({
                "email": format!("{customer}@example.com"),
                "firstName": "John",
                "lastName": "Doe",
                "dateOfBirth": "1990-01-01",
                "phoneNumber": "+1234567890",
            })
            .to_string(),
        ))
        .unwrap();
    let response = api::router(components.api_state())
        .oneshot(request)
        .await
        .expect("the router answers");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(components.relay().publish_pending().await.unwrap(), 1);
}

async fn wait_for_push(pusher: &RecordingPusher, customer: &CustomerId) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while pusher.pushed_to(customer) == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{customer}'s event was not pushed within 10 s"
    );
}

/// The SQLite group commits of this process so far (`/metrics`; absent until the first).
fn group_commits() -> f64 {
    onboard::telemetry::render()
        .lines()
        .find_map(|line| line.strip_prefix("onboard_store_group_commits_total "))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

#[tokio::test]
async fn idle_members_write_nothing_and_a_slow_lag_read_holds_back_no_event() {
    onboard::telemetry::install();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(([127, 0, 0, 1], 0).into(), dir.path().to_path_buf());
    settings.secret = SecretSource {
        inline: Some(SECRET.into()),
        file: None,
    };
    let mut components = Components::build(&settings)
        .await
        .expect("components build");
    let bus = Arc::new(OffsetsNeverAnswer {
        inner: components.bus.clone(),
        lag_reads: AtomicUsize::new(0),
    });
    components.bus = bus.clone();
    let pusher = Arc::new(RecordingPusher::default());
    components.pusher = pusher.clone();

    let shutdown = CancellationToken::new();
    let consumers = tokio::spawn(
        components
            .consumer(None)
            .run(Readiness::default(), shutdown.clone()),
    );

    // Idle: every member polls (each poll waits 500 ms at most) and finds nothing to write.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = group_commits();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        group_commits(),
        before,
        "write transactions while no event came"
    );

    // One customer after another, each after the members' first polls: a member that read the
    // lag itself would be stuck in that read by now and push nothing more.
    for n in 0..3 {
        let customer = CustomerId::parse(&format!("lag-customer-{n}")).unwrap();
        register_connection(&components, &customer).await;
        submit_user_info(&components, &customer).await;
        wait_for_push(&pusher, &customer).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(
        bus.lag_reads.load(Ordering::SeqCst) >= 1,
        "the lag was read (and is still being read)"
    );

    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), consumers).await;
    let result = stopped.expect("the consumers stopped within 10 s despite the pending read");
    result.expect("no panic").expect("a clean stop");
}
