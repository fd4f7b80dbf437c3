//! Verifying customer tokens issued by an OpenID Connect provider (Cognito, Auth0, Keycloak,
//! Entra ID, Okta): RS256 or ES256 signatures checked against the provider's published keys,
//! then `iss`, `aud` (or Cognito's `client_id`), `token_use`, `exp` and `nbf`, each failure its
//! own [`AuthError`].

use super::jwks::{KeyCache, KeySource, KeysError};
use super::{AuthError, Verified};
use crate::domain::ids::CustomerId;
use jsonwebtoken::{Algorithm, Validation};
use reqwest::Url;
use serde_json::Value;
use std::sync::Arc;

/// The claim holding the customer id unless configured otherwise.
pub const DEFAULT_CUSTOMER_CLAIM: &str = "sub";
/// Scopes the web page asks for unless configured otherwise.
pub const DEFAULT_SCOPES: &str = "openid profile email";

/// The provider a deployment trusts, as `auth.oidc` configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// The `aud` to require (for Cognito access tokens, the `client_id`).
    pub audience: String,
    /// Where its keys are; `None` means discovery from the issuer.
    pub jwks_url: Option<Url>,
    /// The claim whose value is the customer id.
    pub customer_claim: String,
    /// The public client id the web page signs in with (defaults to the audience).
    pub client_id: String,
    /// The scopes the web page asks for.
    pub scopes: String,
}

/// What the web page needs to sign in (`GET /config.json`); nothing secret.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublicOidc {
    pub issuer: String,
    pub client_id: String,
    pub scopes: String,
    /// The claim of the ID token that holds the customer id.
    pub customer_claim: String,
}

/// `scheme://host[:port]` of an http(s) URL, as a Content-Security-Policy source.
pub fn web_origin(url: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// Checks tokens of one issuer; clones share the key cache.
#[derive(Debug, Clone)]
pub struct OidcVerifier {
    settings: OidcSettings,
    keys: Arc<KeyCache>,
}

impl OidcVerifier {
    pub fn new(settings: OidcSettings) -> Self {
        let source = match &settings.jwks_url {
            Some(url) => KeySource::Url(url.clone()),
            None => KeySource::Discovery {
                issuer: settings.issuer.clone(),
            },
        };
        Self {
            keys: Arc::new(KeyCache::new(source)),
            settings,
        }
    }

    /// Fetches the provider's keys now (`onboard doctor`): the JWKS URL and the key count.
    pub async fn probe_keys(&self) -> Result<(Url, usize), String> {
        self.keys.probe().await
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The origins the web page's sign-in talks to: the issuer's (discovery), the configured
    /// JWKS URL's, and those of every endpoint the discovery document names (Cognito's token
    /// endpoint is on the hosted UI domain, not the issuer's). `Err` when the discovery
    /// document cannot be read.
    pub async fn provider_origins(&self) -> Result<Vec<String>, String> {
        let issuer = self.settings.issuer.trim_end_matches('/');
        let discovery = Url::parse(&format!("{issuer}/.well-known/openid-configuration"))
            .map_err(|e| format!("{issuer}: {e}"))?;
        let document = self.keys.provider_document(&discovery).await?;
        let named = document
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| name.ends_with("_endpoint") || name.as_str() == "jwks_uri")
            .filter_map(|(_, value)| value.as_str());
        let mut origins: Vec<String> = [issuer]
            .into_iter()
            .chain(self.settings.jwks_url.as_ref().map(Url::as_str))
            .chain(named)
            .filter_map(web_origin)
            .collect();
        origins.sort();
        origins.dedup();
        Ok(origins)
    }

    pub fn public(&self) -> PublicOidc {
        PublicOidc {
            issuer: self.settings.issuer.clone(),
            client_id: self.settings.client_id.clone(),
            scopes: self.settings.scopes.clone(),
            customer_claim: self.settings.customer_claim.clone(),
        }
    }

    /// The customer a token of this issuer names, checked as of `now` (seconds since the
    /// epoch) with `leeway` seconds of clock skew, refusing an `exp` beyond `max_lifetime`.
    pub async fn verify(
        &self,
        token: &str,
        algorithm: Algorithm,
        kid: Option<&str>,
        clock: Clock,
    ) -> Result<Verified, AuthError> {
        if !matches!(algorithm, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::UnsupportedAlgorithm(format!("{algorithm:?}")));
        }
        let key = self
            .keys
            .key_for(kid, algorithm)
            .await
            .map_err(|e| match e {
                KeysError::UnknownKey => AuthError::UnknownKey,
                KeysError::Unavailable(_) => AuthError::KeysUnavailable,
            })?;
        // The signature only: each claim is checked below, so each failure says what it is.
        let mut validation = Validation::new(algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)
                .map_err(|_| AuthError::Invalid)?
                .claims;
        self.check_claims(&claims, clock)
    }

    fn check_claims(
        &self,
        claims: &serde_json::Map<String, Value>,
        clock: Clock,
    ) -> Result<Verified, AuthError> {
        let settings = &self.settings;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let number = |name: &str| claims.get(name).and_then(Value::as_u64);
        if text("iss").map(|iss| iss.trim_end_matches('/'))
            != Some(settings.issuer.trim_end_matches('/'))
        {
            return Err(AuthError::WrongIssuer);
        }
        let token_use = text("token_use");
        if claims.contains_key("token_use") && !matches!(token_use, Some("id" | "access")) {
            return Err(AuthError::WrongTokenUse);
        }
        let audience_matches = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == settings.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&settings.audience)),
            // Cognito's access tokens carry the app client in `client_id`, not `aud`.
            None => text("client_id") == Some(settings.audience.as_str()),
            Some(_) => false,
        };
        if !audience_matches {
            return Err(AuthError::WrongAudience);
        }
        let exp = number("exp").ok_or(AuthError::MissingClaim("exp".into()))?;
        clock.check_lifetime(exp, number("nbf"))?;
        let customer = text(&settings.customer_claim)
            .and_then(|raw| CustomerId::parse(raw).ok())
            .ok_or(AuthError::BadSubject)?;
        Ok(Verified {
            customer,
            expires_at: exp,
        })
    }
}

