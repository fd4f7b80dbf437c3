//! Shared by the tests against a real Kafka (tests/bus_kafka.rs, tests/kafka_*.rs): where the
//! broker is, and the rule that a missing broker fails the run when `ONBOARD_REQUIRE_KAFKA=1`
//! (scripts/test.sh sets it and starts Kafka), and is skipped loudly otherwise.
#![allow(dead_code)]

use onboard::adapters::kafka::{KafkaBus, KafkaSettings, Secret, SecurityProtocol};
use std::path::PathBuf;
use std::sync::Arc;

/// The PLAINTEXT brokers from `KAFKA_BROKERS`, or `None` (after a loud message) when Kafka is
/// optional and not configured.
pub fn brokers() -> Option<String> {
    let brokers = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.trim().is_empty());
    if brokers.is_none() {
        if std::env::var("ONBOARD_REQUIRE_KAFKA").is_ok_and(|v| v == "1") {
            panic!(
                "KAFKA_BROKERS is unset but ONBOARD_REQUIRE_KAFKA=1: start a broker with \
                 `scripts/kafka.sh start` and `eval \"$(scripts/kafka.sh env)\"`"
            );
        }
        say_skipped(
            "KAFKA_BROKERS is unset, so this Kafka test did not run. Run scripts/test.sh (it \
             starts Kafka), or `scripts/kafka.sh start` and `eval \"$(scripts/kafka.sh env)\"`",
        );
    }
    brokers
}

/// Says on the real stderr that the current test is skipped and why: the test harness captures
/// `eprintln!` of a passing test, which would hide that it did not run.
pub fn say_skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {}: {why}. ***\n",
        std::thread::current().name().unwrap_or("a Kafka test")
    );
}

/// Plain settings for the test broker; replication factor 1 unless the environment says more.
pub fn plaintext(brokers: &str) -> KafkaSettings {
    let mut settings = KafkaSettings::plaintext(brokers);
    settings.replication_factor = 1;
    settings
}

/// Returns from the enclosing test when Kafka is optional and absent.
#[macro_export]
macro_rules! kafka_or_skip {
    () => {
        match kafka_support::brokers() {
            Some(brokers) => brokers,
            None => return,
        }
    };
}

pub async fn connect(brokers: &str) -> Arc<KafkaBus> {
    KafkaBus::connect(plaintext(brokers))
        .await
        .expect("connect to the test Kafka")
}

/// The run directory of scripts/kafka.sh (TLS material, SCRAM password, node pids).
pub fn run_dir() -> PathBuf {
    std::env::var("ONBOARD_KAFKA_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/tmp/onboard-kafka"))
}

/// The SASL_SSL listeners of the cluster of scripts/kafka.sh (which writes them on `start`).
pub fn sasl_brokers() -> String {
    std::fs::read_to_string(run_dir().join("sasl/brokers"))
        .expect("the SASL_SSL listeners of scripts/kafka.sh (run it with start)")
        .trim()
        .to_string()
}

/// SCRAM-SHA-512 over TLS to the SASL_SSL listeners, as `scripts/kafka.sh env --sasl` says.
pub fn scram_settings(password: &str) -> KafkaSettings {
    let dir = run_dir();
    let username = std::fs::read_to_string(dir.join("sasl/username"))
        .expect("the SCRAM user of scripts/kafka.sh")
        .trim()
        .to_string();
    let mut settings = plaintext(&sasl_brokers());
    settings.security_protocol = SecurityProtocol::SaslSsl;
    settings.sasl_mechanism = "SCRAM-SHA-512".into();
    settings.username = Some(username);
    settings.password = Some(Secret::new(password));
    settings.ca_file = Some(dir.join("tls/ca.pem"));
    settings
}

pub fn scram_password() -> String {
    std::fs::read_to_string(run_dir().join("sasl/password"))
        .expect("the SCRAM password of scripts/kafka.sh")
        .trim()
        .to_string()
}

/// A name no other test (or earlier run on the same broker) uses.
pub fn unique(base: &str) -> String {
    format!(
        "{base}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
