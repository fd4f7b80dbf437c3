//! RFC 9457 problem details: the one shape every HTTP error of Onboard takes.

use crate::domain::validation::{FieldError, ValidationErrors};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem+json body. `errors` names each invalid field.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// A stable machine-readable code, also the last segment of `type`.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:onboard:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: ValidationErrors) -> Self {
        self.errors = errors.0;
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 422 naming every invalid field.
    pub fn validation(errors: ValidationErrors) -> Self {
        let detail = format!(
            "{} invalid field(s): {}",
            errors.0.len(),
            errors.field_names().join(", ")
        );
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation-error", detail).with_errors(errors)
    }

    /// 400 for a request that could not be read at all (bad JSON, wrong content type, bad header).
    pub fn bad_request(code: &str, field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::new(StatusCode::BAD_REQUEST, code, detail.clone())
            .with_errors(ValidationErrors::single(field, code, detail))
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 500/503 without internals; the cause is logged where it happened.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a dependency is temporarily unavailable; retry shortly",
        )
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("problems serialize")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status_code(), self.to_body()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if self.status == 401 {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<crate::ports::store::StoreError> for Problem {
    fn from(error: crate::ports::store::StoreError) -> Self {
        use crate::ports::store::StoreError;
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %error, "The store is unavailable; answering 503.");
                Problem::unavailable()
            }
            StoreError::Conflict(_) => {
                tracing::warn!(error = %error, "A concurrent write conflicted; answering 409.");
                Problem::conflict(
                    "concurrent-update",
                    "a concurrent request changed the same data; retry",
                )
            }
            _ => {
                tracing::error!(error = %error, "A store operation failed; answering 500.");
                Problem::internal()
            }
        }
    }
}
