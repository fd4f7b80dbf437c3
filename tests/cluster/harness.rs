//! Starting and stopping the processes of a test cluster, and talking to them like clients do.

use futures::SinkExt;
pub use onboard::testing::ports::free_port;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub const SECRET: &str = "cluster-test-secret-that-is-long-enough-for-hs256";
pub const SEED_PAYLOAD: &str = r#"{"email":"EMAIL","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;
pub const WORKFLOW_TOPICS: [&str; 5] = [
    "user-info-submitted",
    "documents-processed",
    "kyc-verified",
    "policy-recommended",
    "workflow-completed",
];

fn required(var: &str, require: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if std::env::var(require).is_ok_and(|v| v == "1") => {
            panic!("{var} is not set but {require}=1")
        }
        _ => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIPPED cluster test: {var} is not set");
            None
        }
    }
}

/// The cluster tests run one at a time: one of them stops the shared PostgreSQL server.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running cluster; every process is killed when it drops.
pub struct Cluster {
    _serial: tokio::sync::MutexGuard<'static, ()>,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    processes: HashMap<String, (Child, u16)>,
    pub http: reqwest::Client,
    auth: onboard::auth::Authenticator,
    pub database_url: String,
}

impl Cluster {
    /// A fresh database, a fresh topic prefix and consumer group; no process started yet.
    pub async fn new() -> Option<Cluster> {
        let serial = SERIAL.lock().await;
        let server = onboard::testing::postgres::server_from_env("cluster")?;
        let brokers = required("KAFKA_BROKERS", "ONBOARD_REQUIRE_KAFKA")?;
        let name = onboard::testing::postgres::unique_database_name("onboard_cluster");
        let database = onboard::testing::postgres::create_database(&server, &name).await;
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database.expose_secret().to_string()),
            ("KAFKA_BROKERS".into(), brokers),
            (
                "ONBOARD_TOPIC_PREFIX".into(),
                format!("cluster-{}.", &run[..12]),
            ),
            (
                "ONBOARD_CONSUMER_GROUP".into(),
                format!("cluster-{}", &run[..12]),
            ),
            ("ONBOARD_JWT_SECRET".into(), SECRET.into()),
            ("ONBOARD_WS_TTL_SECONDS".into(), "3".into()),
            ("ONBOARD_WS_HEARTBEAT_SECONDS".into(), "1".into()),
            ("ONBOARD_WS_SWEEP_SECONDS".into(), "1".into()),
            ("ONBOARD_LOG".into(), "warn".into()),
        ];
        // The test broker may be a single node; production keeps the default of 2.
        for var in [
            "ONBOARD_REPLICATION_FACTOR",
            "KAFKA_USERNAME",
            "KAFKA_PASSWORD",
            "KAFKA_SECURITY_PROTOCOL",
            "KAFKA_SASL_MECHANISM",
            "KAFKA_CA_FILE",
        ] {
            if let Ok(value) = std::env::var(var) {
                env.push((var.into(), value));
            }
        }
        if !env.iter().any(|(k, _)| k == "ONBOARD_REPLICATION_FACTOR") {
            env.push(("ONBOARD_REPLICATION_FACTOR".into(), "1".into()));
        }
        let secret = onboard::auth::JwtSecret::new(SECRET.as_bytes().to_vec()).unwrap();
        Some(Cluster {
            _serial: serial,
            dir: tempfile::tempdir().unwrap(),
            env,
            processes: HashMap::new(),
            http: reqwest::Client::new(),
            auth: onboard::auth::Authenticator::new(&secret),
            database_url: database.expose_secret().to_string(),
        })
    }

    /// Starts `onboard ROLE` as `name` and waits until its /readyz answers 200.
    pub async fn start(&mut self, name: &str, role: &[&str]) {
        let port = self
            .processes
            .get(name)
            .map(|(_, p)| *p)
            .unwrap_or_else(free_port);
        let data_dir = self.dir.path().join(name);
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let child =
            onboard::testing::env::hermetic(&mut Command::new(env!("CARGO_BIN_EXE_onboard")))
                .args(role)
                .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
                .arg(&data_dir)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("the onboard binary starts");
        self.processes.insert(name.to_string(), (child, port));
        self.wait_ready(name).await;
    }

    pub fn url(&self, name: &str, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.processes[name].1, path)
    }

    async fn wait_ready(&mut self, name: &str) {
        for _ in 0..600 {
            if let Ok(r) = self.http.get(self.url(name, "/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.processes.get_mut(name).unwrap().0.try_wait().unwrap() {
                panic!("{name} exited with {status}: {}", self.log(name));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} never became ready: {}", self.log(name));
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no clean-up.
    pub fn kill(&mut self, name: &str) {
        let (child, _) = self.processes.get_mut(name).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn token(&self, customer: &str) -> String {
        self.auth.issue(
            &onboard::domain::ids::CustomerId::parse(customer).unwrap(),
            3600,
        )
    }

    pub async fn post(
        &self,
        api: &str,
        customer: &str,
        path: &str,
        body: Option<String>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(self.url(api, path))
            .bearer_auth(self.token(customer));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Runs the five steps for `customer` through the `api` process.
    pub async fn workflow(&self, api: &str, customer: &str) -> String {
        let payload = SEED_PAYLOAD.replace("EMAIL", &format!("{customer}@example.com"));
        let (status, created) = self
            .post(api, customer, "/v1/customers", Some(payload))
            .await;
        assert_eq!(status, 201, "{created}");
        let app = created["applicationId"].as_str().unwrap().to_string();
        self.rest_of_workflow(api, customer, &app).await;
        app
    }

    pub async fn rest_of_workflow(&self, api: &str, customer: &str, app: &str) {
        let form = onboard::testing::requests::passport_form("John Doe");
        let uploaded = self
            .http
            .post(self.url(api, &format!("/v1/applications/{app}/documents")))
            .bearer_auth(self.token(customer))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), 201);
        let (status, kyc) = self
            .post(api, customer, &format!("/v1/applications/{app}/kyc"), None)
            .await;
        assert_eq!(status, 200, "{kyc}");
        let (status, rec) = self
            .post(
                api,
                customer,
                &format!("/v1/applications/{app}/policy-recommendation"),
                Some(r#"{"coverageType":"life"}"#.into()),
            )
            .await;
        assert_eq!(status, 200, "{rec}");
        let body = serde_json::json!({"policyId": rec["policyId"]}).to_string();
        let (status, done) = self
            .post(
                api,
                customer,
                &format!("/v1/applications/{app}/complete"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{done}");
    }

    /// One JSON (or empty-body) step with an idempotency key, retried while the service answers
    /// 503 or cannot be reached (a dependency is down); returns the final answer. A 500 is an
    /// answer, not an outage: it is returned for the caller to fail on.
    pub async fn step_retrying(
        &self,
        api: &str,
        customer: &str,
        path: &str,
        body: Option<String>,
        key: &str,
    ) -> (u16, Value) {
        for _ in 0..300 {
            let mut request = self
                .http
                .post(self.url(api, path))
                .bearer_auth(self.token(customer))
                .header("Idempotency-Key", key);
            if let Some(body) = &body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.clone());
            }
            if let Ok(response) = request.send().await {
                let status = response.status().as_u16();
                if status != 503 {
                    return (status, response.json().await.unwrap_or(Value::Null));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} answered only 503 or nothing for 30 s");
    }

    /// The steps after user info, each retried through outages (KYC needs a document first,
    /// so the upload is retried too).
    pub async fn rest_of_workflow_retrying(&self, api: &str, customer: &str, app: &str) {
        for attempt in 0..300 {
            let form = reqwest::multipart::Form::new()
                .text("documentType", "passport")
                .text("documentNumber", "X1234567")
                .text("fullName", "John Doe")
                .text("expiryDate", "2035-01-01")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(b"%PDF-1.4\n%%EOF\n".to_vec())
                        .file_name("p.pdf"),
                );
            let sent = self
                .http
                .post(self.url(api, &format!("/v1/applications/{app}/documents")))
                .bearer_auth(self.token(customer))
                .header("Idempotency-Key", format!("{app}-doc"))
                .multipart(form)
                .send()
                .await;
            match sent.map(|r| r.status().as_u16()) {
                Ok(201) => break,
                Ok(503) | Err(_) => {}
                Ok(other) => panic!("the upload for {app} answered {other}"),
            }
            assert!(
                attempt < 299,
                "the upload for {app} answered only 503 or nothing for 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, _) = self
            .step_retrying(
                api,
                customer,
                &format!("/v1/applications/{app}/kyc"),
                None,
                &format!("{app}-kyc"),
            )
            .await;
        assert_eq!(status, 200);
        let (status, rec) = self
            .step_retrying(
                api,
                customer,
                &format!("/v1/applications/{app}/policy-recommendation"),
                Some(r#"{"coverageType":"life"}"#.into()),
                &format!("{app}-rec"),
            )
            .await;
        assert_eq!(status, 200);
        let body = serde_json::json!({"policyId": rec["policyId"]}).to_string();
        let (status, _) = self
            .step_retrying(
                api,
                customer,
                &format!("/v1/applications/{app}/complete"),
                Some(body),
                &format!("{app}-done"),
            )
            .await;
        assert_eq!(status, 200);
    }

    /// The customer's stored events, read through `api`.
    pub async fn events(&self, api: &str, customer: &str) -> Vec<Value> {
        let response = self
            .http
            .get(self.url(api, &format!("/v1/customers/{customer}/events?limit=500")))
            .bearer_auth(self.token(customer))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        body["events"].as_array().cloned().unwrap_or_default()
    }

    pub async fn wait_for_events(&self, api: &str, customer: &str, n: usize) -> Vec<Value> {
        for _ in 0..600 {
            let events = self.events(api, customer).await;
            if events.len() >= n {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{customer}: fewer than {n} events were stored");
    }

    pub async fn tab(&self, gateway: &str, customer: &str) -> Tab {
        let url = format!(
            "ws://127.0.0.1:{}/ws?customerId={customer}&token={}",
            self.processes[gateway].1,
            self.token(customer)
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the WebSocket opens");
        let mut tab = Tab {
            ws,
            welcome: Value::Null,
        };
        tab.welcome = tab
            .next_frame(Duration::from_secs(10))
            .await
            .expect("a welcome frame");
        tab
    }

    /// SIGKILLs `name` as soon as an accepted step waits in its outbox (read straight from
    /// PostgreSQL, up to 20 s); returns the unpublished rows the kill left behind.
    pub async fn kill_while_the_outbox_is_pending(&mut self, name: &str) -> i64 {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.database_url)
            .await
            .unwrap();
        async fn pending(db: &mut sqlx::PgConnection) -> i64 {
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(db)
                .await
                .unwrap()
        }
        let started = std::time::Instant::now();
        while pending(&mut db).await == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no accepted step ever waited in the outbox"
            );
        }
        self.kill(name);
        pending(&mut db).await
    }

    /// Registry rows of a gateway node, read straight from PostgreSQL (expired ones included).
    pub async fn registry_rows(&self) -> i64 {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM websocket_connections")
            .fetch_one(&mut db)
            .await
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (child, _) in self.processes.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Tab {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub welcome: Value,
}

impl Tab {
    pub async fn next_frame(&mut self, wait: Duration) -> Option<Value> {
        match onboard::testing::ws::next_incoming(&mut self.ws, wait).await {
            onboard::testing::ws::Incoming::Frame(frame) => Some(frame),
            _ => None,
        }
    }

    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next_frame(Duration::from_secs(20)).await {
                Some(frame) if frame["type"] == "event" => out.push(frame["event"].clone()),
                Some(_) => continue,
                None => panic!("expected {n} events, got {}", out.len()),
            }
        }
        out
    }

    /// Asserts no event frame arrives within `wait` and the socket stays open meanwhile.
    pub async fn assert_no_event(&mut self, wait: Duration) {
        onboard::testing::ws::assert_no_event(&mut self.ws, wait).await
    }

    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }
}

pub fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Every mail file the consumer processes wrote (each has its own Maildir).
pub fn mails(cluster: &Cluster, consumers: &[&str]) -> Vec<onboard::adapters::maildir::StoredMail> {
    consumers
        .iter()
        .flat_map(|c| onboard::testing::mail::mails_in(&cluster.data_dir(c).join("mail")))
        .collect()
}
