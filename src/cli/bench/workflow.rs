//! One customer's whole workflow over HTTP, with its WebSocket open from the start: each step is
//! sent at its intended time (or at once when the previous one answered late), its latency
//! taken from that intended time, and its event awaited on the WebSocket and checked in order.

use super::checker::{OrderChecker, Violation};
use super::report::Tally;
use crate::auth::Authenticator;
use crate::domain::ids::{ApplicationId, CustomerId};
use futures::StreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Each socket's read buffer. tungstenite zero-fills all of it before every read, whether or
/// not anything arrived, and sizes it 128 KiB by default: the load generator spent a tenth of
/// its CPU in `memset`. Events are far smaller; a bigger frame still fits, the buffer grows.
const READ_BUFFER_BYTES: usize = 4 * 1024;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("cannot open the WebSocket: {0}")]
    Connect(String),
    #[error("the WebSocket failed: {0}")]
    Socket(String),
    #[error("the request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("the answer of {url} has no {field}")]
    Answer { url: String, field: &'static str },
    #[error("no {0} frame within the event timeout")]
    Timeout(&'static str),
    #[error("{0}")]
    Order(#[from] Violation),
}

/// What every workflow shares: the HTTP client, the token minter and the server's base URL.
pub struct Client {
    pub http: reqwest::Client,
    pub auth: Authenticator,
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    /// Where customers' WebSockets are opened (`base` unless --gateway): a customer always
    /// goes to the same one.
    pub gateways: Vec<String>,
    pub event_timeout: Duration,
}

/// A customer's bearer token, valid for the run.
const TOKEN_TTL_SECS: u64 = 6 * 3600;

impl Client {
    /// The gateway base URL `customer`'s WebSocket goes to, spread by a hash of the id.
    pub fn gateway_of(&self, customer: &CustomerId) -> &str {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        customer.as_str().hash(&mut hasher);
        let index = (hasher.finish() % self.gateways.len().max(1) as u64) as usize;
        self.gateways.get(index).unwrap_or(&self.base)
    }

    /// Opens `customer`'s WebSocket (token in the header, never in the URL) and returns it with
    /// the last sequence the welcome frame announced.
    pub async fn connect(&self, customer: &CustomerId) -> Result<(Socket, u64), WorkflowError> {
        let token = self.auth.issue(customer, TOKEN_TTL_SECS);
        let url = crate::cli::watch::gateway_url(self.gateway_of(customer), customer)
            .map_err(|e| WorkflowError::Connect(e.to_string()))?;
        let mut request = url
            .into_client_request()
            .map_err(|e| WorkflowError::Connect(e.to_string()))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| WorkflowError::Connect(e.to_string()))?;
        bearer.set_sensitive(true);
        request.headers_mut().insert("authorization", bearer);
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                .await
                .map_err(|e| WorkflowError::Connect(e.to_string()))?;
        let welcome = self.next_frame(&mut socket, "welcome").await?;
        Ok((socket, welcome["lastSequence"].as_u64().unwrap_or(0)))
    }

    /// The next frame of type `kind`, skipping others (pongs, notices).
    async fn next_frame(
        &self,
        socket: &mut Socket,
        kind: &'static str,
    ) -> Result<Value, WorkflowError> {
        self.frame_until(socket, kind, Instant::now() + self.event_timeout)
            .await
    }

    /// The next frame of type `kind` that arrives before `deadline`, skipping others.
    pub async fn frame_until(
        &self,
        socket: &mut Socket,
        kind: &'static str,
        deadline: Instant,
    ) -> Result<Value, WorkflowError> {
        loop {
            let message = tokio::time::timeout_at(deadline, socket.next())
                .await
                .map_err(|_| WorkflowError::Timeout(kind))?
                .ok_or_else(|| WorkflowError::Socket("closed by the server".into()))?
                .map_err(|e| WorkflowError::Socket(e.to_string()))?;
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(text.as_str())
                    .map_err(|e| WorkflowError::Socket(format!("a frame is not JSON: {e}")))?;
                if frame["type"] == kind {
                    return Ok(frame);
                }
            }
        }
    }
}

enum Body {
    Json(String),
    Form(reqwest::multipart::Form),
    Empty,
}

/// Runs the five steps of `customer`, step `k` intended at `intended[k]`, recording into `tally`.
/// On an error the events of the steps already answered but not received count as lost.
pub async fn run(
    client: Arc<Client>,
    customer: CustomerId,
    intended: Vec<Instant>,
    tally: Arc<Mutex<Tally>>,
) -> Result<(), WorkflowError> {
    tokio::time::sleep_until(intended[0]).await;
    let (mut socket, last) = client.connect(&customer).await?;
    let mut run = Run {
        client: &client,
        token: client.auth.issue(&customer, TOKEN_TTL_SECS),
        checker: OrderChecker::after(last),
        answered: 0,
        tally: &tally,
    };
    let result = run.steps(&mut socket, &customer, &intended).await;
    if result.is_err() {
        let lost = run.checker.missing(run.answered);
        let mut tally = lock(&tally);
        tally.lost += lost;
    }
    let _ = socket.close(None).await;
    result
}

