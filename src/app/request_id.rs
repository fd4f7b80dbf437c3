//! The request id at the HTTP edge: a sane `X-Request-Id` from the client (or, as before,
//! `X-Correlation-Id`) is kept, anything else is replaced by a new UUIDv7. The id becomes the
//! correlation id of every event the request produces, is echoed in the answer's `X-Request-Id`
//! and in a problem+json body's `requestId`, and every log line written while the request is
//! handled carries it (an info span with a `correlation_id` field).

use crate::roles::api::problem::PROBLEM_CONTENT_TYPE;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
const CORRELATION_ID_HEADER: &str = "x-correlation-id";

/// The longest request id kept from a client.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// Problem bodies are one sentence and a few fields; a larger one is passed through unchanged.
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// The id of the request being handled, as a request extension for handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a client's id may be kept: 1 to 64 letters, digits, `-` or `_` (it ends up in logs,
/// headers and events, so nothing that could break a line or a header).
pub fn is_sane(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_REQUEST_ID_LEN
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The client's sane `X-Request-Id`, else its sane `X-Correlation-Id`, else a new UUIDv7.
pub fn from_headers(headers: &HeaderMap) -> String {
    [REQUEST_ID_HEADER.as_str(), CORRELATION_ID_HEADER]
        .into_iter()
        .filter_map(|name| headers.get(name)?.to_str().ok())
        .find(|raw| is_sane(raw))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The middleware: gives the request its id, runs it in a span carrying the id, and echoes it.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = from_headers(request.headers());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", correlation_id = %id);
    let response = next.run(request).instrument(span).await;
    echo(response, &id).await
}

async fn echo(mut response: Response, id: &str) -> Response {
    let value = HeaderValue::from_str(id).expect("a sane request id is a valid header value");
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return Response::from_parts(parts, axum::body::Body::empty()),
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem.insert("requestId".into(), id.into());
            parts.headers.remove(header::CONTENT_LENGTH);
            serde_json::to_vec(&problem).expect("a JSON object serializes")
        }
        _ => bytes.to_vec(),
    };
    Response::from_parts(parts, axum::body::Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_sane_client_id_is_kept_and_the_request_id_wins_over_the_correlation_id() {
        assert_eq!(
            from_headers(&headers(&[("x-request-id", "req-1_A")])),
            "req-1_A"
        );
        assert_eq!(
            from_headers(&headers(&[
                ("x-correlation-id", "corr-1"),
                ("x-request-id", "req-2")
            ])),
            "req-2"
        );
        assert_eq!(
            from_headers(&headers(&[("x-correlation-id", "corr-1")])),
            "corr-1"
        );
    }

    #[test]
    fn an_id_that_could_break_a_log_line_or_is_too_long_is_replaced() {
        for bad in [
            "",
            "a b",
            "a\"b",
            "x;y",
            &"x".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            let id = from_headers(&headers(&[("x-request-id", bad)]));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id} is not a new UUID");
        }
        assert!(is_sane(&"x".repeat(MAX_REQUEST_ID_LEN)));
    }
}
