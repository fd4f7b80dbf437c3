//! One "deployment" of Onboard's Lambda functions for a test: every function is the debug
//! `onboard` binary run as `bootstrap` under Amazon's Runtime Interface Emulator, invoked over
//! RIE's `/2015-03-31/functions/function/invocations`, on the real Kafka (a topic prefix of its
//! own) and a store in a temporary directory. API Gateway's management API is a small real
//! HTTP receiver ([`super::receiver`]): moto accepts posts but cannot show them, nor answer 410.

use super::receiver::Receiver;
use base64::Engine;
use onboard::adapters::kafka::{KafkaBus, KafkaSettings};
use onboard::ports::bus::{ConsumedRecord, EventBus, StartFrom, SubscribeOptions};
use onboard::testing::ports::free_port;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

pub const SECRET: &str = "lambda-test-secret-that-is-long-enough-for-hs256";

/// The store of the functions, as on AWS: DynamoDB (moto), with tables of this deployment's
/// own (`ENVIRONMENT` is unique per deployment, so every table name is).
pub const STORE: &str = "dynamodb";

/// The seed's Step 7.1 payload, exactly.
pub const STEP_7_1_PAYLOAD: &str = r#"{"body": "{\"email\":\"test@example.com\",\"firstName\":\"John\",\"lastName\":\"Doe\",\"dateOfBirth\":\"1990-01-01\",\"phoneNumber\":\"+1234567890\"}"}"#;

/// The WebSocket API the functions are configured with (the seed's `WEBSOCKET_ENDPOINT`).
pub const WEBSOCKET_ENDPOINT: &str = "wss://testapi.execute-api.us-east-1.amazonaws.com/dev";

pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub prefix: String,
    brokers: String,
    pub receiver: Receiver,
    pub auth: onboard::auth::Authenticator,
    /// `ENVIRONMENT` of the functions: names this deployment's DynamoDB tables.
    environment: String,
    /// moto's URL (`AWS_ENDPOINT_URL`) for DynamoDB.
    aws_endpoint: String,
}

/// Kafka's brokers, or `None` after saying loudly that the test is skipped (a failure under
/// `ONBOARD_REQUIRE_KAFKA=1`, as scripts/test.sh sets).
fn brokers() -> Option<String> {
    use onboard::config::env::test_switch;
    let brokers = test_switch("KAFKA_BROKERS");
    if brokers.is_none() {
        assert!(
            test_switch("ONBOARD_REQUIRE_KAFKA").as_deref() != Some("1"),
            "KAFKA_BROKERS is unset but ONBOARD_REQUIRE_KAFKA=1"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "*** SKIPPED: KAFKA_BROKERS is unset (scripts/kafka.sh start; eval \"$(scripts/kafka.sh env)\") ***"
        );
    }
    brokers
}

impl Deployment {
    pub async fn new() -> Option<Self> {
        let brokers = brokers()?;
        let aws_endpoint = onboard::testing::aws::endpoint_from_env("lambda deployment")?;
        let secret = onboard::auth::JwtSecret::new(SECRET.as_bytes().to_vec()).unwrap();
        let deployment = Self {
            dir: tempfile::tempdir().unwrap(),
            prefix: format!("lambda-{}.", uuid::Uuid::new_v4().simple()),
            brokers,
            receiver: Receiver::start().await,
            auth: onboard::auth::Authenticator::new(&secret),
            environment: onboard::testing::aws::unique_name("lambda"),
            aws_endpoint,
        };
        deployment.create_tables();
        Some(deployment)
    }

