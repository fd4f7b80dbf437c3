//! The identity provider's signing keys: found through OpenID Connect discovery (or a configured
//! JWKS URL), cached, and fetched again when a token names a key we do not know, at most once
//! per [`MIN_REFRESH_INTERVAL`] so a stream of made-up `kid`s cannot turn us into a flood
//! against the provider.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use std::time::Duration;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

/// Shortest time between two fetches of the key set.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again on next use (providers rotate keys).
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// A discovery document or key set larger than this is refused.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the key set is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `{issuer}/.well-known/openid-configuration`'s `jwks_uri`, falling back to
    /// `{issuer}/.well-known/jwks.json`.
    Discovery { issuer: String },
    /// A configured JWKS URL.
    Url(Url),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeysError {
    /// The provider could not be reached or answered something that is not a key set.
    #[error("the identity provider's keys cannot be fetched: {0}")]
    Unavailable(String),
    /// The key set is fresh and does not hold the token's key.
    #[error("the token was signed with a key the identity provider does not publish")]
    UnknownKey,
}

/// One usable verification key, checked against the algorithm it may verify.
#[derive(Clone)]
struct VerificationKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct Cached {
    keys: Vec<VerificationKey>,
    /// When the keys in hand were fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, successful or not (the rate limit).
    attempted_at: Option<Instant>,
    /// The `jwks_uri` discovery found, so it is not asked again on every refresh.
    jwks_url: Option<Url>,
}

/// The cached key set of one issuer.
pub struct KeyCache {
    source: KeySource,
    http: reqwest::Client,
    cached: RwLock<Cached>,
    /// One fetch at a time: concurrent requests with an unknown `kid` wait for it.
    fetching: Mutex<()>,
    min_refresh: Duration,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    pub fn new(source: KeySource) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .expect("an HTTP client without custom TLS builds");
        Self {
            source,
            http,
            cached: RwLock::new(Cached::default()),
            fetching: Mutex::new(()),
            min_refresh: MIN_REFRESH_INTERVAL,
        }
    }

    /// The key that verifies a token with header `kid` and `algorithm`, fetching the set when
    /// it is missing, old, or lacks the key (rate-limited).
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<DecodingKey, KeysError> {
        {
            let cached = self.cached.read().await;
            if !is_stale(&cached) {
                if let Some(key) = find(&cached.keys, kid, algorithm) {
                    return Ok(key);
                }
            }
        }
        // One fetch at a time; requests whose key is in hand keep being served meanwhile.
        let _one_fetch = self.fetching.lock().await;
        let (found, jwks_url) = {
            let mut cached = self.cached.write().await;
            let found = find(&cached.keys, kid, algorithm);
            if let (Some(key), false) = (&found, is_stale(&cached)) {
                return Ok(key.clone()); // another request refreshed it while we waited
            }
            let may_fetch = cached
                .attempted_at
                .is_none_or(|at| at.elapsed() >= self.min_refresh);
            if !may_fetch {
                return match (found, cached.fetched_at) {
                    (Some(key), _) => Ok(key),
                    (None, Some(_)) => Err(KeysError::UnknownKey),
                    (None, None) => Err(KeysError::Unavailable(
                        "the last attempt failed moments ago".into(),
                    )),
                };
            }
            cached.attempted_at = Some(Instant::now());
            (found, cached.jwks_url.clone())
        };
        match self.fetch(jwks_url).await {
            Ok((keys, url)) => {
                let mut cached = self.cached.write().await;
                cached.keys = keys;
                cached.fetched_at = Some(Instant::now());
                cached.jwks_url = Some(url);
                find(&cached.keys, kid, algorithm).ok_or(KeysError::UnknownKey)
            }
            Err(reason) => {
                tracing::warn!(source = ?self.source, reason = %reason, "Fetching the identity provider's keys failed.");
                // Keys we already had stay good until the provider answers again.
                found.ok_or(KeysError::Unavailable(reason))
            }
        }
    }

    /// Fetches the key set now, whatever is cached (`onboard doctor`): where it was found and
    /// how many signing keys it holds.
    pub async fn probe(&self) -> Result<(Url, usize), String> {
        self.fetch(None).await.map(|(keys, url)| (url, keys.len()))
    }

    /// The key set, from `known` (the JWKS URL found before) or the configured source.
    async fn fetch(&self, known: Option<Url>) -> Result<(Vec<VerificationKey>, Url), String> {
        let url = match (&self.source, known) {
            (KeySource::Url(url), _) => url.clone(),
            (KeySource::Discovery { .. }, Some(url)) => url,
            (KeySource::Discovery { issuer }, None) => self.discover(issuer).await?,
        };
        let document = self.get_json(&url).await?;
        let keys = parse_key_set(&document);
        if keys.is_empty() {
            return Err(format!("{url} holds no RS256 or ES256 signing key"));
        }
        tracing::info!(url = %url, keys = keys.len(), "Fetched the identity provider's signing keys.");
        Ok((keys, url))
    }

    /// The JWKS URL of `issuer`: its discovery document's `jwks_uri`, or the conventional
    /// `/.well-known/jwks.json` when there is no discovery document.
    async fn discover(&self, issuer: &str) -> Result<Url, String> {
        let base = issuer.trim_end_matches('/');
        let discovery = format!("{base}/.well-known/openid-configuration");
        let fallback = format!("{base}/.well-known/jwks.json");
        let parse = |raw: &str| Url::parse(raw).map_err(|e| format!("{raw}: {e}"));
        match self.get_json(&parse(&discovery)?).await {
            Ok(document) => {
                let named = document.get("issuer").and_then(|v| v.as_str());
                if named.is_some_and(|named| named.trim_end_matches('/') != base) {
                    return Err(format!(
                        "{discovery} names another issuer ({})",
                        named.unwrap_or_default()
                    ));
                }
                match document.get("jwks_uri").and_then(|v| v.as_str()) {
                    Some(uri) => parse(uri),
                    None => Err(format!("{discovery} has no jwks_uri")),
                }
            }
            Err(reason) => {
                tracing::info!(reason = %reason, "No OpenID Connect discovery document; trying {fallback}.");
                parse(&fallback)
            }
        }
    }

    /// A JSON document of the provider (its discovery document), under the same size and time
    /// limits as the key set.
    pub async fn provider_document(&self, url: &Url) -> Result<serde_json::Value, String> {
        self.get_json(url).await
    }

    async fn get_json(&self, url: &Url) -> Result<serde_json::Value, String> {
        let response = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!(
                "{url} answered more than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "{url} answered more than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))
    }
}

