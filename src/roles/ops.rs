//! Operator endpoints: `/healthz`, `/readyz`, `/metrics` (Prometheus text), the operator
//! overview, and the development-only token endpoint of `onboard up`.

use crate::auth::{Authenticator, DEFAULT_TOKEN_TTL_SECS};
use crate::domain::ids::{ApplicationId, CustomerId};
use crate::ports::bus::{EventBus, TopicNames};
use crate::ports::store::Store;
use crate::roles::api::problem::{Problem, PROBLEM_CONTENT_TYPE};
use crate::roles::gateway::Gateway;
use crate::roles::notify::AlertBudget;
use crate::roles::supervisor::ReadinessBoard;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
pub struct OpsState {
    pub board: ReadinessBoard,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    pub gateway: Option<Arc<Gateway>>,
    pub group: String,
    pub topics: TopicNames,
    /// Set only where the development token endpoint is enabled (`onboard up`).
    pub auth: Option<Authenticator>,
    /// Bearer token the operator overview and `/metrics` require (the management token).
    pub management_token: String,
    /// Serve `/metrics` without the management token (`metrics.public`).
    pub metrics_public: bool,
    /// `/metrics` is served on a listener of its own (`metrics.listen`), not here.
    pub metrics_elsewhere: bool,
    /// The operator alerts sent and held back, shown in the overview.
    pub alerts: Arc<AlertBudget>,
}

pub fn router(state: OpsState) -> Router {
    // Installed before any role runs, so nothing they count is lost to the no-op recorder.
    crate::telemetry::install();
    let mut router = Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({"status": "alive"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/v1/ops/overview", get(overview))
        .route("/v1/ops/trace/{customer_id}", get(trace));
    if !state.metrics_elsewhere {
        router = router.route("/metrics", get(metrics));
    }
    if state.auth.is_some() {
        router = router.route("/dev/token", post(dev_token));
    }
    router.with_state(state)
}

/// How long `/readyz` waits for the store's ping before it reports the store down.
const READYZ_STORE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(state): State<OpsState>) -> Response {
    let (roles_ready, roles) = state.board.snapshot();
    // A store that hangs counts as down: a load balancer's probe must get an answer in time.
    let store_ok = matches!(
        tokio::time::timeout(READYZ_STORE_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    if roles_ready && store_ok {
        return Json(json!({"status": "ready", "roles": roles, "store": true})).into_response();
    }
    // Not ready: a problem+json answer (RFC 9457) whose extension members say what is down.
    let down: Vec<String> = roles
        .iter()
        .filter(|(_, ready)| !**ready)
        .map(|(role, _)| role.to_string())
        .chain((!store_ok).then(|| "store".to_string()))
        .collect();
    let problem = Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not-ready",
        format!("not ready: {}", down.join(", ")),
    );
    let mut body = serde_json::to_value(&problem).expect("problems serialize");
    body["roles"] = json!(roles);
    body["store"] = json!(store_ok);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, PROBLEM_CONTENT_TYPE)],
        body.to_string(),
    )
        .into_response()
}

/// The counters and gauges the roles keep (`crate::telemetry`): a scrape formats them and
/// queries nothing. Needs the management token unless `metrics.public` is set.
async fn metrics(State(state): State<OpsState>, headers: axum::http::HeaderMap) -> Response {
    if !state.metrics_public && !crate::auth::bearer_matches(&headers, &state.management_token) {
        return Problem::unauthorized(
            "/metrics needs the management token (or metrics.public = true)",
        )
        .into_response();
    }
    prometheus_text()
}

/// `/metrics` alone, without a token: for the listener of its own (`metrics.listen`) that only
/// the scraper's network reaches.
pub fn metrics_router() -> Router {
    crate::telemetry::install();
    Router::new().route("/metrics", get(|| async { prometheus_text() }))
}

fn prometheus_text() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::render(),
    )
        .into_response()
}