/// Locks the tally; a workflow that panicked while holding it leaves counters still worth reading.
pub fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Run<'a> {
    client: &'a Client,
    token: String,
    checker: OrderChecker,
    /// Steps answered with success: each owes one event.
    answered: u64,
    tally: &'a Mutex<Tally>,
}

impl Run<'_> {
    async fn steps(
        &mut self,
        socket: &mut Socket,
        customer: &CustomerId,
        intended: &[Instant],
    ) -> Result<(), WorkflowError> {
        let base = self.client.base.clone();
        let created = self
            .step(
                socket,
                intended[0],
                format!("{base}/v1/customers"),
                Body::Json(user_info(customer)),
            )
            .await?;
        let url = format!("{base}/v1/customers");
        let app = field(&created, "applicationId", &url)?;
        let form = crate::testing::requests::passport_form("John Doe");
        let app_url = format!("{base}/v1/applications/{app}");
        self.step(
            socket,
            intended[1],
            format!("{app_url}/documents"),
            Body::Form(form),
        )
        .await?;
        self.step(socket, intended[2], format!("{app_url}/kyc"), Body::Empty)
            .await?;
        let url = format!("{app_url}/policy-recommendation");
        let body = r#"{"coverageType":"life","monthlyBudget":100}"#.to_owned();
        let recommended = self
            .step(socket, intended[3], url.clone(), Body::Json(body))
            .await?;
        let policy = field(&recommended, "policyId", &url)?;
        let body = format!(r#"{{"policyId":"{policy}"}}"#);
        self.step(
            socket,
            intended[4],
            format!("{app_url}/complete"),
            Body::Json(body),
        )
        .await?;
        Ok(())
    }

    /// One step: sent at `intended` (or now, if later), its latency from `intended` to the
    /// answer, then its event awaited and its push latency from the answer to the frame.
    async fn step(
        &mut self,
        socket: &mut Socket,
        intended: Instant,
        url: String,
        body: Body,
    ) -> Result<Value, WorkflowError> {
        tokio::time::sleep_until(intended).await;
        let (status, answer) = post(self.client, &self.token, &url, body).await?;
        let answered = Instant::now();
        lock(self.tally).record_step(answered - intended);
        if !status.is_success() {
            return Err(WorkflowError::Status {
                url,
                status: status.as_u16(),
            });
        }
        self.answered += 1;
        let frame = self.client.next_frame(socket, "event").await?;
        let sequence = frame["event"]["sequence"].as_u64().unwrap_or(0);
        self.checker.observe(sequence)?;
        lock(self.tally).record_push(answered.elapsed());
        Ok(answer)
    }
}

/// The first step's body for `customer`.
fn user_info(customer: &CustomerId) -> String {
    format!(
        r#"{{"email":"{customer}@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}}"#
    )
}

/// Registers `customer` (the first step) on its open `socket` and waits for the event: the
/// application it opened and the sequence of that event.
pub async fn registration(
    client: &Client,
    customer: &CustomerId,
    socket: &mut Socket,
) -> Result<(ApplicationId, u64), WorkflowError> {
    let url = format!("{}/v1/customers", client.base);
    let token = client.auth.issue(customer, TOKEN_TTL_SECS);
    let (status, answer) = post(client, &token, &url, Body::Json(user_info(customer))).await?;
    if !status.is_success() {
        return Err(WorkflowError::Status {
            url,
            status: status.as_u16(),
        });
    }
    let application = field(&answer, "applicationId", &url)?;
    let application = ApplicationId::parse(&application).map_err(|_| WorkflowError::Answer {
        url: url.clone(),
        field: "applicationId",
    })?;
    let frame = client.next_frame(socket, "event").await?;
    let sequence = frame["event"]["sequence"]
        .as_u64()
        .ok_or(WorkflowError::Answer {
            url,
            field: "event.sequence",
        })?;
    Ok((application, sequence))
}

/// One POST with the customer's token: the answer's status and JSON body (`null` when the
/// body is not JSON).
async fn post(
    client: &Client,
    token: &str,
    url: &str,
    body: Body,
) -> Result<(reqwest::StatusCode, Value), WorkflowError> {
    let request = client.http.post(url).bearer_auth(token);
    let request = match body {
        Body::Json(json) => request
            .header("content-type", "application/json")
            .body(json),
        Body::Form(form) => request.multipart(form),
        Body::Empty => request,
    };
    let response = request.send().await.map_err(|e| WorkflowError::Request {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

fn field(answer: &Value, name: &'static str, url: &str) -> Result<String, WorkflowError> {
    answer[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| WorkflowError::Answer {
            url: url.to_owned(),
            field: name,
        })
}
