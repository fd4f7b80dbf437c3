//! The WebSocket gateway role (the seed's API Gateway WebSocket API, DESIGN.md §6): the `/ws`
//! endpoint, the local sessions, the registry sweeper, the `@connections` management API and
//! the in-process pusher. A client's action is answered by [`actions::handle_action`], which
//! needs no socket.

pub mod actions;
mod deregistration;
mod management;
pub mod ordering;
pub mod protocol;
mod session;

use crate::auth::Authenticator;
use crate::domain::event::Envelope;
use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::pusher::PushOutcome;
use crate::ports::store::Store;
use crate::roles::api::limits::CustomerSlots;
use crate::roles::api::problem::Problem;
use crate::roles::supervisor::Readiness;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use session::{Command, Control, SessionHandle};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// This node's id in the registry.
    pub node_id: String,
    /// Base URL of this node's management API, for pushes from other processes.
    pub node_url: String,
    /// Registry row lifetime, refreshed by every heartbeat.
    pub ttl: Duration,
    /// Interval of server pings and registry refreshes.
    pub heartbeat: Duration,
    /// A client silent for longer is disconnected.
    pub idle_timeout: Duration,
    /// Largest client message; larger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// Frames queued per connection before the client counts as too slow and is disconnected.
    pub send_queue: usize,
    /// How long a later event waits for a missing earlier one before it is delivered anyway.
    pub gap_wait: Duration,
    /// How often expired registry rows are deleted.
    pub sweep_interval: Duration,
    /// Origins allowed besides the gateway's own (exact `scheme://host:port`, or `*`).
    pub allowed_origins: Vec<String>,
    /// Open connections one customer may hold on this node; the next handshake is refused 429.
    pub max_connections_per_customer: usize,
    /// Open connections this node holds at most; the next handshake is refused 429.
    pub max_connections: usize,
    /// Most registry rows of closed sessions deleted by one store call.
    pub deregistration_batch: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            node_id: format!("node-{}", uuid::Uuid::new_v4().simple()),
            node_url: String::new(),
            ttl: Duration::from_secs(120),
            heartbeat: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_message_bytes: 16 * 1024,
            send_queue: 256,
            gap_wait: Duration::from_secs(2),
            sweep_interval: Duration::from_secs(30),
            allowed_origins: Vec::new(),
            max_connections_per_customer: 10,
            max_connections: 10_000,
            deregistration_batch: 200,
        }
    }
}

/// Each socket's read buffer (tungstenite allocates 128 KiB up front by default, which was
/// most of an idle connection's memory); clients send small frames (ping, ack, resume), and a
/// bigger one still fits, the buffer grows up to the message limit.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The sessions this node holds.
#[derive(Debug, Default)]
pub struct Sessions(RwLock<HashMap<ConnectionId, Arc<SessionHandle>>>);

impl Sessions {
    fn insert(&self, id: ConnectionId, handle: Arc<SessionHandle>) {
        self.0.write().expect("sessions lock").insert(id, handle);
    }

    fn remove(&self, id: &ConnectionId) {
        self.0.write().expect("sessions lock").remove(id);
    }

