//! The webhook notifier: POSTs every notification as JSON to one URL, signed with HMAC-SHA256
//! (see [`signature`] and docs/notifications.md), for receivers that send mail, SMS or chat
//! messages themselves.
//!
//! Any 2xx answer means delivered. 408, 429, 5xx and network failures or timeouts are
//! transient and retried by the dispatcher with backoff; any other answer (other 4xx, and 3xx:
//! redirects are not followed, the signature covers one URL) is permanent. Because a retry can
//! follow a delivery whose answer was lost, the receiver de-duplicates by the
//! `X-Onboard-Notification-Id` header (the `id` field).

pub mod signature;

use crate::adapters::email::{EVENT_ID_HEADER, NOTIFICATION_ID_HEADER};
use crate::adapters::secret::Secret;
use crate::ports::notifier::{Notifier, NotifyError};
use crate::ports::store::Notification;
use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use reqwest::{StatusCode, Url};
use serde::Serialize;
use std::time::Duration;

pub use signature::{verify, SignatureError, SIGNATURE_HEADER};

/// Bound on one request, connection included; the dispatcher also bounds the whole delivery.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Shortest signing secret accepted: shorter keys make the HMAC guessable.
pub const MIN_SECRET_BYTES: usize = 16;

/// Where to post and how to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: Secret,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("the webhook URL is not a valid URL: {0}")]
    InvalidUrl(String),
    #[error("the webhook URL must start with http:// or https://")]
    UnsupportedScheme,
    #[error("the webhook secret must be at least {MIN_SECRET_BYTES} bytes long")]
    SecretTooShort,
    #[error("cannot create the HTTP client: {0}")]
    Client(String),
}

/// The JSON body of a webhook request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload<'a> {
    /// The notification id: the receiver's idempotency key.
    pub id: &'a str,
    pub kind: &'a str,
    pub event_id: String,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    /// RFC 3339, UTC, milliseconds.
    pub created_at: String,
}

impl<'a> WebhookPayload<'a> {
    pub fn of(n: &'a Notification) -> Self {
        Self {
            id: &n.id,
            kind: n.kind.as_str(),
            event_id: n.event_id.to_string(),
            recipient: &n.recipient,
            subject: &n.subject,
            body: &n.body,
            created_at: n.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// Delivers notifications as signed HTTP POSTs.
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: Url,
    secret: Secret,
}

/// Shows the host only: a URL's path or query may carry a token.
impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookConfigError> {
        let url = Url::parse(config.url.trim())
            .map_err(|e| WebhookConfigError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookConfigError::UnsupportedScheme);
        }
        if config.secret.expose().len() < MIN_SECRET_BYTES {
            return Err(WebhookConfigError::SecretTooShort);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("onboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookConfigError::Client(e.to_string()))?;
        Ok(Self {
            client,
            url,
            secret: config.secret,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError> {
        let body = serde_json::to_vec(&WebhookPayload::of(notification))
            .map_err(|e| NotifyError::Permanent(format!("cannot encode the payload: {e}")))?;
        // Signed at send time, not creation time: a retry hours later must still verify.
        let signature = signature::header_value(
            self.secret.expose().as_bytes(),
            Utc::now().timestamp(),
            &body,
        );
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(NOTIFICATION_ID_HEADER, notification.id.as_str())
            .header(EVENT_ID_HEADER, notification.event_id.to_string())
            .body(body)
            .send()
            .await
            // The URL may carry a token; it is not repeated in the stored error.
            .map_err(|e| {
                NotifyError::Transient(format!("the webhook request failed: {}", e.without_url()))
            })?;
        classify(response.status())
    }
}

/// What an answer means for the notification.
pub fn classify(status: StatusCode) -> Result<(), NotifyError> {
    if status.is_success() {
        Ok(())
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Err(NotifyError::Transient(format!(
            "the webhook answered {status}"
        )))
    } else {
        Err(NotifyError::Permanent(format!(
            "the webhook answered {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, secret: &str) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            secret: Secret::new(secret),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[test]
    fn answers_are_classified_as_delivered_retried_or_refused() {
        for ok in [200, 201, 202, 204] {
            assert!(classify(StatusCode::from_u16(ok).unwrap()).is_ok(), "{ok}");
        }
        for retry in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(StatusCode::from_u16(retry).unwrap()),
                    Err(NotifyError::Transient(_))
                ),
                "{retry}"
            );
        }
        for refuse in [301, 400, 401, 403, 404, 410, 422] {
            assert!(
                matches!(
                    classify(StatusCode::from_u16(refuse).unwrap()),
                    Err(NotifyError::Permanent(_))
                ),
                "{refuse}"
            );
        }
    }

    #[test]
    fn invalid_urls_and_short_secrets_are_refused() {
        let secret = "a-secret-of-enough-length";
        assert!(matches!(
            WebhookNotifier::new(config("not a url", secret)),
            Err(WebhookConfigError::InvalidUrl(_))
        ));
        assert!(matches!(
            WebhookNotifier::new(config("ftp://example.com/hook", secret)),
            Err(WebhookConfigError::UnsupportedScheme)
        ));
        assert!(matches!(
            WebhookNotifier::new(config("https://example.com/hook", "short")),
            Err(WebhookConfigError::SecretTooShort)
        ));
        assert!(WebhookNotifier::new(config("https://example.com/hook", secret)).is_ok());
    }

    #[test]
    fn the_debug_output_shows_neither_secret_nor_path() {
        let notifier = WebhookNotifier::new(config(
            "https://hooks.example.com/t/tok3n",
            "a-secret-of-enough-length",
        ))
        .unwrap();
        let shown = format!("{notifier:?}");
        assert!(shown.contains("hooks.example.com"), "{shown}");
        assert!(
            !shown.contains("tok3n") && !shown.contains("a-secret"),
            "{shown}"
        );
    }
}
