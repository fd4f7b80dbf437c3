//! `GET /config.json`: what the web page must know before it signs a customer in (the OpenID
//! Connect issuer, its public client id and scopes, and whether development sign-in is served),
//! and the page's Content-Security-Policy that lets it reach that provider. Nothing in it is
//! secret: a public client holds no secret.

use crate::auth::oidc::{web_origin, OidcVerifier, PublicOidc};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub const PATH: &str = "/config.json";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// The issuer to sign in with (authorization code + PKCE); `null` when none is configured.
    pub oidc: Option<PublicOidc>,
    /// Whether `POST /dev/token` is served (development sign-in with any customer id).
    pub dev_sign_in: bool,
}

pub fn router(config: ClientConfig) -> Router {
    Router::new().route(
        PATH,
        get(move || {
            let config = config.clone();
            async move {
                let mut response = Json(config).into_response();
                // A reconfigured server must be seen at the next page load.
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                response
            }
        }),
    )
}

/// The edge's Content-Security-Policy with the identity provider's `origins` added to
/// `connect-src`, so the page may fetch the discovery document, exchange the code for tokens,
/// refresh them and read the keys there.
pub fn page_policy(origins: &[String]) -> String {
    let mut connect = String::from("connect-src 'self'");
    for origin in origins {
        connect.push(' ');
        connect.push_str(origin);
    }
    crate::app::http::CONTENT_SECURITY_POLICY.replace("connect-src 'self'", &connect)
}

/// How often an unreachable provider's discovery document is asked for again.
const DISCOVERY_RETRY: Duration = Duration::from_secs(30);

/// The page's policy when customers sign in with an identity provider: the issuer's origin at
/// first, then, once its discovery document has been read (in the background, never on a page
/// load's path), every origin it names. An unreachable provider is asked again at most every
/// [`DISCOVERY_RETRY`], prompted by page loads.
pub struct ProviderPolicy {
    verifier: OidcVerifier,
    issuer_only: HeaderValue,
    discovered: RwLock<Option<HeaderValue>>,
    last_attempt: Mutex<Option<Instant>>,
}

impl ProviderPolicy {
    /// Starts reading the discovery document; `None` when the issuer is not an http(s) URL.
    pub fn start(verifier: OidcVerifier) -> Option<Arc<Self>> {
        let issuer = web_origin(&verifier.settings().issuer)?;
        let issuer_only = HeaderValue::from_str(&page_policy(&[issuer])).ok()?;
        let policy = Arc::new(Self {
            verifier,
            issuer_only,
            discovered: RwLock::new(None),
            last_attempt: Mutex::new(None),
        });
        policy.discover_if_due();
        Some(policy)
    }

    /// The policy to send now.
    pub fn current(self: &Arc<Self>) -> HeaderValue {
        if let Some(policy) = self.discovered.read().expect("policy lock").clone() {
            return policy;
        }
        self.discover_if_due();
        self.issuer_only.clone()
    }

    fn discover_if_due(self: &Arc<Self>) {
        {
            let mut last = self.last_attempt.lock().expect("attempt lock");
            if last.is_some_and(|at| at.elapsed() < DISCOVERY_RETRY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let policy = self.clone();
        tokio::spawn(async move {
            match policy.verifier.provider_origins().await {
                Ok(origins) => {
                    let value = HeaderValue::from_str(&page_policy(&origins)).ok();
                    *policy.discovered.write().expect("policy lock") = value;
                }
                Err(reason) => tracing::warn!(
                    reason = %reason,
                    "The identity provider's discovery document cannot be read; the page may \
                     reach only the issuer's origin until it can."
                ),
            }
        });
    }
}

/// Sets the page's policy from [`ProviderPolicy`] on every answer of the page's router.
pub async fn with_provider_policy(
    State(policy): State<Arc<ProviderPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let value = policy.current();
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, value);
    response
}
