//! `onboard doctor` as an on-call engineer runs it: beside a healthy running system (with a
//! WebSocket open, so a gateway node is checked too) it exits 0 with every check passing; with a
//! Kafka broker address nobody listens on it exits non-zero within 30 s and names that broker.

mod kafka_support;
#[path = "oidc/provider.rs"]
#[allow(dead_code)]
mod provider;
#[path = "e2e/support.rs"]
#[allow(dead_code)]
mod support;

use serde_json::Value;
use sqlx::Connection;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The longest the issue allows `doctor` to take, even with a broker down.
const PROMISED: Duration = Duration::from_secs(30);

/// The binary with only the settings the test gives it; `--json` always, so checks are read by name.
fn doctor(data_dir: &Path, env: &[(&str, &str)]) -> (Output, Value, Duration) {
    let mut command = doctor_command(data_dir, env);
    support::store_env(&mut command, data_dir);
    run(command)
}

/// `onboard doctor --json` on `data_dir` with only `env` besides.
fn doctor_command(data_dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command)
        .args(["doctor", "--json", "--data-dir"])
        .arg(data_dir)
        .env("ONBOARD_LOG", "off")
        .envs(env.iter().copied());
    command
}

/// Runs the doctor: its output, its report and how long it took.
fn run(mut command: Command) -> (Output, Value, Duration) {
    let started = Instant::now();
    let output = command.output().expect("the onboard binary runs");
    let took = started.elapsed();
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("doctor --json prints one JSON object ({e}): {output:?}"));
    (output, report, took)
}

/// The verdict of the check named `name`.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("a list of checks")
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_embedded_system_passes_every_check_and_its_gateway_is_reached() {
    let app = support::spawn_app().await;
    let customer = app.customer("doctor-patient");
    let _tab = customer.tab().await;

    let (output, report, _) = doctor(&app.data_dir, &[("ONBOARD_JWT_SECRET", support::SECRET)]);

    assert!(
        output.status.success(),
        "{report:#}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["healthy"], true, "{report:#}");
    for name in [
        "config",
        "bus.log",
        "bus.topics",
        "store.schema",
        "gateways",
        "auth",
    ] {
        assert_eq!(check(&report, name)["status"], "ok", "{name}: {report:#}");
    }
    assert!(
        check(&report, "bus.topics")["detail"]
            .as_str()
            .unwrap()
            .contains("all 12 topics"),
        "{report:#}"
    );
    assert!(
        check(&report, "gateways")["detail"]
            .as_str()
            .unwrap()
            .starts_with("1 gateway node"),
        "the node holding the open socket is reached: {report:#}"
    );
    // Nothing a healthy check says needs a remedy.
    for c in report["checks"].as_array().unwrap() {
        if c["status"] == "ok" {
            assert!(c.get("remedy").is_none(), "{c}");
        }
    }
}

#[test]
fn a_broker_nobody_listens_on_fails_the_doctor_in_time_and_is_named() {
    let closed = closed_port();
    let broker = format!("127.0.0.1:{closed}");
    let dir = tempfile::tempdir().unwrap();

    let (output, report, took) = doctor(
        dir.path(),
        &[("KAFKA_BROKERS", &broker), ("ONBOARD_BUS", "kafka")],
    );

    assert!(!output.status.success(), "{report:#}");
    assert!(took < PROMISED, "took {took:?}");
    assert_eq!(report["healthy"], false);
    let brokers = check(&report, "bus.brokers");
    assert_eq!(brokers["status"], "fail", "{report:#}");
    assert!(
        brokers["detail"].as_str().unwrap().contains(&broker),
        "{brokers}"
    );
    assert!(
        brokers["remedy"]
            .as_str()
            .unwrap()
            .contains("KAFKA_BROKERS"),
        "{brokers}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unhealthy") && stderr.contains("bus.brokers"),
        "{stderr}"
    );
}

#[test]
fn with_one_broker_of_the_list_down_the_doctor_names_only_that_one() {
    let brokers = kafka_or_skip!();
    let good = brokers.split(',').next().unwrap().trim().to_owned();
    let bad = format!("127.0.0.1:{}", closed_port());
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}.", kafka_support::unique("doctor"));

    let (output, report, took) = doctor(
        dir.path(),
        &[
            ("KAFKA_BROKERS", &format!("{good},{bad}")),
            ("ONBOARD_BUS", "kafka"),
            ("ONBOARD_TOPIC_PREFIX", &prefix),
        ],
    );

    assert!(!output.status.success(), "{report:#}");
    assert!(took < PROMISED, "took {took:?}");
    let detail = check(&report, "bus.brokers")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains(&bad) && !detail.contains(&good), "{detail}");
    // The reachable broker still answers for the cluster; this prefix has no topics.
    assert_eq!(check(&report, "bus.cluster")["status"], "ok", "{report:#}");
    let topics = check(&report, "bus.topics");
    assert_eq!(topics["status"], "fail", "{report:#}");
    assert!(
        topics["remedy"]
            .as_str()
            .unwrap()
            .contains("onboard topics create"),
        "{topics}"
    );
}

