//! Customer authentication: HS256 JWTs whose `sub` is the customer id, where the secret comes
//! from, and (with `auth.oidc`) tokens of an OpenID Connect provider ([`oidc`]).
//!
//! The secret comes from the configuration (`auth.jwt_secret`, `ONBOARD_JWT_SECRET` or their
//! `_FILE` forms), or `onboard up` generates it once into the data directory; it never appears on
//! a command line or in a log. A token's header names its algorithm: HS256 is checked with the
//! secret only, RS256 and ES256 with the provider's published keys only, so one kind of key can
//! never verify the other kind of token.

pub mod jwks;
pub mod oidc;

use crate::adapters::secret::Secret;
use crate::domain::ids::CustomerId;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use oidc::{Clock, OidcVerifier, PublicOidc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Name of the generated secret file inside the data directory.
pub const SECRET_FILE_NAME: &str = "jwt-secret";
/// Shortest secret accepted: HS256 needs at least 256 bits of key.
pub const MIN_SECRET_BYTES: usize = 32;
/// Lifetime of tokens minted by `onboard token` and the development token endpoint.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 12 * 3600;
/// Tokens whose `exp` lies further ahead are refused: a leaked long-lived token stays useful
/// for too long.
pub const DEFAULT_MAX_TOKEN_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(24 * 3600);

/// A signing secret that never prints.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(redacted)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes long")]
    TooShort,
    #[error("cannot read the JWT secret file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the JWT secret file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no JWT secret: set auth.jwt_secret (ONBOARD_JWT_SECRET or ONBOARD_JWT_SECRET_FILE), or run `onboard up` once to generate one in {0}")]
    Missing(PathBuf),
}

/// Where the secret comes from, in order of precedence; neither means the data directory's.
#[derive(Debug, Clone, Default)]
pub struct SecretSource {
    /// The configured secret (the configuration has already read it from its file, if any).
    pub inline: Option<Secret>,
    /// A file holding the secret, read when resolving.
    pub file: Option<PathBuf>,
}

impl SecretSource {
    /// Resolves the secret; with `generate`, creates `DATA_DIR/jwt-secret` (mode 0600) when no
    /// source is configured and the file does not exist yet.
    pub fn resolve(&self, data_dir: &Path, generate: bool) -> Result<JwtSecret, SecretError> {
        if let Some(inline) = &self.inline {
            return JwtSecret::new(inline.expose().trim().as_bytes().to_vec());
        }
        let path = self
            .file
            .clone()
            .unwrap_or_else(|| data_dir.join(SECRET_FILE_NAME));
        match std::fs::read_to_string(&path) {
            Ok(text) => JwtSecret::new(text.trim().as_bytes().to_vec()),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && generate && self.file.is_none() =>
            {
                generate_secret_file(&path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.file.is_none() => {
                Err(SecretError::Missing(data_dir.to_path_buf()))
            }
            Err(source) => Err(SecretError::Read { path, source }),
        }
    }
}

fn generate_secret_file(path: &Path) -> Result<JwtSecret, SecretError> {
    use rand::RngCore;
    let mut raw = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut raw);
    let text = hex::encode(raw);
    let write_err = |source| SecretError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(text.as_bytes()).map_err(write_err)?;
            file.sync_all().map_err(write_err)?;
            JwtSecret::new(text.into_bytes())
        }
        // Another process generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            JwtSecret::new(text.trim().as_bytes().to_vec())
        }
        Err(source) => Err(write_err(source)),
    }
}

