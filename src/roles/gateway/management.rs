//! The `@connections` management API, AWS-shaped: post data to a connection, read it, close it.
//! Callers are other nodes and operators, authenticated with the management token.

use super::session::{Command, Control};
use super::{protocol, Gateway};
use crate::domain::event::Envelope;
use crate::domain::ids::ConnectionId;
use crate::roles::api::problem::Problem;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;

fn authorize(gateway: &Gateway, headers: &HeaderMap) -> Result<(), Problem> {
    if crate::auth::bearer_matches(headers, &gateway.management_token) {
        Ok(())
    } else {
        Err(Problem::unauthorized(
            "the management API needs the management token",
        ))
    }
}

fn gone(raw: &str) -> Response {
    Problem::new(
        StatusCode::GONE,
        "gone",
        format!("connection {raw} does not exist"),
    )
    .into_response()
}

/// `POST /@connections/{id}`: sends the body to the connection. An event frame
/// (`{"type":"event","event":…}`) goes through the connection's ordering like a local push.
pub async fn post_to_connection(
    State(gateway): State<Arc<Gateway>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(problem) = authorize(&gateway, &headers) {
        return problem.into_response();
    }
    let Ok(id) = ConnectionId::parse(&raw) else {
        return gone(&raw);
    };
    if body.len() > 1024 * 1024 {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "posted data must be at most 1 MiB",
        )
        .into_response();
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Problem::bad_request("invalid-encoding", "body", "posted data must be UTF-8 text")
            .into_response();
    };
    let command = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value) if value.get("type").and_then(|t| t.as_str()) == Some("event") => match value
            .get("event")
            .cloned()
            .map(serde_json::from_value::<Envelope>)
        {
            Some(Ok(event)) => Command::Event(Arc::new(event)),
            _ => {
                return Problem::bad_request(
                    "invalid-event",
                    "event",
                    "the event frame does not hold a valid envelope",
                )
                .into_response()
            }
        },
        _ => Command::Raw(text),
    };
    match gateway.queue(id, command) {
        crate::ports::pusher::PushOutcome::Delivered => StatusCode::OK.into_response(),
        crate::ports::pusher::PushOutcome::Gone => gone(&raw),
    }
}

/// `GET /@connections/{id}`: AWS's `GetConnection` shape, plus the customer and node.
pub async fn get_connection(
    State(gateway): State<Arc<Gateway>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(problem) = authorize(&gateway, &headers) {
        return problem.into_response();
    }
    let Ok(id) = ConnectionId::parse(&raw) else {
        return gone(&raw);
    };
    let Some(session) = gateway.sessions.get(&id) else {
        return gone(&raw);
    };
    let last_active = chrono::DateTime::from_timestamp_millis(
        session
            .last_active_ms
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let last_acked = session.last_acked_event.lock().expect("ack lock").clone();
    Json(json!({
        "connectionId": id,
        "customerId": session.customer_id,
        "connectedAt": session.connected_at,
        "lastActiveAt": last_active,
        "sourceIp": session.source_ip,
        "identity": {"sourceIp": session.source_ip},
        "nodeId": gateway.config.node_id,
        "lastAckedEventId": last_acked,
    }))
    .into_response()
}

/// `DELETE /@connections/{id}`: closes the connection (1000).
pub async fn delete_connection(
    State(gateway): State<Arc<Gateway>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(problem) = authorize(&gateway, &headers) {
        return problem.into_response();
    }
    let Ok(id) = ConnectionId::parse(&raw) else {
        return gone(&raw);
    };
    let Some(session) = gateway.sessions.get(&id) else {
        return gone(&raw);
    };
    let _ = session
        .control
        .send(Control::Close(
            protocol::close_code::NORMAL,
            "closed by the management API".into(),
        ))
        .await;
    StatusCode::NO_CONTENT.into_response()
}
