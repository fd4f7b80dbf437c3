//! The notifier port (the seed's SNS): delivers customer e-mails and operator alerts.
//!
//! Adapters: `maildir` (embedded default, readable by any mail client), later `smtp` and
//! `webhook`. Delivery is driven from the store's notification rows, retried until it succeeds.

use crate::ports::store::Notification;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Worth retrying later (server down, timeout, disk full).
    #[error("temporary delivery failure: {0}")]
    Transient(String),
    /// Will fail again the same way (invalid recipient); recorded and not retried.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Delivers one notification. Must be idempotent by `notification.id`: delivering the same
    /// id twice (after a crash between delivery and bookkeeping) must not produce two messages
    /// where the medium allows avoiding it.
    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError>;
}