    /// `onboard migrate` on the functions' configuration: the tables the stack would create.
    fn create_tables(&self) {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
        onboard::testing::env::hermetic(&mut command);
        let output = self
            .aws_environment(command.arg("migrate"))
            .env("ONBOARD_DATA_DIR", self.data_dir())
            .output()
            .expect("onboard migrate runs");
        assert!(
            output.status.success(),
            "onboard migrate on DynamoDB failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The store and AWS settings every function and `migrate` share.
    fn aws_environment<'c>(
        &self,
        command: &'c mut std::process::Command,
    ) -> &'c mut std::process::Command {
        command
            .env("ONBOARD_STORE", STORE)
            .env("ENVIRONMENT", &self.environment)
            .env("AWS_ENDPOINT_URL", &self.aws_endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the function `handler` (with `extra` variables) under the emulator.
    pub async fn function(&self, handler: &str, extra: &[(&str, &str)]) -> Function {
        let rie = rie_binary();
        let bin_dir = self.dir.path().join(format!("fn-{handler}"));
        std::fs::create_dir_all(&bin_dir).unwrap();
        let bootstrap = bin_dir.join("bootstrap");
        if !bootstrap.exists() {
            std::os::unix::fs::symlink(bootstrap_binary(), &bootstrap).unwrap();
        }
        let (invoke_port, runtime_port) = (free_port(), free_port());
        let mut command = std::process::Command::new(rie);
        onboard::testing::env::hermetic(&mut command);
        command
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{invoke_port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime_port}"))
            .arg(&bootstrap)
            .current_dir(&bin_dir)
            .env("_HANDLER", handler)
            .env("ONBOARD_DATA_DIR", self.data_dir())
            .env("ONBOARD_JWT_SECRET", SECRET)
            .env("ONBOARD_LOG", "info")
            .env("KAFKA_BROKERS", &self.brokers)
            .env("ONBOARD_TOPIC_PREFIX", &self.prefix)
            .env("ONBOARD_REPLICATION_FACTOR", "1")
            .env("WEBSOCKET_ENDPOINT", WEBSOCKET_ENDPOINT)
            .env(
                "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
                format!("{}/dev", self.receiver.url()),
            )
            .env(
                "AWS_LAMBDA_FUNCTION_NAME",
                format!("onboard-ai-{handler}-test"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(bin_dir.join("log")).unwrap(),
            ));
        self.aws_environment(&mut command);
        for (name, value) in extra {
            command.env(name, value);
        }
        // A group of its own: dropping the function stops the emulator and the bootstrap.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("aws-lambda-rie starts");
        let function = Function {
            child,
            url: format!(
                "http://127.0.0.1:{invoke_port}/2015-03-31/functions/function/invocations"
            ),
            log: bin_dir.join("log"),
            http: reqwest::Client::new(),
        };
        wait_for_port(invoke_port).await;
        function
    }

    /// The first record on `topic` (unprefixed name) keyed by `key`, read from the beginning.
    pub async fn record_keyed(&self, topic: &str, key: &str) -> ConsumedRecord {
        let mut settings = KafkaSettings::plaintext(&self.brokers);
        settings.replication_factor = 1;
        let bus = KafkaBus::connect(settings).await.unwrap();
        let mut subscription = bus
            .subscribe(SubscribeOptions {
                group: format!("{}reader-{}", self.prefix, uuid::Uuid::new_v4().simple()),
                topics: vec![format!("{}{topic}", self.prefix)],
                start_from: StartFrom::Earliest,
                max_batch: 100,
            })
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let records = subscription.poll(Duration::from_millis(500)).await.unwrap();
            if let Some(record) = records.into_iter().find(|r| r.key.as_deref() == Some(key)) {
                return record;
            }
        }
        panic!("no record keyed {key} on {topic} within 30 s");
    }

    /// A customer token, as the customer would hold it.
    pub fn token(&self, customer: &str) -> String {
        let customer = onboard::domain::ids::CustomerId::parse(customer).unwrap();
        self.auth.issue(&customer, 600)
    }

    /// The store the functions share, opened by the test to look at it.
    /// The functions' DynamoDB store, opened by the test (through `AWS_ENDPOINT_URL`, moto).
    pub async fn store(&self) -> std::sync::Arc<dyn onboard::ports::store::Store> {
        use onboard::adapters::dynamodb::{DynamoStore, TableNames};
        DynamoStore::open(
            Some("us-east-1"),
            TableNames::for_environment(&self.environment),
        )
        .await
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The event an MSK event source mapping delivers for `record`.
pub fn msk_event(record: &ConsumedRecord) -> Value {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|(name, value)| json!({ name: value.as_bytes() }))
        .collect();
    json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/onboard-ai-msk-test/abc",
        "bootstrapServers": "b-1.example:9096",
        "records": {
            format!("{}-{}", record.topic, record.partition): [{
                "topic": record.topic, "partition": record.partition, "offset": record.offset,
                "timestamp": record.timestamp_ms, "timestampType": "CREATE_TIME",
                "key": b64(record.key.as_deref().unwrap_or("").as_bytes()),
                "value": b64(&record.value),
                "headers": headers,
            }]
        }
    })
}

/// A running function.
pub struct Function {
    child: std::process::Child,
    url: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Function {
    /// Invokes the function with `payload` and returns its answer (or the error it reported).
    pub async fn invoke(&self, payload: &Value) -> Value {
        let response = self
            .http
            .post(&self.url)
            .timeout(Duration::from_secs(90))
            .json(payload)
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoking failed: {e}\n{}", self.log()));
        let text = response.text().await.unwrap();
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the answer {text:?} is not JSON: {e}\n{}", self.log()))
    }

    /// What the function wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        // SAFETY: kill only sends a signal to the group this test started.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The emulator, built by scripts/lambda-rie.sh if missing.
fn rie_binary() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lambda-rie.sh");
        let output = std::process::Command::new(script)
            .arg("path")
            .output()
            .expect("scripts/lambda-rie.sh runs");
        assert!(
            output.status.success(),
            "scripts/lambda-rie.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
    })
    .clone()
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("aws-lambda-rie did not listen on {port} within 15 s");
}

/// The binary the functions run as `bootstrap`: this build's `onboard`, or the packaged one
/// named by `ONBOARD_LAMBDA_BOOTSTRAP` (`scripts/aws-package.sh` output, so the glibc-2.34 release
/// build is checked by the same tests: `ONBOARD_LAMBDA_BOOTSTRAP=target/lambda/onboard/bootstrap`).
fn bootstrap_binary() -> PathBuf {
    match std::env::var_os("ONBOARD_LAMBDA_BOOTSTRAP") {
        Some(path) => {
            let path = std::fs::canonicalize(&path).unwrap_or_else(|error| {
                panic!(
                    "ONBOARD_LAMBDA_BOOTSTRAP={}: {error}",
                    path.to_string_lossy()
                )
            });
            eprintln!("lambda tests run {} as bootstrap", path.display());
            path
        }
        None => PathBuf::from(env!("CARGO_BIN_EXE_onboard")),
    }
}
