//! Reading a WebSocket the way the tests need it: a frame, a timeout and a closed or broken
//! socket are three different answers, so "nothing arrived" can never be a dead connection.

use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client WebSocket as `tokio_tungstenite::connect_async` opens it.
pub type ClientSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a read within a deadline brought.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A text frame; `Value::String` when it was not JSON.
    Frame(Value),
    /// Nothing arrived before the deadline; the socket is still open.
    TimedOut,
    /// The server closed the socket (with its close code, if it sent one).
    Closed(Option<u16>),
    /// The socket failed or ended without a close frame.
    Broken(String),
}

/// The next text frame within `wait` (pings and pongs are skipped).
pub async fn next_incoming(ws: &mut ClientSocket, wait: Duration) -> Incoming {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Incoming::TimedOut,
            Ok(None) => return Incoming::Broken("the stream ended without a close frame".into()),
            Ok(Some(Err(error))) => return Incoming::Broken(error.to_string()),
            Ok(Some(Ok(Message::Text(text)))) => {
                return Incoming::Frame(
                    serde_json::from_str(text.as_str())
                        .unwrap_or_else(|_| Value::String(text.to_string())),
                )
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Incoming::Closed(frame.map(|f| f.code.into()))
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Asserts that for `wait` no event frame arrives *and the socket stays open*: a socket that
/// closes or fails would receive no duplicate and no leaked event either, so it fails the check.
pub async fn assert_no_event(ws: &mut ClientSocket, wait: Duration) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_incoming(ws, left).await {
            Incoming::TimedOut => return,
            Incoming::Frame(frame) => {
                assert_ne!(frame["type"], "event", "unexpected event: {frame}")
            }
            other => panic!("the socket did not stay open while waiting for no event: {other:?}"),
        }
    }
}
