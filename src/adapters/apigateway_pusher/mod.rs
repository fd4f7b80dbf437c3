//! The API Gateway management pusher: frames go to a WebSocket API's connections through its
//! SigV4-signed `@connections` API (`POST` send, `GET` describe, `DELETE` close), with the
//! official `aws-sdk-apigatewaymanagement`. `410 Gone` means the client left:
//! [`PushOutcome::Gone`], and the caller removes the registry row.
//!
//! The endpoint is derived from the seed's `WEBSOCKET_ENDPOINT` ([`ManagementEndpoint`]), unless
//! the SDK's own `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` or `AWS_ENDPOINT_URL` points
//! elsewhere (a local emulator in tests).

mod connection;
mod endpoint;

pub use connection::{ApiGatewayConnectionId, NODE_ID};
pub use endpoint::ManagementEndpoint;

use crate::domain::event::Envelope;
use crate::ports::pusher::{PushError, PushOutcome, Pusher};
use crate::ports::store::ConnectionRecord;
use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;
use aws_types::service_config::ServiceConfigKey;
use std::time::Duration;

/// How long one call may take; a stalled endpoint must not stall a consumer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// What the management API knows of a connection (`GET @connections/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub source_ip: Option<String>,
}

/// Posts to the connections of one WebSocket API stage.
#[derive(Debug, Clone)]
pub struct ApiGatewayPusher {
    client: Client,
}

impl ApiGatewayPusher {
    /// A client for `endpoint` in `region` (`aws.region`, else the SDK's own resolution).
    pub async fn open(endpoint: &ManagementEndpoint, region: Option<&str>) -> Self {
        let sdk = crate::adapters::aws_sdk::sdk_config(region).await;
        let mut config = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk);
        if !endpoint_overridden(&sdk) {
            config = config.endpoint_url(endpoint.as_str());
        }
        let timeouts = aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig::builder()
            .operation_timeout(CALL_TIMEOUT)
            .build();
        Self {
            client: Client::from_conf(config.timeout_config(timeouts).build()),
        }
    }

    /// Sends one text frame to a connection.
    pub async fn post(
        &self,
        connection: &ApiGatewayConnectionId,
        frame: &str,
    ) -> Result<PushOutcome, PushError> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(connection.as_str())
            .data(Blob::new(frame.as_bytes().to_vec()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(PushOutcome::Delivered),
            Err(error) => gone_or_error(error),
        }
    }

    /// Describes a connection; `None` when it is gone.
    pub async fn describe(
        &self,
        connection: &ApiGatewayConnectionId,
    ) -> Result<Option<ConnectionInfo>, PushError> {
        match self
            .client
            .get_connection()
            .connection_id(connection.as_str())
            .send()
            .await
        {
            Ok(output) => Ok(Some(ConnectionInfo {
                source_ip: output
                    .identity()
                    .and_then(|i| i.source_ip())
                    .map(str::to_owned),
            })),
            Err(error) => gone_or_error(error).map(|_| None),
        }
    }

    /// Closes a connection; `Gone` when it was already closed.
    pub async fn close(
        &self,
        connection: &ApiGatewayConnectionId,
    ) -> Result<PushOutcome, PushError> {
        match self
            .client
            .delete_connection()
            .connection_id(connection.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(PushOutcome::Delivered),
            Err(error) => gone_or_error(error),
        }
    }
}

#[async_trait]
impl Pusher for ApiGatewayPusher {
    async fn push_event(
        &self,
        connection: &ConnectionRecord,
        event: &Envelope,
    ) -> Result<PushOutcome, PushError> {
        let Some(id) = ApiGatewayConnectionId::of_record(connection) else {
            return Err(PushError::Refused(format!(
                "connection {} is held by gateway node {}, not by API Gateway",
                connection.connection_id, connection.node_id
            )));
        };
        let frame = serde_json::json!({"type": "event", "event": event}).to_string();
        self.post(&id, &frame).await
    }
}

/// Whether the SDK's own variables (`AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI`, then
/// `AWS_ENDPOINT_URL`) or profile name the endpoint: then they win over `WEBSOCKET_ENDPOINT`.
fn endpoint_overridden(sdk: &aws_types::SdkConfig) -> bool {
    if sdk.endpoint_url().is_some() {
        return true;
    }
    let key = ServiceConfigKey::builder()
        .service_id("ApiGatewayManagementApi")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .expect("every part of the key is given");
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .is_some()
}

/// `410 Gone` is an answer (the client left); every other failure is an error, without the
/// request's details (the SDK's message names no secret, but keep it to the code).
fn gone_or_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    error: SdkError<E, HttpResponse>,
) -> Result<PushOutcome, PushError> {
    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            if service.err().code() == Some("GoneException") || status == 410 {
                return Ok(PushOutcome::Gone);
            }
            Err(PushError::Refused(format!(
                "the management API answered {status} ({})",
                service.err().code().unwrap_or("no error code")
            )))
        }
        SdkError::TimeoutError(_) => Err(PushError::Unreachable("the call timed out".into())),
        SdkError::DispatchFailure(_) => {
            Err(PushError::Unreachable("the endpoint is unreachable".into()))
        }
        _ => Err(PushError::Unreachable(format!(
            "the call failed: {}",
            aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&error)
        ))),
    }
}
