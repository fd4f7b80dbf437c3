//! Test support: spawning the app, a customer client and a WebSocket tab.

use futures::SinkExt;
use onboard::adapters::postgres::DatabaseUrl;
use onboard::app::{Application, Settings};
use onboard::auth::SecretSource;
use onboard::wiring::StoreSettings;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "e2e-test-secret-that-is-long-enough-for-hs256";

/// The seed's Step 7.1 payload, byte for byte.
pub const SEED_PAYLOAD: &str = r#"{"email":"test@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;

/// How long a test waits for something that happens after the answer (a delivered mail, a stored
/// event) before it fails. Generous: CI runs the whole suite at once, on moto, PostgreSQL or
/// Kafka, where a delivery once took over 10 s.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Asks `check` every 50 ms until it gives a value, for at most [`PATIENCE`]; `None` if it never
/// did.
pub async fn eventually<T, F, Fut>(mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    pub management_token: String,
    auth: onboard::auth::Authenticator,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn settings(data_dir: &Path, port: u16) -> Settings {
    let mut settings = Settings::new(([127, 0, 0, 1], port).into(), data_dir.to_path_buf());
    settings.secret = SecretSource {
        inline: Some(SECRET.into()),
        file: None,
    };
    // The default gap wait, as in production: the suites assert a customer's order, and on
    // Kafka a topic's consumer may lag behind the others by more than a fraction of it under
    // load (tests/e2e/promises.rs shows what happens past it).
    settings.gateway.gap_wait = onboard::roles::gateway::GatewayConfig::default().gap_wait;
    // The suites poll a customer's feed every 50 ms; the limits themselves are shown against
    // the real binary in tests/security (rate_limit.rs, uploads.rs).
    settings.api_limits.requests_per_second = 1000;
    settings.api_limits.request_burst = 1000;
    if let Some(url) = postgres_for(data_dir) {
        settings.store = StoreSettings::Postgres {
            url,
            max_connections: onboard::adapters::postgres::default_max_connections(),
        };
    }
    if let Some(tables) = dynamodb_for(data_dir) {
        settings.store = StoreSettings::Dynamodb {
            region: None,
            tables: Box::new(tables),
        };
    }
    if let Some(kafka) = kafka_bus(data_dir) {
        settings.bus = onboard::wiring::BusSettings::Kafka(kafka.settings);
        settings.topics = onboard::ports::bus::TopicNames::with_prefix(&kafka.prefix).unwrap();
        settings.consumer.group = kafka.group;
    }
    settings
}

/// `ONBOARD_TEST_STORE=postgres` runs the suite on PostgreSQL (`DATABASE_URL`) instead of SQLite,
/// `ONBOARD_TEST_STORE=dynamodb` on DynamoDB (`AWS_ENDPOINT_URL`, moto).
pub const STORE_SWITCH: &str = "ONBOARD_TEST_STORE";

/// With `ONBOARD_TEST_STORE=dynamodb`: the tables of the app whose data directory is
/// `data_dir` (a suffix named after the directory), created on first use.
pub fn dynamodb_for(data_dir: &Path) -> Option<onboard::adapters::dynamodb::TableNames> {
    if std::env::var(STORE_SWITCH).as_deref() != Ok("dynamodb") {
        return None;
    }
    onboard::testing::aws::endpoint_from_env("e2e")
        .unwrap_or_else(|| panic!("{STORE_SWITCH}=dynamodb needs AWS_ENDPOINT_URL"));
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let tables = onboard::adapters::dynamodb::TableNames::with_suffix(&format!(
        "-e2e-{}",
        hex::encode(&digest[..10])
    ));
    let created = tables.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(async {
                onboard::adapters::dynamodb::DynamoStore::open(None, created)
                    .await
                    .migrate()
                    .await
            })
    })
    .join()
    .expect("the tables are created")
    .expect("the tables are created");
    Some(tables)
}