    fn get(&self, id: &ConnectionId) -> Option<Arc<SessionHandle>> {
        self.0.read().expect("sessions lock").get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.0.read().expect("sessions lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Gateway {
    pub store: Arc<dyn Store>,
    pub auth: Authenticator,
    /// Bearer token other nodes and operators present to the management API.
    management_token: String,
    pub config: GatewayConfig,
    pub sessions: Sessions,
    /// Places among the connections this node accepts, per node and per customer.
    connection_slots: Arc<CustomerSlots>,
    /// Registry rows of closed sessions, deleted in batches by the sweeper's task.
    deregistrations: deregistration::Deregistrations,
    shutdown: CancellationToken,
}

impl Gateway {
    pub fn new(
        store: Arc<dyn Store>,
        auth: Authenticator,
        management_token: String,
        config: GatewayConfig,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let connection_slots = CustomerSlots::with_caps(
            "websockets",
            "WebSocket connections",
            config.max_connections,
            config.max_connections_per_customer,
        );
        Arc::new(Self {
            store,
            auth,
            management_token,
            sessions: Sessions::default(),
            connection_slots,
            deregistrations: deregistration::Deregistrations::new(config.deregistration_batch),
            config,
            shutdown,
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/ws", get(connect))
            .route(
                "/@connections/{id}",
                axum::routing::post(management::post_to_connection)
                    .get(management::get_connection)
                    .delete(management::delete_connection),
            )
            .with_state(self.clone())
    }

    /// Queues an event for a local session; `Gone` when it is not here, and a session whose
    /// queue is full is closed as too slow (and reported gone) rather than allowed to stall us.
    pub fn push_local(
        &self,
        connection: ConnectionId,
        command_event: Arc<Envelope>,
    ) -> PushOutcome {
        self.queue(connection, Command::Event(command_event))
    }

    fn queue(&self, connection: ConnectionId, command: Command) -> PushOutcome {
        let Some(session) = self.sessions.get(&connection) else {
            return PushOutcome::Gone;
        };
        match session.commands.try_send(command) {
            Ok(()) => PushOutcome::Delivered,
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => PushOutcome::Gone,
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!(crate::telemetry::SLOW_DISCONNECTS).increment(1);
                tracing::warn!(connection_id = %connection, "A WebSocket client is too slow; disconnecting it.");
                let _ = session.control.try_send(Control::Close(
                    protocol::close_code::POLICY_VIOLATION,
                    "send queue overflow: client too slow".into(),
                ));
                PushOutcome::Gone
            }
        }
    }

    /// Deletes the rows of closed sessions in batches, and expired rows every sweep
    /// interval, until shutdown (then the rows of the sessions still closing).
    pub async fn run_sweeper(
        self: Arc<Self>,
        readiness: Readiness,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        readiness.set(true);
        let deregistrations =
            self.deregistrations
                .run(self.store.clone(), shutdown.clone(), || {
                    self.sessions.is_empty()
                });
        tokio::join!(deregistrations, self.sweep_until(shutdown));
        Ok(())
    }

    async fn sweep_until(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.sweep_interval);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.store.sweep_connections(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "Swept expired WebSocket registrations."),
                Err(error) => {
                    tracing::warn!(error = %error, "Sweeping the connection registry failed.")
                }
            }
        }
    }

    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return true; // not a browser: wscat, onboard watch, servers
        };
        if self
            .config
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o == origin)
        {
            return true;
        }
        // Same origin: the page was served by this gateway.
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host)
    }
}

#[derive(Debug, Deserialize)]
struct ConnectQuery {
    #[serde(rename = "customerId")]
    customer_id: Option<String>,
    token: Option<String>,
}

/// `$connect`: authenticates before upgrading, so a refused client gets a problem+json answer.
async fn connect(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<ConnectQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(raw_customer) = query.customer_id.filter(|c| !c.is_empty()) else {
        return Problem::bad_request(
            "missing-customer-id",
            "customerId",
            "the customerId query parameter is required",
        )
        .into_response();
    };
    let Ok(customer) = CustomerId::parse(&raw_customer) else {
        return Problem::bad_request(
            "invalid-customer-id",
            "customerId",
            "customerId is not a valid customer id",
        )
        .into_response();
    };
    let verified = match (&query.token, headers.get(header::AUTHORIZATION)) {
        (Some(token), _) => gateway.auth.authenticate(token).await,
        (None, header) => {
            let header = header.map(|h| h.to_str().unwrap_or(""));
            gateway.auth.authenticate_bearer(header).await
        }
    };
    let verified = match verified {
        Ok(verified) => verified,
        Err(error) => return crate::roles::api::extract::auth_problem(error).into_response(),
    };
    if verified.customer != customer {
        return Problem::forbidden("the token belongs to another customer").into_response();
    }
    if !gateway.origin_allowed(&headers) {
        return Problem::forbidden("this Origin is not allowed to connect").into_response();
    }
    // Counted before the upgrade, so the refusal is a 429 problem the client can read.
    let slot = match gateway.connection_slots.try_take(&customer) {
        Ok(slot) => slot,
        Err(refused) => return refused,
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return Problem::bad_request(
                "not-a-websocket",
                "Upgrade",
                format!("a WebSocket upgrade is required: {}", rejection.body_text()),
            )
            .into_response()
        }
    };
    let limit = gateway.config.max_message_bytes;
    let source_ip = peer.ip().to_string();
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        // Frames go out as they are written: each is an event the customer waits for.
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            session::run(gateway, socket, verified, source_ip).await;
            drop(slot);
        })
}