fn is_stale(cached: &Cached) -> bool {
    cached
        .fetched_at
        .is_none_or(|at| at.elapsed() >= MAX_KEY_AGE)
}

/// The key named `kid` (any key of the right kind when the token names none) for `algorithm`.
fn find(keys: &[VerificationKey], kid: Option<&str>, algorithm: Algorithm) -> Option<DecodingKey> {
    keys.iter()
        .filter(|k| k.algorithm == algorithm)
        .find(|k| kid.is_none() || k.kid.as_deref() == kid)
        .map(|k| k.key.clone())
}

/// The signature keys of a JWKS document that can verify RS256 or ES256; a key of another
/// kind (symmetric, encryption, other curves) is skipped, so it can never verify a token.
fn parse_key_set(document: &serde_json::Value) -> Vec<VerificationKey> {
    let Some(keys) = document.get("keys").and_then(|k| k.as_array()) else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|raw| serde_json::from_value::<Jwk>(raw.clone()).ok())
        .filter_map(|jwk| {
            if matches!(
                jwk.common.public_key_use,
                Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
            ) {
                return None;
            }
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => return None,
            };
            // A key that says which algorithm it is for is used for that one only.
            let declared_matches = match jwk.common.key_algorithm {
                None => true,
                Some(declared) => matches!(
                    (declared, algorithm),
                    (KeyAlgorithm::RS256, Algorithm::RS256)
                        | (KeyAlgorithm::ES256, Algorithm::ES256)
                ),
            };
            if !declared_matches {
                return None;
            }
            Some(VerificationKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key: DecodingKey::from_jwk(&jwk).ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_rsa_and_p256_signature_keys_are_kept() {
        let document = json!({"keys": [
            {"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "sXch", "e": "AQAB"},
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "weird"}
        ]});
        let keys = parse_key_set(&document);
        let kinds: Vec<_> = keys
            .iter()
            .map(|k| (k.kid.clone().unwrap(), k.algorithm))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("r".into(), Algorithm::RS256),
                ("e".into(), Algorithm::ES256)
            ]
        );
        assert!(find(&keys, Some("r"), Algorithm::ES256).is_none());
        assert!(find(&keys, Some("h"), Algorithm::HS256).is_none());
        assert!(find(&keys, None, Algorithm::ES256).is_some());
    }

    /// A JWKS endpoint on a free port that counts how often it is asked.
    async fn counting_jwks(path: &str) -> (Url, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hits = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let keys = json!({"keys": [{"kty": "EC", "kid": "e", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
        let app = axum::Router::new().route(
            path,
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let keys = keys.clone();
                async move { axum::Json(keys) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (Url::parse(&format!("http://{addr}{path}")).unwrap(), hits)
    }

    #[tokio::test]
    async fn unknown_kids_fetch_the_keys_again_at_most_once_per_interval() {
        use std::sync::atomic::Ordering;
        let (url, hits) = counting_jwks("/jwks.json").await;
        let cache = KeyCache::new(KeySource::Url(url));
        assert!(cache.key_for(Some("e"), Algorithm::ES256).await.is_ok());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // Known keys come from the cache; a flood of made-up kids costs one fetch at most.
        assert!(cache.key_for(Some("e"), Algorithm::ES256).await.is_ok());
        for n in 0..20 {
            let kid = format!("made-up-{n}");
            assert_eq!(
                cache.key_for(Some(&kid), Algorithm::ES256).await.err(),
                Some(KeysError::UnknownKey)
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "still within the interval");
        // Once the interval has passed, an unknown kid may fetch again.
        cache.cached.write().await.attempted_at = Some(Instant::now() - MIN_REFRESH_INTERVAL);
        assert_eq!(
            cache.key_for(Some("rotated"), Algorithm::ES256).await.err(),
            Some(KeysError::UnknownKey)
        );
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_issuer_without_a_discovery_document_is_read_from_its_well_known_jwks() {
        let (url, hits) = counting_jwks("/.well-known/jwks.json").await;
        let issuer = url
            .as_str()
            .trim_end_matches("/.well-known/jwks.json")
            .to_owned();
        let cache = KeyCache::new(KeySource::Discovery { issuer });
        let found = cache.key_for(Some("e"), Algorithm::ES256).await;
        assert!(found.is_ok(), "{:?}", found.err());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