/// With the switch set: the database of the app whose data directory is `data_dir`, created on
/// first use and named after the directory, so an app restarted on the same directory (or
/// started as a child process) finds its data again.
pub fn postgres_for(data_dir: &Path) -> Option<DatabaseUrl> {
    match std::env::var(STORE_SWITCH).as_deref() {
        Ok("postgres") => {}
        Ok("sqlite" | "dynamodb") | Err(_) => return None,
        Ok(other) => panic!("{STORE_SWITCH}={other}: expected postgres, dynamodb or sqlite"),
    }
    let server = onboard::testing::postgres::server_from_env("e2e")
        .unwrap_or_else(|| panic!("{STORE_SWITCH}=postgres needs DATABASE_URL"));
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name = format!("onboard_e2e_{}", hex::encode(&digest[..10]));
    // Creating it is async; tests call this from sync and async code alike.
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(onboard::testing::postgres::create_database(&server, &name))
    })
    .join()
    .expect("the database is created")
    .into()
}

/// Points a child `onboard` process at the same store `settings` would choose for `data_dir`.
pub fn store_env(command: &mut std::process::Command, data_dir: &Path) {
    command.env_remove("DATABASE_URL");
    if let Some(url) = postgres_for(data_dir) {
        command.env("DATABASE_URL", url.expose_secret());
    }
    if let Some(t) = dynamodb_for(data_dir) {
        command.env("ONBOARD_STORE", "dynamodb");
        for (variable, name) in [
            ("USERS_TABLE", &t.users),
            ("APPLICATIONS_TABLE", &t.applications),
            ("KYC_RESULTS_TABLE", &t.kyc_results),
            ("AUDIT_TABLE", &t.audit),
            ("WEBSOCKET_TABLE", &t.websocket),
            ("EVENTS_TABLE", &t.events),
            ("OUTBOX_TABLE", &t.outbox),
            ("IDEMPOTENCY_TABLE", &t.idempotency),
            ("NOTIFICATIONS_TABLE", &t.notifications),
            ("DOCUMENTS_TABLE", &t.documents),
            ("RECOMMENDATIONS_TABLE", &t.recommendations),
            ("PROJECTIONS_TABLE", &t.projections),
            ("COUNTERS_TABLE", &t.counters),
            ("OPERATIONS_TABLE", &t.operations),
        ] {
            command.env(variable, name);
        }
        for variable in [
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            if let Ok(value) = std::env::var(variable) {
                command.env(variable, value);
            }
        }
    }
}

/// With `ONBOARD_TEST_BUS=kafka` (scripts/test.sh's second e2e run) apps use the Kafka at
/// `KAFKA_BROKERS`, with topic names and a consumer group of their own derived from the data
/// directory: parallel tests never share topics, and a restart on the same directory finds its
/// topics and committed offsets again.
pub struct KafkaBusForTest {
    pub settings: onboard::adapters::kafka::KafkaSettings,
    pub prefix: String,
    pub group: String,
}

pub fn kafka_bus(data_dir: &Path) -> Option<KafkaBusForTest> {
    if std::env::var("ONBOARD_TEST_BUS").ok()? != "kafka" {
        return None;
    }
    let brokers = std::env::var("KAFKA_BROKERS")
        .expect("ONBOARD_TEST_BUS=kafka needs KAFKA_BROKERS (scripts/kafka.sh env)");
    let mut settings = onboard::adapters::kafka::KafkaSettings::plaintext(&brokers);
    settings.replication_factor = std::env::var("ONBOARD_REPLICATION_FACTOR")
        .ok()
        .and_then(|rf| rf.parse().ok())
        .unwrap_or(1);
    let digest = hex::encode(Sha256::digest(data_dir.to_string_lossy().as_bytes()));
    let id = &digest[..12];
    Some(KafkaBusForTest {
        settings,
        prefix: format!("e2e-{id}."),
        group: format!("e2e-{id}"),
    })
}

/// The environment of an `onboard` process run by a test on `data_dir`: the same bus as
/// [`settings`] gives in-process apps (and never a Kafka the developer's shell points at).
pub fn bus_env(command: &mut std::process::Command, data_dir: &Path) {
    match kafka_bus(data_dir) {
        Some(kafka) => {
            command
                .env("KAFKA_BROKERS", &kafka.settings.brokers)
                .env("ONBOARD_BUS", "kafka")
                .env("ONBOARD_TOPIC_PREFIX", &kafka.prefix)
                .env("ONBOARD_CONSUMER_GROUP", &kafka.group)
                .env(
                    "ONBOARD_REPLICATION_FACTOR",
                    kafka.settings.replication_factor.to_string(),
                );
        }
        None => {
            command.env("ONBOARD_BUS", "embedded");
        }
    }
}

