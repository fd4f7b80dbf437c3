//! A real HTTP receiver for webhook tests (axum on port 0) that answers from a script and
//! records every request.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PATH: &str = "/hooks/onboard";

/// One request as the receiver saw it, and what it answered.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
struct Shared {
    /// Answers still to give, in order; 200 once it is empty.
    script: Arc<Mutex<VecDeque<u16>>>,
    requests: Arc<Mutex<Vec<ReceivedRequest>>>,
}

pub struct WebhookReceiver {
    pub url: String,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

async fn hook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let answer = shared
        .script
        .lock()
        .expect("script lock")
        .pop_front()
        .unwrap_or(200);
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(ReceivedRequest {
            headers,
            body,
            answered: answer,
        });
    StatusCode::from_u16(answer).expect("a scripted status")
}

impl WebhookReceiver {
    /// Starts on a free port; the first requests get `script`'s answers, later ones 200.
    pub async fn start(script: &[u16]) -> Self {
        let shared = Shared::default();
        shared
            .script
            .lock()
            .expect("script lock")
            .extend(script.iter().copied());
        let router = Router::new()
            .route(PATH, post(hook))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the receiver");
        let url = format!(
            "http://{}{PATH}",
            listener.local_addr().expect("its address")
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the receiver runs");
        });
        Self {
            url,
            shared,
            _server: server,
        }
    }

    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// Waits until `count` requests were answered 2xx (or 20 s passed), then a little longer
    /// so that an "exactly" assertion would see a late duplicate.
    pub async fn wait_for_accepted(&self, count: usize) -> Vec<ReceivedRequest> {
        let accepted = || {
            self.requests()
                .into_iter()
                .filter(|r| (200..300).contains(&r.answered))
                .collect::<Vec<_>>()
        };
        for _ in 0..400 {
            if accepted().len() >= count {
                tokio::time::sleep(Duration::from_millis(300)).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        accepted()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self._server.abort();
    }
}