/// The time a token is checked at, and how much skew and lifetime are tolerated.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Seconds since the epoch.
    pub now: u64,
    pub leeway: u64,
    pub max_lifetime: u64,
}

impl Clock {
    /// `exp`, `nbf` and the longest lifetime accepted, the same for every kind of token.
    pub fn check_lifetime(&self, exp: u64, nbf: Option<u64>) -> Result<(), AuthError> {
        if exp + self.leeway <= self.now {
            return Err(AuthError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > self.now + self.leeway) {
            return Err(AuthError::NotYetValid);
        }
        if exp > self.now + self.max_lifetime + self.leeway {
            return Err(AuthError::LifetimeTooLong(self.max_lifetime));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verifier() -> OidcVerifier {
        OidcVerifier::new(OidcSettings {
            issuer: "https://issuer.example/pool".into(),
            audience: "client-a".into(),
            jwks_url: Some(Url::parse("http://127.0.0.1:9/jwks.json").unwrap()),
            customer_claim: "sub".into(),
            client_id: "client-a".into(),
            scopes: DEFAULT_SCOPES.into(),
        })
    }

    const NOW: u64 = 1_800_000_000;

    fn clock() -> Clock {
        Clock {
            now: NOW,
            leeway: 30,
            max_lifetime: 86_400,
        }
    }

    fn check(claims: Value) -> Result<Verified, AuthError> {
        verifier().check_claims(claims.as_object().unwrap(), clock())
    }

    // The signature is checked against keys of a real provider in tests/oidc.rs; these are the
    // claim rules that follow it.
    #[test]
    fn each_claim_rule_fails_with_its_own_reason() {
        let good = json!({"iss": "https://issuer.example/pool", "aud": "client-a", "sub": "c-1",
                          "exp": NOW + 600, "token_use": "id"});
        assert_eq!(check(good.clone()).unwrap().customer.as_str(), "c-1");
        let with = |key: &str, value: Value| {
            let mut claims = good.clone();
            claims[key] = value;
            check(claims)
        };
        assert_eq!(
            with("iss", json!("https://other/pool")),
            Err(AuthError::WrongIssuer)
        );
        assert_eq!(
            with("aud", json!("client-b")),
            Err(AuthError::WrongAudience)
        );
        assert!(with("aud", json!(["x", "client-a"])).is_ok());
        assert_eq!(
            with("token_use", json!("refresh")),
            Err(AuthError::WrongTokenUse)
        );
        assert_eq!(with("exp", json!(NOW - 31)), Err(AuthError::Expired));
        assert_eq!(with("nbf", json!(NOW + 120)), Err(AuthError::NotYetValid));
        assert_eq!(
            with("exp", json!(NOW + 10 * 86_400)),
            Err(AuthError::LifetimeTooLong(86_400))
        );
        assert_eq!(
            with("sub", json!("not a customer id")),
            Err(AuthError::BadSubject)
        );
        let mut no_exp = good.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(check(no_exp), Err(AuthError::MissingClaim("exp".into())));
        // A Cognito access token names its app client in `client_id`.
        let access = json!({"iss": "https://issuer.example/pool", "client_id": "client-a",
                            "sub": "c-1", "exp": NOW + 600, "token_use": "access"});
        assert!(check(access.clone()).is_ok());
        let mut other_client = access;
        other_client["client_id"] = json!("client-b");
        assert_eq!(check(other_client), Err(AuthError::WrongAudience));
    }
}
