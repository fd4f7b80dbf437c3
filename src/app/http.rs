//! The HTTP edge every role shares: the layers every answer passes through (problem+json for
//! every error, security headers, a trace span without the query string) and the server loop
//! that closes connections whose headers do not arrive in time, ends requests that take too
//! long (408) and closes idle keep-alive connections.

mod activity;

use crate::roles::api::problem::{Problem, PROBLEM_CONTENT_TYPE};
use crate::roles::supervisor::Readiness;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnFailure, OnFailure, TraceLayer};
use tracing::Span;

/// Paths load balancers and orchestrators poll every few seconds. Their requests get no span
/// and their 5xx answers no log line: a `/readyz` 503 while a process starts or drains is the
/// answer working as meant, not a failure for on-call to read each time.
const PROBE_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Self only. Angular injects its component styles as `<style>` elements at run time, so styles
/// alone may be inline; scripts, frames, forms and everything else stay on this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The largest error body a handler or the framework writes that is kept as a problem's
/// detail; longer ones are cut (the framework's rejections are one sentence).
const MAX_DETAIL_BYTES: usize = 1024;

/// How long a closing server waits for connections in flight before dropping them.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// How the server treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// A connection that has not sent a request's whole head within this time is closed; an idle
    /// keep-alive connection waiting for its next request counts as reading a head.
    pub header_read_timeout: Duration,
    /// A request not answered within this time from its head (a body that trickles in, a
    /// handler that hangs) is answered 408 and its connection closed.
    pub request_timeout: Duration,
    /// A keep-alive connection with no request in flight and no traffic for this long is closed
    /// (at most `header_read_timeout`, whose clock also runs while a connection waits).
    pub idle_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// The security headers every answer carries unless its handler set its own (the page's CSP).
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// `router` with the layers every answer of the process passes through.
pub fn edge_layers(router: Router) -> Router {
    let mut router = router.layer(axum::middleware::map_response(problem_for_every_error));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(log_failure_but_of_probes()),
        )
        // Outermost: every span and answer below already knows the request's id.
        .layer(axum::middleware::from_fn(super::request_id::assign))
}

