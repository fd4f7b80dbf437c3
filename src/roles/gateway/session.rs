//! One WebSocket session: the `$connect` registration, the client's actions, ordered live
//! pushes, resume from the store, heartbeats, the token's lifetime (renewed by `auth`, closed
//! with 4401 when it runs out) and the `$disconnect` clean-up.
//!
//! A single task owns the socket, so frames never interleave; pushes reach it through a bounded
//! queue, and a client too slow to drain it is disconnected instead of stalling the pushers.

use super::actions::{handle_action, REPLAY_PAGE};
use super::ordering::EventOrder;
use super::protocol::{close_code, ClientAction, ServerFrame};
use super::Gateway;
use crate::auth::Verified;
use crate::domain::event::Envelope;
use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::store::ConnectionRecord;
use crate::telemetry;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Work for a session, queued by pushers and the management API.
#[derive(Debug)]
pub enum Command {
    /// An event to deliver in sequence order.
    Event(Arc<Envelope>),
    /// Data posted through the management API, sent as is.
    Raw(String),
}

/// Requests that jump the queue.
#[derive(Debug)]
pub enum Control {
    Close(u16, String),
}

/// How the rest of the gateway reaches a live session.
#[derive(Debug)]
pub struct SessionHandle {
    pub customer_id: CustomerId,
    pub source_ip: String,
    pub connected_at: chrono::DateTime<Utc>,
    pub commands: mpsc::Sender<Command>,
    pub control: mpsc::Sender<Control>,
    /// Milliseconds since the epoch of the client's last message.
    pub last_active_ms: AtomicI64,
    pub last_acked_event: Mutex<Option<String>>,
}

/// How long a socket write may take before the client counts as stalled.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

enum Flow {
    Continue,
    Close(u16, String),
}

pub async fn run(gateway: Arc<Gateway>, socket: WebSocket, token: Verified, source_ip: String) {
    let Verified {
        customer: customer_id,
        expires_at: token_expires_at,
    } = token;
    let connection_id = ConnectionId::new();
    let config = gateway.config.clone();
    let (commands_tx, mut commands) = mpsc::channel(config.send_queue);
    let (control_tx, mut control) = mpsc::channel(4);
    let now = Utc::now();
    let handle = Arc::new(SessionHandle {
        customer_id: customer_id.clone(),
        source_ip: source_ip.clone(),
        connected_at: now,
        commands: commands_tx,
        control: control_tx,
        last_active_ms: AtomicI64::new(now.timestamp_millis()),
        last_acked_event: Mutex::new(None),
    });
    let (mut sink, mut stream) = socket.split();

    // $connect: local first, then the registry, so no push for this customer can slip between.
    gateway.sessions.insert(connection_id, handle.clone());
    let record = ConnectionRecord {
        connection_id,
        customer_id: customer_id.clone(),
        node_id: config.node_id.clone(),
        node_url: config.node_url.clone(),
        source_ip,
        connected_at: now,
        last_seen_at: now,
        expires_at: now + chrono::Duration::from_std(config.ttl).unwrap_or_default(),
    };
    let cursor = match register(&gateway, &record).await {
        Ok(cursor) => cursor,
        Err(error) => {
            tracing::error!(error = %error, connection_id = %connection_id, "Registering a WebSocket connection failed; closing it.");
            let _ = sink
                .send(close(close_code::INTERNAL_ERROR, "registry unavailable"))
                .await;
            gateway.sessions.remove(&connection_id);
            return;
        }
    };
    tracing::info!(connection_id = %connection_id, customer_id = %customer_id, "WebSocket connected.");
    metrics::gauge!(telemetry::WEBSOCKET_CONNECTIONS).increment(1.0);

    let mut session = Session {
        gateway: gateway.clone(),
        connection_id,
        handle: handle.clone(),
        order: EventOrder::starting_after(cursor),
        gap_deadline: None,
        token_expires_at,
    };
    let welcome = ServerFrame::Welcome {
        connection_id: connection_id.to_string(),
        customer_id: customer_id.as_str(),
        last_sequence: cursor,
        heartbeat_seconds: config.heartbeat.as_secs(),
        token_expires_at,
    };
    let mut outcome = send(&mut sink, welcome.to_text()).await;

    let mut heartbeat =
        tokio::time::interval_at(Instant::now() + config.heartbeat, config.heartbeat);
    let shutdown = gateway.shutdown.clone();
    while let Flow::Continue = outcome {
        let gap_timer = async {
            match session.gap_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let token_expiry = tokio::time::sleep_until(deadline_of(session.token_expires_at));
        outcome = tokio::select! {
            biased;
            _ = shutdown.cancelled() => Flow::Close(close_code::GOING_AWAY, "server shutting down".into()),
            Some(Control::Close(code, reason)) = control.recv() => Flow::Close(code, reason),
            _ = token_expiry => Flow::Close(close_code::TOKEN_EXPIRED, "token expired".into()),
            incoming = stream.next() => session.on_incoming(&mut sink, incoming).await,
            Some(command) = commands.recv() => session.on_command(&mut sink, command).await,
            _ = gap_timer => session.on_gap_timeout(&mut sink).await,
            _ = heartbeat.tick() => session.on_heartbeat(&mut sink).await,
        };
    }
    if let Flow::Close(code, reason) = outcome {
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(close(code, &reason))).await;
        tracing::info!(connection_id = %connection_id, code, reason = %reason, "WebSocket closed.");
    }

    // $disconnect: the row is deleted in a batch with those of other closing sessions (and
    // the gauge decremented then); queued before leaving the map, so a stopping gateway that
    // sees no session left knows every row is queued.
    gateway.deregistrations.push(connection_id);
    gateway.sessions.remove(&connection_id);
}

