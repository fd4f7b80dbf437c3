//! `GET /config.json`: what the web page must know before it signs a customer in (the OpenID
//! Connect issuer, its public client id and scopes, and whether development sign-in is served).
//! Nothing in it is secret: a public client holds no secret.

use crate::auth::oidc::PublicOidc;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

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

/// The page's Content-Security-Policy when it signs in with `oidc`: the edge's own policy, with
/// the issuer's origin added to `connect-src` so the page may fetch the provider's discovery
/// document and exchange the code for tokens there.
pub fn page_policy(oidc: &PublicOidc) -> Option<String> {
    let origin = reqwest::Url::parse(&oidc.issuer).ok()?.origin();
    if !origin.is_tuple() {
        return None;
    }
    let origin = origin.ascii_serialization();
    Some(crate::app::http::CONTENT_SECURITY_POLICY.replace(
        "connect-src 'self'",
        &format!("connect-src 'self' {origin}"),
    ))
}