/// A request's span: its path without the query string (the default span logs the whole URI,
/// and the WebSocket's carries `token=`); none for a probe.
fn request_span(request: &Request) -> Span {
    if PROBE_PATHS.contains(&request.uri().path()) {
        return Span::none();
    }
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

/// tower-http's failure log (ERROR for a 5xx), except for probes (they have no span).
fn log_failure_but_of_probes() -> impl OnFailure<ServerErrorsFailureClass> + Clone {
    let mut default = DefaultOnFailure::new();
    move |failure: ServerErrorsFailureClass, latency: Duration, span: &Span| {
        if !span.is_none() {
            default.on_failure(failure, latency, span);
        }
    }
}

/// Turns an error answer that is not problem+json (the framework's 404, 405 and 413, extractor
/// rejections, a plain-text handler error) into one, keeping its status, its headers (`Allow`,
/// `Retry-After`) and its text as the detail.
async fn problem_for_every_error(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
    if is_problem || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_DETAIL_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let (code, fallback) = code_of(status);
    let detail = if text.is_empty() || status.is_server_error() {
        fallback.to_owned()
    } else {
        text
    };
    let mut answer = Problem::new(status, code, detail).into_response();
    for (name, value) in &parts.headers {
        if !answer.headers().contains_key(name)
            && name != header::CONTENT_LENGTH
            && name != header::CONTENT_TYPE
        {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// The problem code of a status, and the detail when the answer had no text of its own.
fn code_of(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("not-found", "nothing is served at this path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method-not-allowed",
            "this path does not accept this method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported-media-type",
            "the request body has the wrong content type",
        ),
        StatusCode::BAD_REQUEST => ("bad-request", "the request could not be read"),
        StatusCode::REQUEST_TIMEOUT => ("request-timeout", "the request took too long"),
        StatusCode::UNPROCESSABLE_ENTITY => ("unprocessable", "the request body is not valid"),
        s if s.is_server_error() => ("internal-error", "an internal error occurred"),
        _ => ("request-refused", "the request was refused"),
    }
}

/// Serves `router` on `listener` until `stop`, then lets connections in flight finish (for at
/// most [`DRAIN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: HttpSettings,
    ready: Readiness,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // HTTP/1 only: detecting HTTP/2 waits for the client's first bytes without a deadline, so a
    // client that connects and sends nothing would never be closed. Browsers speak HTTP/2 only
    // over TLS, which a proxy in front terminates.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let connections = TaskTracker::new();
    ready.set(true);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "Accepting a connection failed; retrying shortly.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let activity = activity::Activity::new();
        let service = request_service(
            router.clone(),
            peer,
            settings.request_timeout,
            activity.clone(),
        );
        let connection = builder
            .serve_connection_with_upgrades(
                TokioIo::new(activity::Watched::new(stream, activity.clone())),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let stop = stop.clone();
        let idle_timeout = settings.idle_timeout;
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            loop {
                let idle = async {
                    match activity.idle_deadline(idle_timeout) {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        // Busy: look again once the request could have ended.
                        None => tokio::time::sleep(idle_timeout).await,
                    }
                };
                tokio::select! {
                    result = connection.as_mut() => return log_end(result),
                    () = stop.cancelled() => break,
                    () = idle => {
                        let expired = activity
                            .idle_deadline(idle_timeout)
                            .is_some_and(|deadline| deadline <= tokio::time::Instant::now());
                        if expired {
                            break;
                        }
                    }
                }
            }
            // Closes at once when no request is in flight, else after its answer.
            connection.as_mut().graceful_shutdown();
            log_end(connection.await);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("Connections were still open after the drain grace; closing them.");
    }
    Ok(())
}

/// The router as one connection's service: each request carries its peer address, counts as in
/// flight until answered, and is answered 408 (closing the connection) after `timeout`.
fn request_service(
    router: Router,
    peer: std::net::SocketAddr,
    timeout: Duration,
    activity: std::sync::Arc<activity::Activity>,
) -> impl tower::Service<
    Request<hyper::body::Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |mut request: Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = router.clone().oneshot(request.map(axum::body::Body::new));
        let in_flight = activity.request();
        async move {
            let answer = tokio::time::timeout(timeout, answer).await;
            drop(in_flight);
            answer.unwrap_or_else(|_| Ok(request_timed_out(timeout)))
        }
    })
}

/// The 408 of a request that took longer than `timeout`; the connection closes after it, since
/// the rest of its body may still be on the way.
fn request_timed_out(timeout: Duration) -> Response {
    tracing::info!(
        timeout_seconds = timeout.as_secs(),
        "A request was not answered in time; closing its connection."
    );
    let mut answer = Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        format!(
            "the request was not received and answered within {} s",
            timeout.as_secs()
        ),
    )
    .into_response();
    // Answered outside the router's layers (the router's future was dropped), so the security
    // headers are set here.
    let headers = answer.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}

fn log_end(result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(error) = result {
        tracing::debug!(%error, "A connection ended with an error.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::sync::{Arc, Mutex};

    /// Log lines written while the test runs.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn status_of(router: &Router, path: &str) -> StatusCode {
        let request = Request::builder().uri(path).body(axum::body::Body::empty());
        router
            .clone()
            .oneshot(request.unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn a_failing_answer_is_logged_as_an_error_but_a_probes_503_is_not() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let router = edge_layers(
            Router::new()
                .route("/readyz", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
                .route(
                    "/healthz",
                    get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
                )
                .route(
                    "/v1/broken",
                    get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
                ),
        );
        assert_eq!(status_of(&router, "/readyz").await, 503);
        assert_eq!(status_of(&router, "/healthz").await, 503);
        let probes = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            !probes.contains("ERROR"),
            "a probe's 503 was logged: {probes}"
        );
        assert_eq!(status_of(&router, "/v1/broken").await, 500);
        let all = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            all.lines()
                .any(|line| line.contains("ERROR") && line.contains("/v1/broken")),
            "the 500 was not logged as an error with its path: {all}"
        );
    }
}