async fn register(
    gateway: &Gateway,
    record: &ConnectionRecord,
) -> Result<u64, crate::ports::store::StoreError> {
    gateway.store.register_connection(record).await?;
    gateway
        .store
        .last_stored_sequence(&record.customer_id)
        .await
}

/// The instant the token expiring at `expires_at` (epoch seconds) runs out.
fn deadline_of(expires_at: u64) -> Instant {
    let now = Utc::now().timestamp().max(0) as u64;
    Instant::now() + Duration::from_secs(expires_at.saturating_sub(now))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.chars().take(120).collect::<String>().into(),
    }))
}

type Sink = futures::stream::SplitSink<WebSocket, Message>;

async fn send(sink: &mut Sink, text: String) -> Flow {
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => Flow::Continue,
        Ok(Err(_)) => Flow::Close(close_code::GOING_AWAY, "connection lost".into()),
        Err(_) => Flow::Close(
            close_code::POLICY_VIOLATION,
            "client too slow to receive".into(),
        ),
    }
}

struct Session {
    gateway: Arc<Gateway>,
    connection_id: ConnectionId,
    handle: Arc<SessionHandle>,
    order: EventOrder,
    gap_deadline: Option<Instant>,
    /// `exp` of the newest token presented; the session closes then.
    token_expires_at: u64,
}

impl Session {
    async fn on_incoming(
        &mut self,
        sink: &mut Sink,
        incoming: Option<Result<Message, axum::Error>>,
    ) -> Flow {
        let message = match incoming {
            None => return Flow::Close(close_code::NORMAL, "client went away".into()),
            Some(Err(error)) => return incoming_error(error),
            Some(Ok(message)) => message,
        };
        // A pong is the client's WebSocket library answering our heartbeat on its own (browsers
        // always do): it proves the link, not a client at work, so it does not hold off the idle
        // timeout. Messages, including the `ping` action, do.
        if !matches!(message, Message::Pong(_)) {
            self.handle
                .last_active_ms
                .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        }
        match message {
            Message::Text(text) => self.on_action(sink, text.as_str()).await,
            Message::Binary(_) => {
                self.error(
                    sink,
                    "invalid_message",
                    "binary messages are not supported; send JSON text",
                )
                .await
            }
            Message::Close(_) => Flow::Close(close_code::NORMAL, "closed by client".into()),
            Message::Ping(_) | Message::Pong(_) => Flow::Continue,
        }
    }

    async fn on_action(&mut self, sink: &mut Sink, text: &str) -> Flow {
        if let Ok(ClientAction::Auth { token }) = ClientAction::parse(text) {
            return self.renew_token(sink, &token).await;
        }
        let reply = handle_action(
            self.gateway.store.as_ref(),
            &self.handle.customer_id,
            &mut self.order,
            text,
        )
        .await;
        if let Some(event_id) = reply.acked {
            *self.handle.last_acked_event.lock().expect("ack lock") = Some(event_id.to_string());
        }
        // A resume may leave later events waiting behind a hole.
        self.arm_gap_timer();
        for frame in reply.frames {
            if let Flow::Close(code, reason) = send(sink, frame.text().to_owned()).await {
                return Flow::Close(code, reason);
            }
        }
        Flow::Continue
    }

    /// `auth`: a valid token of the same customer extends the session to its expiry; any other
    /// is refused with an error frame and the session keeps its old expiry.
    async fn renew_token(&mut self, sink: &mut Sink, token: &str) -> Flow {
        match self.gateway.auth.authenticate(token).await {
            Ok(verified) if verified.customer == self.handle.customer_id => {
                self.token_expires_at = verified.expires_at;
                tracing::debug!(connection_id = %self.connection_id, "A WebSocket session renewed its token.");
                let frame = ServerFrame::Authenticated {
                    token_expires_at: verified.expires_at,
                };
                send(sink, frame.to_text()).await
            }
            Ok(_) => {
                self.error(
                    sink,
                    "wrong_customer",
                    "the token belongs to another customer; the session keeps its old token",
                )
                .await
            }
            Err(error) => self.error(sink, "auth_failed", &error.to_string()).await,
        }
    }

