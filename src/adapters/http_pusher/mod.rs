//! Pushers: to a session in this process directly, or over HTTP to the gateway node that holds
//! it (`POST {node_url}/@connections/{id}` with the management token). A `410 Gone` from the
//! node means the connection is gone, and the caller removes its registry row.

use crate::domain::event::Envelope;
use crate::ports::pusher::{PushError, PushOutcome, Pusher};
use crate::ports::store::ConnectionRecord;
use crate::roles::gateway::Gateway;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How long one push to another node may take; a stalled node must not stall a consumer.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Pushes to another gateway node's management API.
pub struct HttpPusher {
    client: reqwest::Client,
    management_token: String,
}

impl HttpPusher {
    pub fn new(management_token: String) -> Self {
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client builds");
        Self {
            client,
            management_token,
        }
    }
}

#[async_trait]
impl Pusher for HttpPusher {
    async fn push_event(
        &self,
        connection: &ConnectionRecord,
        event: &Envelope,
    ) -> Result<PushOutcome, PushError> {
        let url = format!(
            "{}/@connections/{}",
            connection.node_url.trim_end_matches('/'),
            connection.connection_id
        );
        let frame = serde_json::json!({"type": "event", "event": event});
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.management_token)
            // The gateway node's log lines for this push carry the event's correlation id.
            .header("x-request-id", event.correlation_id.as_str())
            .json(&frame)
            .send()
            .await
            .map_err(|e| {
                PushError::Unreachable(format!("{}: {}", connection.node_id, without_url(&e)))
            })?;
        match response.status().as_u16() {
            200..=299 => Ok(PushOutcome::Delivered),
            410 => Ok(PushOutcome::Gone),
            status => Err(PushError::Refused(format!(
                "node {} answered {status}",
                connection.node_id
            ))),
        }
    }
}

fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection refused"
    } else {
        "request failed"
    };
    kind.to_string()
}

/// Pushes to this process's own gateway when it holds the connection, through `remote`
/// (another node's management API) otherwise.
pub struct RoutingPusher {
    local: Option<Arc<Gateway>>,
    remote: Arc<dyn Pusher>,
}

impl RoutingPusher {
    pub fn new(local: Option<Arc<Gateway>>, remote: Arc<dyn Pusher>) -> Self {
        Self { local, remote }
    }
}

#[async_trait]
impl Pusher for RoutingPusher {
    async fn push_event(
        &self,
        connection: &ConnectionRecord,
        event: &Envelope,
    ) -> Result<PushOutcome, PushError> {
        match &self.local {
            Some(gateway) if gateway.config.node_id == connection.node_id => {
                Ok(gateway.push_local(connection.connection_id, Arc::new(event.clone())))
            }
            _ => self.remote.push_event(connection, event).await,
        }
    }
}
