//! API Gateway's management API for the tests: a real HTTP server that records every
//! `POST @connections/{id}` with its `Authorization` header, answers `GET` and `DELETE`, and
//! answers `410 Gone` (as API Gateway does, `GoneException`) for connections marked gone.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// One posted frame.
#[derive(Debug, Clone)]
pub struct Posted {
    pub connection: String,
    pub frame: serde_json::Value,
    pub authorization: String,
}

#[derive(Default)]
struct Recorded {
    posted: Vec<Posted>,
    gone: HashSet<String>,
}

pub struct Receiver {
    url: String,
    state: Arc<Mutex<Recorded>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route(
                "/{stage}/@connections/{id}",
                post(post_frame)
                    .get(get_connection)
                    .delete(delete_connection),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, state }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Frames posted to `connection` so far, in order.
    pub fn frames_to(&self, connection: &str) -> Vec<Posted> {
        let state = self.state.lock().unwrap();
        state
            .posted
            .iter()
            .filter(|p| p.connection == connection)
            .cloned()
            .collect()
    }

    /// From now on, `connection` answers 410 Gone.
    pub fn mark_gone(&self, connection: &str) {
        self.state.lock().unwrap().gone.insert(connection.into());
    }
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        [
            ("x-amzn-errortype", "GoneException"),
            ("content-type", "application/json"),
        ],
        r#"{"message":null}"#,
    )
        .into_response()
}

async fn post_frame(
    State(state): State<Arc<Mutex<Recorded>>>,
    Path((_stage, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().unwrap();
    if state.gone.contains(&id) {
        return gone();
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let frame = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    state.posted.push(Posted {
        connection: id,
        frame,
        authorization,
    });
    StatusCode::OK.into_response()
}

async fn get_connection(
    State(state): State<Arc<Mutex<Recorded>>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    if state.lock().unwrap().gone.contains(&id) {
        return gone();
    }
    axum::Json(serde_json::json!({
        "connectedAt": "2026-12-02T12:00:00Z",
        "lastActiveAt": "2026-12-02T12:00:00Z",
        "identity": {"sourceIp": "203.0.113.7", "userAgent": "test"}
    }))
    .into_response()
}

async fn delete_connection(
    State(state): State<Arc<Mutex<Recorded>>>,
    Path((_stage, id)): Path<(String, String)>,
) -> Response {
    let mut state = state.lock().unwrap();
    if !state.gone.insert(id) {
        return gone();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Whether `authorization` is a well-formed SigV4 header for the management API
/// (`execute-api`), as the SDK signs it.
pub fn is_sigv4(authorization: &str) -> bool {
    let Some(rest) = authorization.strip_prefix("AWS4-HMAC-SHA256 Credential=") else {
        return false;
    };
    let signature = rest.rsplit("Signature=").next().unwrap_or("");
    rest.contains("/us-east-1/execute-api/aws4_request")
        && rest.contains("SignedHeaders=")
        && signature.len() == 64
        && signature.bytes().all(|b| b.is_ascii_hexdigit())
}