    async fn error(&mut self, sink: &mut Sink, code: &str, message: &str) -> Flow {
        send(sink, ServerFrame::Error { code, message }.to_text()).await
    }

    async fn on_command(&mut self, sink: &mut Sink, command: Command) -> Flow {
        match command {
            Command::Raw(text) => send(sink, text).await,
            Command::Event(event) => {
                if !self.order.offer(event) {
                    return Flow::Continue;
                }
                let mut ready = self.order.ready();
                if self.order.has_gap() && ready.is_empty() {
                    // The missing events may already be stored (a push lost on the way): look.
                    ready = self.fill_from_store().await;
                }
                let flow = self.deliver(sink, ready).await;
                self.arm_gap_timer();
                flow
            }
        }
    }

    async fn fill_from_store(&mut self) -> Vec<Arc<Envelope>> {
        match self
            .gateway
            .store
            .events_after(&self.handle.customer_id, self.order.cursor(), REPLAY_PAGE)
            .await
        {
            Ok(events) => {
                for event in events {
                    self.order.offer(Arc::new(event));
                }
                self.order.ready()
            }
            Err(error) => {
                tracing::warn!(error = %error, connection_id = %self.connection_id, "Reading stored events to fill a gap failed.");
                Vec::new()
            }
        }
    }

    async fn on_gap_timeout(&mut self, sink: &mut Sink) -> Flow {
        self.gap_deadline = None;
        let mut ready = self.fill_from_store().await;
        if self.order.has_gap() {
            tracing::warn!(connection_id = %self.connection_id, cursor = self.order.cursor(), "Events are missing after waiting; delivering the later ones.");
            ready.extend(self.order.skip_gap());
        }
        self.deliver(sink, ready).await
    }

    fn arm_gap_timer(&mut self) {
        if !self.order.has_gap() {
            self.gap_deadline = None;
        } else if self.gap_deadline.is_none() {
            self.gap_deadline = Some(Instant::now() + self.gateway.config.gap_wait);
        }
    }

    async fn deliver(&mut self, sink: &mut Sink, events: Vec<Arc<Envelope>>) -> Flow {
        for event in events {
            if let Flow::Close(code, reason) =
                send(sink, ServerFrame::Event { event: &event }.to_text()).await
            {
                return Flow::Close(code, reason);
            }
            // Live pushes only: a resume replays old events on purpose.
            let latency = (Utc::now() - event.occurred_at)
                .to_std()
                .unwrap_or_default();
            metrics::histogram!(telemetry::PUSH_LATENCY).record(latency.as_secs_f64());
            tracing::debug!(
                correlation_id = %event.correlation_id,
                event_id = %event.id,
                connection_id = %self.connection_id,
                latency_ms = latency.as_millis() as u64,
                "Wrote an event frame to a WebSocket."
            );
        }
        Flow::Continue
    }

    async fn on_heartbeat(&mut self, sink: &mut Sink) -> Flow {
        let now = Utc::now();
        let idle_ms = now.timestamp_millis() - self.handle.last_active_ms.load(Ordering::Relaxed);
        if idle_ms > self.gateway.config.idle_timeout.as_millis() as i64 {
            return Flow::Close(close_code::GOING_AWAY, "idle timeout".into());
        }
        let expires = now + chrono::Duration::from_std(self.gateway.config.ttl).unwrap_or_default();
        match self
            .gateway
            .store
            .touch_connection(self.connection_id, now, expires)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Flow::Close(close_code::GOING_AWAY, "registration expired".into()),
            Err(error) => {
                tracing::warn!(error = %error, connection_id = %self.connection_id, "Refreshing a registry row failed.")
            }
        }
        match tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Ping(Default::default())))
            .await
        {
            Ok(Ok(())) => Flow::Continue,
            _ => Flow::Close(close_code::GOING_AWAY, "connection lost".into()),
        }
    }
}

/// Maps a read error to a close: an oversized message closes with 1009 (RFC 6455).
fn incoming_error(error: axum::Error) -> Flow {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let inner = error.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => {
            Flow::Close(close_code::MESSAGE_TOO_BIG, "message too big".into())
        }
        Some(WsError::Protocol(_)) | Some(WsError::Utf8(_)) => {
            Flow::Close(1002, "protocol error".into())
        }
        _ => Flow::Close(close_code::GOING_AWAY, "connection lost".into()),
    }
}
