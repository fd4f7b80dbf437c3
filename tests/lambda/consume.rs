//! The `consume` function's failures, as Lambda sees them: a poison record goes to its topic's
//! dead-letter topic and the batch succeeds (no retry loop on it); a store outage fails the
//! invocation, so Lambda retries the batch, and the retry stores the event once.

use super::harness::{msk_event, Deployment, STEP_7_1_PAYLOAD};
use bytes::Bytes;
use onboard::ports::bus::ConsumedRecord;
use serde_json::Value;

const TOPIC: &str = "user-info-submitted";

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_record_is_dead_lettered_and_the_batch_succeeds() {
    let Some(deployment) = Deployment::new().await else {
        return;
    };
    let consume = deployment
        .function("consume", &[("KAFKA_TOPIC", TOPIC)])
        .await;
    let key = format!("poisoned-{}", uuid::Uuid::new_v4().simple());
    let poison = ConsumedRecord {
        topic: format!("{}{TOPIC}", deployment.prefix),
        partition: 0,
        offset: 41,
        key: Some(key.clone()),
        headers: vec![("event-id".into(), "not-an-event".into())],
        value: Bytes::from_static(b"{this is not an envelope"),
        timestamp_ms: 1_764_676_800_000,
    };

    let answer = consume.invoke(&msk_event(&poison)).await;
    assert_eq!(answer["deadLettered"], 1, "{answer}\n{}", consume.log());
    assert_eq!(answer["stored"], 0, "{answer}");

    let dead = deployment.record_keyed(&format!("{TOPIC}.dlq"), &key).await;
    assert_eq!(dead.value, poison.value);
    assert_eq!(dead.header("dlq-origin-topic"), Some(poison.topic.as_str()));
    assert_eq!(dead.header("dlq-origin-offset"), Some("41"));
    assert!(
        dead.header("dlq-reason")
            .is_some_and(|r| r.contains("not an event envelope")),
        "{:?}",
        dead.header("dlq-reason")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_outage_fails_the_invocation_and_the_retried_batch_is_stored_once() {
    let Some(deployment) = Deployment::new().await else {
        return;
    };
    let submit = deployment.function("submit-user-info", &[]).await;
    let answer = submit
        .invoke(&serde_json::from_str(STEP_7_1_PAYLOAD).unwrap())
        .await;
    assert_eq!(answer["statusCode"], 201, "{answer}\n{}", submit.log());
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let customer = body["customerId"].as_str().unwrap().to_owned();
    let record = deployment.record_keyed(TOPIC, &customer).await;
    let event = msk_event(&record);

    // DynamoDB unreachable (an endpoint nobody listens on): the invocation fails, which is
    // what makes Lambda deliver the batch again.
    let closed = onboard::testing::ports::free_port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let cut_off = deployment
        .function(
            "consume",
            &[("KAFKA_TOPIC", TOPIC), ("AWS_ENDPOINT_URL", &unreachable)],
        )
        .await;
    let answer = cut_off.invoke(&event).await;
    assert!(
        answer["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("could not be processed yet")),
        "the invocation must fail: {answer}\n{}",
        cut_off.log()
    );
    let store = deployment.store().await;
    let who = onboard::domain::ids::CustomerId::parse(&customer).unwrap();
    assert!(
        store.events_after(&who, 0, 10).await.unwrap().is_empty(),
        "nothing stored during the outage"
    );

    // Lambda's retry, with the store back: stored once; a further retry finds it stored.
    let consume = deployment
        .function("consume", &[("KAFKA_TOPIC", TOPIC)])
        .await;
    let answer = consume.invoke(&event).await;
    assert_eq!(answer["stored"], 1, "{answer}\n{}", consume.log());
    let answer = consume.invoke(&event).await;
    assert_eq!(answer["duplicates"], 1, "{answer}");
    assert_eq!(store.events_after(&who, 0, 10).await.unwrap().len(), 1);
}