/// A local port nobody listens on: bound by the system, then released.
/// With an OpenID Connect issuer configured, doctor fetches its keys: a real provider (moto's
/// Cognito user pool) passes `auth.oidc`; an issuer nobody answers for fails it, named, in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_checks_the_openid_provider_keys() {
    let Some(endpoint) = onboard::testing::aws::endpoint_from_env("doctor oidc") else {
        return;
    };
    let pool = provider::Pool::create(&endpoint).await;
    let oidc = pool.oidc_settings();
    let dir = tempfile::tempdir().unwrap();
    let jwks = oidc.jwks_url.as_ref().unwrap().to_string();
    let (_, report, _) = doctor(
        dir.path(),
        &[
            ("ONBOARD_JWT_SECRET", support::SECRET),
            ("ONBOARD_AUTH_ISSUER", oidc.issuer.as_str()),
            ("ONBOARD_AUTH_AUDIENCE", oidc.audience.as_str()),
            ("ONBOARD_AUTH_JWKS_URL", jwks.as_str()),
        ],
    );
    let verdict = check(&report, "auth.oidc");
    assert_eq!(verdict["status"], "ok", "{report:#}");

    let unreachable = format!("http://127.0.0.1:{}/pool", closed_port());
    let (output, report, took) = doctor(
        dir.path(),
        &[
            ("ONBOARD_JWT_SECRET", support::SECRET),
            ("ONBOARD_AUTH_ISSUER", unreachable.as_str()),
            ("ONBOARD_AUTH_AUDIENCE", "onboard-web"),
        ],
    );
    assert!(!output.status.success(), "{report:#}");
    let verdict = check(&report, "auth.oidc");
    assert_eq!(verdict["status"], "fail", "{report:#}");
    assert!(
        verdict["detail"].as_str().unwrap().contains(&unreachable),
        "{report:#}"
    );
    assert!(took < PROMISED, "doctor took {took:?}");
}

fn closed_port() -> u16 {
    onboard::testing::ports::free_port()
}

#[tokio::test]
async fn the_doctor_warns_when_postgres_has_no_room_for_one_more_pool() {
    let Some(server) = onboard::testing::postgres::server_from_env("doctor connections") else {
        return;
    };
    let url = onboard::testing::postgres::create_database(
        &server,
        &onboard::testing::postgres::unique_database_name("onboard_doctor"),
    )
    .await;
    onboard::adapters::postgres::PostgresStore::open(&url, 1)
        .await
        .expect("migrate")
        .close()
        .await;
    let data_dir = tempfile::tempdir().unwrap();
    let connections = |pool: &str| {
        let (_, report, _) = run(doctor_command(
            data_dir.path(),
            &[
                ("DATABASE_URL", url.expose_secret()),
                ("ONBOARD_STORE_MAX_CONNECTIONS", pool),
            ],
        ));
        check(&report, "store.connections").clone()
    };

    // The largest pool allowed is 1,000; scripts/postgres.sh's server takes 300 sessions.
    let limit: i64 = sqlx::query_scalar("SELECT current_setting('max_connections')::int8")
        .fetch_one(
            &mut sqlx::PgConnection::connect_with(&url.connect_options())
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        limit < 1000,
        "a server that takes fewer than 1,000 sessions"
    );
    let crowded = connections("1000");
    assert_eq!(crowded["status"], "warn", "{crowded}");
    let detail = crowded["detail"].as_str().unwrap();
    assert!(
        detail.contains("usable sessions in use") && detail.contains("a pool of 1000"),
        "{crowded}"
    );
    assert!(
        crowded["remedy"]
            .as_str()
            .unwrap()
            .contains("store.max_connections"),
        "{crowded}"
    );

    let roomy = connections("1");
    assert_eq!(roomy["status"], "ok", "{roomy}");
    assert!(
        roomy["detail"]
            .as_str()
            .unwrap()
            .contains("room for a process with a pool of 1"),
        "{roomy}"
    );
}
