//! The bus behaviour suite against a real Apache Kafka broker (started by scripts/test.sh through
//! scripts/kafka.sh): the Kafka adapter keeps the very contract the embedded bus keeps.

mod kafka_support;

use async_trait::async_trait;
use onboard::adapters::kafka::KafkaBus;
use onboard::ports::bus::EventBus;
use onboard::testing::bus_suite::BusHarness;
use std::sync::Arc;

/// Every case works on its own topics and groups (the suite names them uniquely), so cases run
/// in parallel on one shared broker; `connect` is a new client, like a restarted process.
struct KafkaHarness {
    brokers: String,
}

#[async_trait]
impl BusHarness for KafkaHarness {
    async fn connect(&self) -> Arc<dyn EventBus> {
        KafkaBus::connect(kafka_support::plaintext(&self.brokers))
            .await
            .expect("connect to the test Kafka")
    }
}

onboard::bus_suite!(KafkaHarness {
    brokers: kafka_or_skip!()
});
