//! Customer sign-in with a real OpenID Connect provider (moto's Cognito user pools in server
//! mode: real RS256 ID and access tokens and a JWKS), on HTTP and on the WebSocket handshake,
//! and the lifetime of a WebSocket session bound to its token (closed with 4401 unless an
//! `auth` action renews it).

#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

mod cognito;
mod development_tokens;
mod issuer_fixture;
mod page_policy;
mod provider;
mod session_lifetime;
