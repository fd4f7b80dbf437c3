//! One client action, apart from any socket: the frames the gateway answers a WebSocket
//! client's message with (ping, resume, ack; anything else is an error frame), in order.
//! `auth` changes the session itself and is answered by the `/ws` session (`session.rs`).
//!
//! The `/ws` session sends them on its socket; an API Gateway `$default` handler can post them
//! to the connection through the management API. The caller keeps the connection's
//! [`EventOrder`] (a fresh one per invocation where nothing outlives a message).

use super::ordering::EventOrder;
use super::protocol::{ClientAction, ServerFrame};
use crate::domain::ids::{CustomerId, EventId};
use crate::ports::store::{Store, StoreError};
use std::sync::Arc;

/// Page size when replaying stored events.
pub(super) const REPLAY_PAGE: i64 = 200;

/// One frame to send, in the order of [`Reply::frames`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// An event delivered to the client (counted as a sent event).
    Event(String),
    /// An answer to the action: pong, resumed, acked or error.
    Answer(String),
}

impl Frame {
    pub fn text(&self) -> &str {
        match self {
            Self::Event(text) | Self::Answer(text) => text,
        }
    }
}

/// What one client message produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub frames: Vec<Frame>,
    /// The event the client acknowledged, for the connection's state.
    pub acked: Option<EventId>,
}

impl Reply {
    fn answer(frame: ServerFrame<'_>) -> Self {
        Self {
            frames: vec![Frame::Answer(frame.to_text())],
            acked: None,
        }
    }

    fn error(code: &str, message: &str) -> Self {
        Self::answer(ServerFrame::Error { code, message })
    }
}

/// Answers one text message of `customer`'s connection, whose delivery cursor is `order`.
pub async fn handle_action(
    store: &dyn Store,
    customer: &CustomerId,
    order: &mut EventOrder,
    text: &str,
) -> Reply {
    match ClientAction::parse(text) {
        Err(error) => Reply::error(error.code, &error.message),
        Ok(ClientAction::Ping { id }) => Reply::answer(ServerFrame::Pong { id }),
        Ok(ClientAction::Resume { after }) => resume(store, customer, order, after).await,
        Ok(ClientAction::Ack { event_id }) => match EventId::parse(&event_id) {
            Ok(id) => Reply {
                acked: Some(id),
                ..Reply::answer(ServerFrame::Acked { event_id })
            },
            Err(_) => Reply::error("invalid_message", "\"eventId\" must be an event id (UUID)"),
        },
        // A `/ws` session renews its token itself (it owns the expiry); where nothing outlives
        // one message there is no session to renew.
        Ok(ClientAction::Auth { .. }) => Reply::error(
            "unsupported_action",
            "\"auth\" renews the token of a /ws session; this connection has none to renew",
        ),
    }
}

/// Replays the customer's stored events after `after` (all when `None`) and moves the cursor
/// there, so live events continue from it.
async fn resume(
    store: &dyn Store,
    customer: &CustomerId,
    order: &mut EventOrder,
    after: Option<String>,
) -> Reply {
    let cursor = match after.as_deref() {
        None => 0,
        Some(raw) => {
            let Ok(id) = EventId::parse(raw) else {
                return Reply::error("invalid_message", "\"after\" must be an event id (UUID)");
            };
            match store.event_of_customer(customer, id).await {
                Ok(Some(event)) => event.sequence,
                Ok(None) => {
                    return Reply::error(
                        "unknown_event",
                        "\"after\" is not an event of this customer",
                    )
                }
                Err(error) => return unavailable(Reply::default(), error),
            }
        }
    };
    order.reset(cursor);
    let mut reply = Reply::default();
    let mut replayed = 0u64;
    loop {
        let before = order.cursor();
        let page = match store.events_after(customer, before, REPLAY_PAGE).await {
            Ok(page) => page,
            Err(error) => return unavailable(reply, error),
        };
        let full_page = page.len() as i64 == REPLAY_PAGE;
        for event in page {
            order.offer(Arc::new(event));
        }
        for event in order.ready() {
            replayed += 1;
            reply
                .frames
                .push(Frame::Event(ServerFrame::Event { event: &event }.to_text()));
        }
        // Stop at the end of the log, or at a hole in it (a later event stored before an earlier one).
        if !full_page || order.cursor() == before {
            break;
        }
    }
    let resumed = ServerFrame::Resumed {
        after,
        replayed,
        last_sequence: order.cursor(),
    };
    reply.frames.push(Frame::Answer(resumed.to_text()));
    reply
}

/// Ends a reply whose store read failed: what was ready is still sent, then an error the
/// client can act on by retrying.
fn unavailable(mut reply: Reply, error: StoreError) -> Reply {
    tracing::error!(error = %error, "A store read for a WebSocket action failed.");
    reply.frames.extend(
        Reply::error(
            "unavailable",
            "events are temporarily unavailable; retry the action",
        )
        .frames,
    );
    reply
}
