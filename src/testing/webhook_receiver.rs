//! A real HTTP receiver for webhook tests (axum on port 0) that answers from a script and
//! records every request: the notifier tests use it, and tests of whole processes point
//! `ONBOARD_NOTIFIER=webhook` at it to count every delivery (a Maildir hides a redelivery, since
//! it names the file after the notification id).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PATH: &str = "/hooks/onboard";
/// A scripted "answer" that never comes: the request is recorded (with `answered` 0) and left
/// hanging, so a test can see a delivery in flight and kill the process delivering it.
pub const HOLD: u16 = 0;

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

/// A 3xx answer carries a `Location` back to this receiver (which answers 200 once its script
/// is used up), so a notifier that followed redirects would succeed and be seen doing it.
async fn hook(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
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
    if answer == HOLD {
        std::future::pending::<()>().await;
    }
    let status = StatusCode::from_u16(answer).expect("a scripted status");
    if status.is_redirection() {
        (status, [(header::LOCATION, PATH)]).into_response()
    } else {
        status.into_response()
    }
}

impl WebhookReceiver {
    /// The environment that makes an `onboard` process deliver its notifications here.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("ONBOARD_NOTIFIER", "webhook".into()),
            ("WEBHOOK_URL", self.url.clone()),
            ("WEBHOOK_SECRET", "onboard-tests-webhook-secret".into()),
        ]
    }

    /// How many accepted deliveries each notification id got, from `X-Onboard-Notification-Id`
    /// (ids end in `.customer_email` or `.operator_alert`).
    pub fn accepted_per_notification(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for request in self.requests() {
            if (200..300).contains(&request.answered) {
                let id = request
                    .header("x-onboard-notification-id")
                    .unwrap_or("(no notification id)")
                    .to_string();
                *counts.entry(id).or_insert(0) += 1;
            }
        }
        counts
    }

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

    /// Waits (up to 20 s) until a request is held unanswered ([`HOLD`]): a delivery is in flight.
    pub async fn wait_for_held(&self) {
        for _ in 0..400 {
            if self.requests().iter().any(|r| r.answered == HOLD) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no delivery reached the receiver within 20 s");
    }

    /// Waits until `count` requests were answered 2xx (or 20 s passed), then a little longer
    /// so that an "exactly" assertion would see a late duplicate.
    pub async fn wait_for_accepted(&self, count: usize) -> Vec<ReceivedRequest> {
        self.wait_for_accepted_within(count, Duration::from_secs(20))
            .await
    }

    /// [`Self::wait_for_accepted`] with a longer patience, e.g. for a delivery that a killed
    /// process had claimed and that is retried only after the claim's lease.
    pub async fn wait_for_accepted_within(
        &self,
        count: usize,
        patience: Duration,
    ) -> Vec<ReceivedRequest> {
        let accepted = || {
            self.requests()
                .into_iter()
                .filter(|r| (200..300).contains(&r.answered))
                .collect::<Vec<_>>()
        };
        let started = std::time::Instant::now();
        while started.elapsed() < patience {
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
