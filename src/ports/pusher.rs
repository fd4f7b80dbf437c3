//! The pusher port: delivers one frame to one WebSocket connection, wherever its gateway node is.
//!
//! Adapters: in-process (the gateway runs in the same process) and HTTP to the owning node's
//! management API (`POST /@connections/{id}`).

use crate::domain::event::Envelope;
use crate::ports::store::ConnectionRecord;
use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued on the connection.
    Delivered,
    /// The connection no longer exists (the caller removes its registry row).
    Gone,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the gateway node is unreachable: {0}")]
    Unreachable(String),
    #[error("the gateway refused the push: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Pusher: Send + Sync + 'static {
    /// Pushes an event to one connection as `{"type":"event","event":…}`.
    async fn push_event(
        &self,
        connection: &ConnectionRecord,
        event: &Envelope,
    ) -> Result<PushOutcome, PushError>;
}
