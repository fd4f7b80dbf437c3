//! Request extractors: the authenticated customer, the idempotency key, the head every step
//! opens with ([`StepHead`]), the correlation id and JSON bodies.

use super::problem::Problem;
use super::state::ApiState;
use crate::auth::AuthError;
use crate::domain::ids::{ApplicationId, CustomerId};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use bytes::Bytes;

/// The customer named by a valid bearer token.
#[derive(Debug, Clone)]
pub struct Customer(pub CustomerId);

/// The customer an API Gateway authorizer vouched for (`requestContext.authorizer.claims.sub`
/// or `…jwt.claims.sub`), put on the request by the Lambda role (`roles::lambda`).
///
/// Only code can put an extension on a request (no header or body becomes one), and the
/// extractor honours it only when the API is served behind API Gateway
/// ([`super::ApiContext::trust_gateway_identity`]); the HTTP server never is, so it keeps
/// requiring a bearer token.
#[derive(Debug, Clone)]
pub struct GatewayIdentity(pub CustomerId);

impl FromRequestParts<ApiState> for Customer {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_gateway_identity {
            return parts
                .extensions
                .get::<GatewayIdentity>()
                .map(|identity| Customer(identity.0.clone()))
                .ok_or_else(|| auth_problem(AuthError::Missing));
        }
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        state
            .auth
            .authenticate_bearer(header)
            .await
            .map(|verified| Customer(verified.customer))
            .map_err(auth_problem)
    }
}

/// 401 naming why the token was refused (never echoing it); 503 when the identity provider's
/// keys cannot be fetched, which is not the client's fault.
pub fn auth_problem(error: AuthError) -> Problem {
    if error.is_unavailable() {
        return Problem::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "identity-provider-unavailable",
            error.to_string(),
        );
    }
    Problem::unauthorized(error.to_string())
}

/// The `Idempotency-Key` header, validated; extract it as `Option<IdempotencyKey>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Problem> {
        Self::from_headers(&parts.headers)
    }
}

/// What every producer step opens with, in the order it is checked: the customer (401), the
/// application named by the path's `{id}` if the route has one (404), the idempotency key
/// (400), and the correlation id.
#[derive(Debug, Clone)]
pub struct StepHead {
    pub method: Method,
    pub customer: CustomerId,
    pub application_id: Option<ApplicationId>,
    pub idempotency_key: Option<IdempotencyKey>,
    pub correlation_id: String,
}

impl FromRequestParts<ApiState> for StepHead {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let Customer(customer) = Customer::from_request_parts(parts, state).await?;
        let application_id = application_in_path(parts, state).await?;
        let idempotency_key = Option::<IdempotencyKey>::from_request_parts(parts, state).await?;
        Ok(Self {
            method: parts.method.clone(),
            customer,
            application_id,
            idempotency_key,
            // The edge's request id (`app::request_id`); the Lambda proxy has no edge layers.
            correlation_id: parts
                .extensions
                .get::<crate::app::request_id::RequestId>()
                .map(|id| id.0.clone())
                .unwrap_or_else(|| crate::app::request_id::from_headers(&parts.headers)),
        })
    }
}

/// The `{id}` of an application route; an id that cannot exist is answered like an unknown one.
async fn application_in_path(
    parts: &mut Parts,
    state: &ApiState,
) -> Result<Option<ApplicationId>, Problem> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| Problem::not_found("this application does not exist"))?;
    let Some((_, raw)) = params.iter().find(|(name, _)| *name == "id") else {
        return Ok(None);
    };
    ApplicationId::parse(raw)
        .map(Some)
        .map_err(|_| Problem::not_found(format!("application {raw} does not exist")))
}

impl IdempotencyKey {
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Problem> {
        let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
            return Ok(None);
        };
        let text = value.to_str().unwrap_or("");
        if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::bad_request(
                "invalid-idempotency-key",
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Some(Self(text.to_owned())))
    }
}

/// Parses a JSON body into a value; the domain parsers then report field by field.
/// An empty body is treated as `{}` only when `empty_ok`.
pub fn json_body(
    headers: &HeaderMap,
    body: &Bytes,
    empty_ok: bool,
) -> Result<serde_json::Value, Problem> {
    if body.is_empty() || body.iter().all(u8::is_ascii_whitespace) {
        if empty_ok {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        return Err(Problem::bad_request(
            "missing-body",
            "body",
            "a JSON body is required",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(Problem::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be JSON sent with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request(
            "malformed-json",
            "body",
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}