/// Recent events, open connections, lag and dead letters for the operator page.
async fn overview(State(state): State<OpsState>, headers: axum::http::HeaderMap) -> Response {
    if !crate::auth::bearer_matches(&headers, &state.management_token) {
        return Problem::unauthorized("the operator overview needs the management token")
            .into_response();
    }
    let now = chrono::Utc::now();
    let events = state.store.recent_events(50).await.unwrap_or_default();
    let connections = state
        .store
        .all_connections(now, 200)
        .await
        .unwrap_or_default();
    let lag = state
        .bus
        .describe_group(&state.group, &state.topics.all())
        .await
        .unwrap_or_default();
    let dead_letter_topics = state.topics.dead_letters();
    let dead_letters = state
        .bus
        .describe_topics(&dead_letter_topics)
        .await
        .unwrap_or_default();
    Json(json!({
        "recentEvents": events,
        "connections": connections.iter().map(|c| json!({
            "connectionId": c.connection_id, "customerId": c.customer_id, "nodeId": c.node_id,
            "connectedAt": c.connected_at, "lastSeenAt": c.last_seen_at, "expiresAt": c.expires_at,
        })).collect::<Vec<_>>(),
        "consumerLag": lag.iter().map(|l| json!({
            "topic": l.topic, "partition": l.partition, "committed": l.committed, "end": l.end, "lag": l.lag(),
        })).collect::<Vec<_>>(),
        "deadLetters": dead_letters.iter().map(|t| json!({
            "topic": t.name,
            "count": t.partitions.iter().map(|p| p.end_offset - p.start_offset).sum::<i64>(),
        })).collect::<Vec<_>>(),
        "operatorAlerts": state.alerts.counts(),
    }))
    .into_response()
}

/// Query of `GET /v1/ops/trace/{customerId}`.
#[derive(Debug, serde::Deserialize)]
struct TraceQuery {
    #[serde(rename = "applicationId")]
    application_id: Option<String>,
}

/// `GET /v1/ops/trace/{customerId}[?applicationId=…]`: the same JSON as `onboard trace --json`.
async fn trace(
    State(state): State<OpsState>,
    axum::extract::Path(raw): axum::extract::Path<String>,
    axum::extract::Query(query): axum::extract::Query<TraceQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !crate::auth::bearer_matches(&headers, &state.management_token) {
        return Problem::unauthorized("the trace needs the management token").into_response();
    }
    let customer = match CustomerId::parse(&raw) {
        Ok(customer) => customer,
        Err(reason) => {
            return Problem::validation(crate::domain::validation::ValidationErrors::single(
                "customerId",
                "invalid",
                reason,
            ))
            .into_response()
        }
    };
    let application = match query.application_id.as_deref().map(ApplicationId::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(reason)) => {
            return Problem::validation(crate::domain::validation::ValidationErrors::single(
                "applicationId",
                "invalid",
                reason,
            ))
            .into_response()
        }
    };
    match crate::roles::trace::customer_trace(
        state.store.as_ref(),
        &state.topics,
        &customer,
        application,
    )
    .await
    {
        Ok(trace) => Json(trace).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "Reading a customer's trace failed.");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "trace-unavailable",
                format!("the trace could not be read: {error}"),
            )
            .into_response()
        }
    }
}

/// `POST /dev/token` with `{"customerId": "…"}`: a token for development sign-in.
async fn dev_token(State(state): State<OpsState>, body: axum::body::Bytes) -> Response {
    let Some(auth) = &state.auth else {
        return Problem::not_found("no such endpoint").into_response();
    };
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let raw = value
        .get("customerId")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    match CustomerId::parse(raw) {
        Ok(customer) => Json(
            json!({"customerId": customer, "token": auth.issue(&customer, DEFAULT_TOKEN_TTL_SECS)}),
        )
        .into_response(),
        Err(reason) => Problem::validation(crate::domain::validation::ValidationErrors::single(
            "customerId",
            "invalid",
            reason,
        ))
        .into_response(),
    }
}