pub async fn spawn_app() -> TestApp {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut app = spawn_app_in(tmp.path(), 0).await;
    app._tmp = Some(tmp);
    app
}

pub async fn spawn_app_in(data_dir: &Path, port: u16) -> TestApp {
    spawn_with(settings(data_dir, port)).await
}

pub async fn spawn_with(settings: Settings) -> TestApp {
    let data_dir = settings.data_dir.clone();
    let application = Application::build(settings).await.expect("the app builds");
    let addr = application.local_addr();
    let auth = application.authenticator().clone();
    let management_token = application.management_token().to_string();
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(application.run(shutdown.clone()));
    let app = TestApp {
        addr,
        data_dir,
        http: reqwest::Client::new(),
        management_token,
        auth,
        shutdown,
        handle: Some(handle),
        _tmp: None,
    };
    app.wait_ready().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn token(&self, customer: &str) -> String {
        self.auth.issue(
            &onboard::domain::ids::CustomerId::parse(customer).unwrap(),
            3600,
        )
    }

    pub async fn wait_ready(&self) {
        // Generous: on Kafka a process restarted after SIGKILL joins its group only once the
        // killed members' sessions expired.
        for _ in 0..1200 {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the app never became ready");
    }

    /// Graceful stop; keeps the data directory.
    pub async fn stop(mut self) -> (Option<tempfile::TempDir>, PathBuf) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .expect("stops in time")
                .unwrap()
                .unwrap();
        }
        (self._tmp.take(), self.data_dir.clone())
    }

    pub fn customer(&self, id: &str) -> CustomerClient<'_> {
        CustomerClient {
            app: self,
            id: id.to_string(),
            token: self.token(id),
        }
    }

    /// `GET /@connections/{id}` with the management token, as JSON.
    pub async fn connection_info(&self, id: &str) -> Value {
        self.http
            .get(self.url(&format!("/@connections/{id}")))
            .bearer_auth(&self.management_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Messages in the Maildir (customer e-mails and operator alerts).
    pub fn mails(&self) -> Vec<onboard::adapters::maildir::StoredMail> {
        onboard::testing::mail::mails_in(&self.data_dir.join("mail"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct CustomerClient<'a> {
    pub app: &'a TestApp,
    pub id: String,
    pub token: String,
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn field_names(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["name"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["title"].is_string()
                && self.body["type"].is_string()
                && self.body["detail"].is_string()
        );
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        body,
        headers,
    }
}

impl CustomerClient<'_> {
    pub async fn post_json(&self, path: &str, body: &str, key: Option<&str>) -> Answer {
        let mut request = self
            .app
            .http
            .post(self.app.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.app
                .http
                .get(self.app.url(path))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn submit_seed_payload(&self) -> Answer {
        self.post_json("/v1/customers", SEED_PAYLOAD, None).await
    }

    pub async fn upload(
        &self,
        application: &str,
        form: reqwest::multipart::Form,
        key: Option<&str>,
    ) -> Answer {
        let mut request = self
            .app
            .http
            .post(
                self.app
                    .url(&format!("/v1/applications/{application}/documents")),
            )
            .bearer_auth(&self.token)
            .multipart(form);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn upload_passport(&self, application: &str) -> Answer {
        self.upload(application, passport_form("John Doe"), None)
            .await
    }

    /// Runs all five steps; returns the application id.
    pub async fn complete_workflow(&self) -> String {
        let created = self.submit_seed_payload().await;
        assert_eq!(created.status, 201, "{}", created.body);
        let app = created.body["applicationId"].as_str().unwrap().to_string();
        self.continue_workflow_from_documents(&app).await;
        app
    }

    pub async fn continue_workflow_from_documents(&self, app: &str) {
        let uploaded = self.upload_passport(app).await;
        assert_eq!(uploaded.status, 201, "{}", uploaded.body);
        self.continue_workflow_from_kyc(app).await;
    }

    pub async fn continue_workflow_from_kyc(&self, app: &str) {
        let kyc = self
            .post_json(&format!("/v1/applications/{app}/kyc"), "", None)
            .await;
        assert_eq!(kyc.status, 200, "{}", kyc.body);
        assert_eq!(kyc.body["decision"], "APPROVED", "{}", kyc.body);
        let policy = self.recommend(app).await;
        self.accept(app, &policy).await;
    }

    pub async fn recommend(&self, app: &str) -> String {
        let rec = self
            .post_json(
                &format!("/v1/applications/{app}/policy-recommendation"),
                r#"{"coverageType":"life","monthlyBudget":100}"#,
                None,
            )
            .await;
        assert_eq!(rec.status, 200, "{}", rec.body);
        rec.body["policyId"].as_str().unwrap().to_string()
    }

    pub async fn accept(&self, app: &str, policy: &str) {
        let done = self
            .post_json(
                &format!("/v1/applications/{app}/complete"),
                &json!({"policyId": policy}).to_string(),
                None,
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(done.body["status"], "COMPLETED");
    }

    pub async fn tab(&self) -> Tab {
        Tab::open(self.app, &self.id, &self.token).await
    }
}

pub use onboard::testing::requests::passport_form;

/// One browser tab's WebSocket.
pub struct Tab {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Value,
}

pub const FRAME_WAIT: Duration = Duration::from_secs(10);

impl Tab {
    pub async fn open(app: &TestApp, customer: &str, token: &str) -> Tab {
        let url = format!("ws://{}/ws?customerId={customer}&token={token}", app.addr);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the WebSocket opens");
        let mut tab = Tab {
            ws,
            welcome: Value::Null,
        };
        tab.welcome = tab.next_frame().await.expect("a welcome frame");
        assert_eq!(tab.welcome["type"], "welcome");
        tab
    }

    pub async fn open_with_header(
        app: &TestApp,
        customer: &str,
        token: &str,
    ) -> Result<Tab, tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("ws://{}/ws?customerId={customer}", app.addr)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        let mut tab = Tab {
            ws,
            welcome: Value::Null,
        };
        tab.welcome = tab.next_frame().await.expect("a welcome frame");
        Ok(tab)
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next JSON frame, or `None` on timeout or close.
    pub async fn next_frame(&mut self) -> Option<Value> {
        self.next_frame_within(FRAME_WAIT).await
    }

    pub async fn next_frame_within(&mut self, wait: Duration) -> Option<Value> {
        match onboard::testing::ws::next_incoming(&mut self.ws, wait).await {
            onboard::testing::ws::Incoming::Frame(frame) => Some(frame),
            _ => None,
        }
    }

    /// The next `n` event envelopes (skipping other frames).
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next_frame().await {
                Some(frame) if frame["type"] == "event" => out.push(frame["event"].clone()),
                Some(_) => continue,
                None => panic!("expected {n} events, got {}: {:?}", out.len(), types(&out)),
            }
        }
        out
    }

    /// Asserts no event frame arrives within `wait` and the socket stays open meanwhile.
    pub async fn assert_no_event(&mut self, wait: Duration) {
        onboard::testing::ws::assert_no_event(&mut self.ws, wait).await
    }

    /// Waits for the close frame; returns its code (`None` without one or on timeout).
    pub async fn close_code(&mut self) -> Option<u16> {
        use onboard::testing::ws::{next_incoming, Incoming};
        loop {
            match next_incoming(&mut self.ws, FRAME_WAIT).await {
                Incoming::Frame(_) => continue,
                Incoming::Closed(code) => return code,
                Incoming::TimedOut | Incoming::Broken(_) => return None,
            }
        }
    }
}

pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

pub const WORKFLOW_TOPICS: [&str; 5] = [
    "user-info-submitted",
    "documents-processed",
    "kyc-verified",
    "policy-recommended",
    "workflow-completed",
];

impl TestApp {
    /// A handle on a server run by another process (for crash tests).
    pub async fn remote(data_dir: &Path, port: u16) -> TestApp {
        let secret = onboard::auth::JwtSecret::new(SECRET.as_bytes().to_vec()).unwrap();
        let app = TestApp {
            addr: ([127, 0, 0, 1], port).into(),
            data_dir: data_dir.to_path_buf(),
            http: reqwest::Client::new(),
            management_token: onboard::auth::management_token(&secret),
            auth: onboard::auth::Authenticator::new(&secret),
            shutdown: CancellationToken::new(),
            handle: None,
            _tmp: None,
        };
        app.wait_ready().await;
        app
    }
}