impl JwtSecret {
    pub fn new(bytes: Vec<u8>) -> Result<Self, SecretError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort);
        }
        Ok(Self(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required")]
    Missing,
    #[error("the token is malformed or its signature is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token's lifetime exceeds the {0} seconds this server accepts")]
    LifetimeTooLong(u64),
    #[error("the token's customer claim is missing or not a valid customer id")]
    BadSubject,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued by an issuer this server does not trust (iss)")]
    WrongIssuer,
    #[error("the token was issued to another client (aud / client_id)")]
    WrongAudience,
    #[error("the token is neither an ID token nor an access token (token_use)")]
    WrongTokenUse,
    #[error("the token has no {0} claim")]
    MissingClaim(String),
    #[error("the token's algorithm {0} is not accepted (HS256 development tokens, RS256, ES256)")]
    UnsupportedAlgorithm(String),
    #[error(
        "the token is signed with a provider key, but this server trusts no OpenID Connect issuer"
    )]
    NoIssuerConfigured,
    #[error("the token was signed with a key the identity provider does not publish (kid)")]
    UnknownKey,
    #[error("the identity provider's signing keys cannot be fetched right now; retry later")]
    KeysUnavailable,
    #[error(
        "development tokens (HS256) are not accepted beside the OpenID Connect issuer outside \
         development; sign in with the identity provider"
    )]
    DevelopmentTokenRefused,
}

impl AuthError {
    /// The provider, not the client, is at fault: answered 503 rather than 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable)
    }
}

/// A verified token: whose it is, and until when it may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub customer: CustomerId,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
}

/// Signs and verifies customer tokens.
#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Seconds from now beyond which an `exp` is refused.
    max_lifetime_secs: u64,
    /// The OpenID Connect issuer whose tokens are accepted besides the secret's.
    oidc: Option<OidcVerifier>,
    /// Customer tokens signed with the secret are accepted even beside an issuer (development).
    development_tokens_beside_issuer: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    pub fn new(secret: &JwtSecret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
            max_lifetime_secs: DEFAULT_MAX_TOKEN_LIFETIME.as_secs(),
            oidc: None,
            development_tokens_beside_issuer: true,
        }
    }

    /// Whether customer tokens signed with the secret stay accepted once an issuer is
    /// configured: only in development (`onboard up` on loopback or `--dev`). Elsewhere anyone
    /// holding the secret (every node, every operator) could act as any customer, bypassing
    /// the identity provider. Without an issuer, development tokens are the only sign-in and
    /// stay accepted. The management token is not affected.
    pub fn with_development_tokens_beside_issuer(mut self, accepted: bool) -> Self {
        self.development_tokens_beside_issuer = accepted;
        self
    }

    /// The configured OpenID Connect issuer's verifier.
    pub fn oidc(&self) -> Option<&OidcVerifier> {
        self.oidc.as_ref()
    }

    /// Also accepts tokens of the OpenID Connect issuer `oidc` (RS256 or ES256).
    pub fn with_oidc(mut self, oidc: Option<OidcVerifier>) -> Self {
        self.oidc = oidc;
        self
    }

    /// What the web page needs to sign in with the issuer, when one is configured.
    pub fn public_oidc(&self) -> Option<PublicOidc> {
        self.oidc.as_ref().map(OidcVerifier::public)
    }

    /// Refuses tokens whose `exp` lies more than `max` ahead (default 24 hours).
    pub fn with_max_lifetime(mut self, max: std::time::Duration) -> Self {
        self.max_lifetime_secs = max.as_secs();
        self
    }

    /// A token for `customer` valid for `ttl_secs`.
    pub fn issue(&self, customer: &CustomerId, ttl_secs: u64) -> String {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: customer.as_str().to_owned(),
            iat: now,
            exp: now + ttl_secs,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// The customer and expiry of any accepted token: a development token (HS256, the secret)
    /// or one of the configured issuer (RS256, ES256, its published keys).
    pub async fn authenticate(&self, token: &str) -> Result<Verified, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        match header.alg {
            Algorithm::HS256 => self.verify_development(token),
            Algorithm::RS256 | Algorithm::ES256 => {
                let oidc = self.oidc.as_ref().ok_or(AuthError::NoIssuerConfigured)?;
                oidc.verify(token, header.alg, header.kid.as_deref(), self.clock())
                    .await
            }
            other => Err(AuthError::UnsupportedAlgorithm(format!("{other:?}"))),
        }
    }

    /// [`Self::authenticate`] for an `Authorization` header value of the form `Bearer TOKEN`.
    pub async fn authenticate_bearer(&self, header: Option<&str>) -> Result<Verified, AuthError> {
        self.authenticate(bearer_token(header)?).await
    }

    fn clock(&self) -> Clock {
        Clock {
            now: chrono::Utc::now().timestamp().max(0) as u64,
            leeway: self.validation.leeway,
            max_lifetime: self.max_lifetime_secs,
        }
    }

    /// The customer a development token (HS256, signed with the secret) was issued to.
    pub fn verify(&self, token: &str) -> Result<CustomerId, AuthError> {
        self.verify_development(token).map(|v| v.customer)
    }

    fn verify_development(&self, token: &str) -> Result<Verified, AuthError> {
        if self.oidc.is_some() && !self.development_tokens_beside_issuer {
            return Err(AuthError::DevelopmentTokenRefused);
        }
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                    _ => AuthError::Invalid,
                }
            })?;
        // The leeway absorbs clock skew between the issuer and this server.
        self.clock().check_lifetime(data.claims.exp, None)?;
        Ok(Verified {
            customer: CustomerId::parse(&data.claims.sub).map_err(|_| AuthError::BadSubject)?,
            expires_at: data.claims.exp,
        })
    }

    /// Verifies a development token in an `Authorization` header value `Bearer TOKEN`.
    pub fn verify_bearer(&self, header: Option<&str>) -> Result<CustomerId, AuthError> {
        self.verify(bearer_token(header)?)
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value.
fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or(AuthError::Invalid)
}

