//! The operator page's actions over HTTP, behind the management token: the stalled
//! applications (`GET /v1/ops/stalls`), the dead-lettered records (`GET /v1/ops/dead-letters`)
//! and their replay (`POST /v1/ops/dead-letters/replay`). Errors are problem+json naming the
//! failing fields. The logic is `roles::stalls` and `roles::dead_letters`, shared with the CLI.

use crate::domain::validation::ValidationErrors;
use crate::ports::bus::{EventBus, TopicNames};
use crate::ports::store::Store;
use crate::roles::api::problem::Problem;
use crate::roles::dead_letters::{DeadLetterError, DeadLetters, ReplayOutcome, DEFAULT_LIST_LIMIT};
use crate::roles::stalls::StallMonitor;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Records one replay request may name.
const MAX_REPLAY_IDS: usize = 100;

#[derive(Clone)]
pub struct OperatorApiState {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    pub topics: TopicNames,
    pub stalls: StallMonitor,
    pub management_token: String,
}

pub fn router(state: OperatorApiState) -> Router {
    Router::new()
        .route("/v1/ops/stalls", get(stalls))
        .route("/v1/ops/dead-letters", get(dead_letters))
        .route("/v1/ops/dead-letters/replay", post(replay))
        .with_state(state)
}

fn authorized(state: &OperatorApiState, headers: &HeaderMap) -> Result<(), Response> {
    if crate::auth::bearer_matches(headers, &state.management_token) {
        Ok(())
    } else {
        Err(
            Problem::unauthorized("the operator endpoints need the management token")
                .into_response(),
        )
    }
}

impl OperatorApiState {
    fn dead_letters(&self) -> DeadLetters<'_> {
        DeadLetters {
            bus: self.bus.as_ref(),
            store: self.store.as_ref(),
            topics: &self.topics,
        }
    }
}

async fn stalls(State(state): State<OperatorApiState>, headers: HeaderMap) -> Response {
    if let Err(denied) = authorized(&state, &headers) {
        return denied;
    }
    match state.stalls.stalled(chrono::Utc::now()).await {
        Ok(stalled) => Json(json!({"stalled": stalled})).into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "Listing stalled applications failed.");
            Problem::unavailable().into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn dead_letters(
    State(state): State<OperatorApiState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(denied) = authorized(&state, &headers) {
        return denied;
    }
    let limit = match query {
        Ok(Query(ListQuery { limit: None })) => DEFAULT_LIST_LIMIT,
        Ok(Query(ListQuery { limit: Some(n) })) if (1..=10_000).contains(&n) => n,
        _ => {
            return Problem::bad_request(
                "invalid-query",
                "limit",
                "limit must be a whole number from 1 to 10000",
            )
            .into_response()
        }
    };
    match state.dead_letters().list(limit).await {
        Ok(listed) => Json(json!({"deadLetters": listed})).into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "Listing dead letters failed.");
            Problem::unavailable().into_response()
        }
    }
}

/// `{"ids": [...], "reason": "...", "by": "...", "force": false}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ReplayRequest {
    ids: Vec<String>,
    reason: String,
    by: String,
    force: bool,
}

async fn replay(
    State(state): State<OperatorApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(denied) = authorized(&state, &headers) {
        return denied;
    }
    let Ok(request) = serde_json::from_slice::<ReplayRequest>(&body) else {
        return Problem::bad_request(
            "invalid-body",
            "body",
            "expected a JSON object {ids, reason, by, force}",
        )
        .into_response();
    };
    let mut errors = ValidationErrors::new();
    if request.ids.is_empty() || request.ids.len() > MAX_REPLAY_IDS {
        errors.push(
            "ids",
            "invalid",
            format!("name 1 to {MAX_REPLAY_IDS} records"),
        );
    }
    if request.reason.trim().is_empty() {
        errors.push(
            "reason",
            "required",
            "say why the records can be replayed now (what was fixed)",
        );
    }
    if request.by.trim().is_empty() {
        errors.push("by", "required", "say who replays (kept in the audit row)");
    }
    if !errors.is_empty() {
        return Problem::validation(errors).into_response();
    }
    let mut results = Vec::new();
    for id in &request.ids {
        let result = match state
            .dead_letters()
            .replay(id, &request.by, &request.reason, request.force)
            .await
        {
            Ok(ReplayOutcome::Replayed(r)) => {
                json!({"id": id, "outcome": "replayed", "replayedTo": r.replayed_to})
            }
            Ok(ReplayOutcome::AlreadyReplayed(_)) => {
                json!({"id": id, "outcome": "already-replayed"})
            }
            Err(
                error @ (DeadLetterError::InvalidId(_)
                | DeadLetterError::NotADeadLetterTopic(..)
                | DeadLetterError::NotFound(_)
                | DeadLetterError::NoOrigin { .. }),
            ) => json!({"id": id, "outcome": "refused", "detail": error.to_string()}),
            Err(error) => {
                tracing::warn!(error = %error, record = %id, "Replaying a dead letter failed.");
                json!({"id": id, "outcome": "failed", "detail": "the bus or the store is unavailable; try again"})
            }
        };
        results.push(result);
    }
    let all_replayed = results.iter().all(|r| r["outcome"] == "replayed");
    let status = if all_replayed {
        StatusCode::OK
    } else {
        // Some were not replayed: the answer lists why, per record.
        StatusCode::MULTI_STATUS
    };
    (status, Json(json!({"results": results}))).into_response()
}
