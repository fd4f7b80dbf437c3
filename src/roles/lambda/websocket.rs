//! The WebSocket functions behind an API Gateway WebSocket API: `$connect` checks the seed's
//! `?customerId=` against the customer's token (query `token` or `Authorization: Bearer`) and
//! registers the connection with its expiry; `$default` answers the `/ws` protocol (ping,
//! resume, ack, error frames) by posting to the connection through the management API;
//! `$disconnect` removes the registry row.
//!
//! `$connect` answers 400 (no customer), 401 (no or bad token) or 403 (another customer's
//! token): API Gateway refuses the upgrade with that status.

use crate::adapters::apigateway_pusher::{ApiGatewayConnectionId, ApiGatewayPusher};
use crate::auth::Authenticator;
use crate::domain::ids::CustomerId;
use crate::ports::pusher::{PushError, PushOutcome};
use crate::ports::store::Store;
use crate::roles::gateway::actions::handle_action;
use crate::roles::gateway::ordering::EventOrder;
use crate::roles::gateway::protocol::ServerFrame;
use crate::roles::gateway::GatewayConfig;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use axum::http::{header, StatusCode};
use chrono::Utc;
use serde_json::{json, Value};

/// Why a WebSocket invocation failed (Lambda reports it; API Gateway answers 500).
#[derive(Debug, thiserror::Error)]
pub enum WebSocketError {
    #[error("the event is not an API Gateway WebSocket event: {0}")]
    NotWebSocket(String),
    #[error("the connection registry is unavailable: {0}")]
    Store(#[from] crate::ports::store::StoreError),
    #[error("posting to the connection failed: {0}")]
    Push(#[from] PushError),
}

/// The event and its connection.
fn parse(
    payload: Value,
) -> Result<(ApiGatewayWebsocketProxyRequest, ApiGatewayConnectionId), WebSocketError> {
    let event: ApiGatewayWebsocketProxyRequest =
        serde_json::from_value(payload).map_err(|e| WebSocketError::NotWebSocket(e.to_string()))?;
    let raw = event
        .request_context
        .connection_id
        .clone()
        .unwrap_or_default();
    let connection = ApiGatewayConnectionId::parse(&raw)
        .map_err(|e| WebSocketError::NotWebSocket(format!("requestContext.connectionId: {e}")))?;
    Ok((event, connection))
}

fn status(code: StatusCode, message: &str) -> Value {
    json!({"statusCode": code.as_u16(), "body": message})
}

/// `$connect`.
pub async fn connect(
    store: &dyn Store,
    auth: &Authenticator,
    config: &GatewayConfig,
    payload: Value,
) -> Result<Value, WebSocketError> {
    let (event, connection) = parse(payload)?;
    let Some(raw_customer) = event.query_string_parameters.first("customerId") else {
        return Ok(status(StatusCode::BAD_REQUEST, "customerId is required"));
    };
    let Ok(customer) = CustomerId::parse(raw_customer) else {
        return Ok(status(
            StatusCode::BAD_REQUEST,
            "customerId is not a valid customer id",
        ));
    };
    let verified = match event.query_string_parameters.first("token") {
        Some(token) => auth.verify(token),
        None => auth.verify_bearer(
            event
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    match verified {
        Err(error) => return Ok(status(StatusCode::UNAUTHORIZED, &error.to_string())),
        Ok(subject) if subject != customer => {
            return Ok(status(
                StatusCode::FORBIDDEN,
                "the token belongs to another customer",
            ))
        }
        Ok(_) => {}
    }
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(config.ttl).unwrap_or_default();
    let source_ip = event
        .request_context
        .identity
        .source_ip
        .clone()
        .unwrap_or_default();
    store
        .register_connection(&connection.record(customer, source_ip, now, expires))
        .await?;
    tracing::info!(connection_id = %connection.registry_id(), "A WebSocket connection opened through API Gateway.");
    Ok(status(StatusCode::OK, "connected"))
}

/// `$disconnect`.
pub async fn disconnect(store: &dyn Store, payload: Value) -> Result<Value, WebSocketError> {
    let (_, connection) = parse(payload)?;
    store.remove_connection(connection.registry_id()).await?;
    Ok(status(StatusCode::OK, "disconnected"))
}

/// `$default`: one client message, answered on the connection.
pub async fn message(
    store: &dyn Store,
    pusher: &ApiGatewayPusher,
    config: &GatewayConfig,
    payload: Value,
) -> Result<Value, WebSocketError> {
    let (event, connection) = parse(payload)?;
    let text = event.body.unwrap_or_default();
    let now = Utc::now();
    let Some(row) = store.connection(connection.registry_id(), now).await? else {
        // Expired or never registered: say so, and let the client connect again.
        let frame = ServerFrame::Error {
            code: "unknown_connection",
            message: "this connection is not registered (expired?); connect again",
        };
        pusher.post(&connection, &frame.to_text()).await?;
        return Ok(status(StatusCode::OK, "unknown connection"));
    };
    let frames = if text.len() > config.max_message_bytes {
        vec![ServerFrame::Error {
            code: "message_too_large",
            message: "the message is larger than the gateway accepts",
        }
        .to_text()]
    } else {
        let expires = now + chrono::Duration::from_std(config.ttl).unwrap_or_default();
        store
            .touch_connection(row.connection_id, now, expires)
            .await?;
        // Nothing outlives one message here: each starts from a fresh cursor.
        let mut order = EventOrder::starting_after(0);
        let reply = handle_action(store, &row.customer_id, &mut order, &text).await;
        reply.frames.iter().map(|f| f.text().to_owned()).collect()
    };
    for frame in frames {
        if pusher.post(&connection, &frame).await? == PushOutcome::Gone {
            store.remove_connection(row.connection_id).await?;
            return Ok(status(StatusCode::GONE, "the connection is gone"));
        }
    }
    Ok(status(StatusCode::OK, "answered"))
}