/// The bearer token of the gateway management API, derived from the JWT secret so every node
/// that shares the secret can call every other node without another secret to distribute.
pub fn management_token(secret: &JwtSecret) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.expose()).expect("HMAC takes any key length");
    mac.update(b"onboard management api v1");
    hex::encode(mac.finalize().into_bytes())
}

/// Whether the request's `Authorization: Bearer …` equals `expected`, compared in constant time.
pub fn bearer_matches(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    presented.len() == expected.len()
        && presented
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(secret: &str) -> Authenticator {
        Authenticator::new(&JwtSecret::new(secret.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn a_token_verifies_only_with_its_own_secret() {
        let a = auth("a-secret-that-is-long-enough-for-hs256!!");
        let b = auth("another-secret-that-is-long-enough-too!!");
        let customer = CustomerId::parse("test-customer-123").unwrap();
        let token = a.issue(&customer, 60);
        assert_eq!(a.verify(&token).unwrap(), customer);
        assert_eq!(b.verify(&token), Err(AuthError::Invalid));
        assert_eq!(
            a.verify_bearer(Some(&format!("Bearer {token}"))).unwrap(),
            customer
        );
        assert_eq!(a.verify_bearer(None), Err(AuthError::Missing));
        assert_eq!(a.verify("garbage"), Err(AuthError::Invalid));
    }

    #[test]
    fn a_token_living_longer_than_the_maximum_is_refused() {
        let a = auth("a-secret-that-is-long-enough-for-hs256!!")
            .with_max_lifetime(std::time::Duration::from_secs(3600));
        let customer = CustomerId::parse("test-customer-123").unwrap();
        assert_eq!(a.verify(&a.issue(&customer, 3000)).unwrap(), customer);
        assert_eq!(
            a.verify(&a.issue(&customer, 7200)),
            Err(AuthError::LifetimeTooLong(3600))
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            JwtSecret::new(b"short".to_vec()),
            Err(SecretError::TooShort)
        ));
    }

    #[test]
    fn a_generated_secret_is_reused_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let source = SecretSource::default();
        assert!(matches!(
            source.resolve(dir.path(), false),
            Err(SecretError::Missing(_))
        ));
        let first = source.resolve(dir.path(), true).unwrap();
        let second = source.resolve(dir.path(), false).unwrap();
        assert_eq!(first.expose(), second.expose());
    }
}
