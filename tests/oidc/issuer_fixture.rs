//! A provider's discovery document the way Amazon Cognito lays it out: the issuer on one host,
//! the hosted UI's authorization and token endpoints on another. moto's Cognito serves no
//! discovery document and oidc-provider-mock keeps every endpoint on the issuer's origin, so
//! this small server (127.0.0.1 for the issuer, `localhost` for the hosted UI: two origins)
//! stands in for that layout. No token is signed here.

use axum::routing::get;
use axum::{Json, Router};
use onboard::auth::oidc::{OidcSettings, DEFAULT_SCOPES};
use serde_json::json;

pub struct Issuer {
    /// `http://127.0.0.1:PORT`: the `iss`, discovery and JWKS origin.
    pub issuer: String,
    /// `http://localhost:PORT`: where the "hosted UI" endpoints are.
    pub hosted_ui: String,
}

impl Issuer {
    pub async fn start() -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("http://127.0.0.1:{port}");
        let hosted_ui = format!("http://localhost:{port}");
        let document = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{hosted_ui}/oauth2/authorize"),
            "token_endpoint": format!("{hosted_ui}/oauth2/token"),
            "userinfo_endpoint": format!("{hosted_ui}/oauth2/userInfo"),
            "revocation_endpoint": format!("{hosted_ui}/oauth2/revoke"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
        });
        let router = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let document = document.clone();
                    async move { Json(document) }
                }),
            )
            .route(
                "/.well-known/jwks.json",
                get(|| async { Json(json!({"keys": []})) }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Issuer { issuer, hosted_ui }
    }

    pub fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            audience: "web-client".into(),
            jwks_url: None,
            customer_claim: "sub".into(),
            client_id: "web-client".into(),
            scopes: DEFAULT_SCOPES.into(),
        }
    }
}
