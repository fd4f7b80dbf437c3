//! `onboard watch` against a scripted WebSocket server on port 0: authentication, resume after a
//! dropped connection without gaps or duplicates, and a clean close on shutdown.

// tungstenite's handshake callback dictates returning its (large) error response by value.
#![allow(clippy::result_large_err)]

use futures::{SinkExt, StreamExt};
use onboard::cli::watch::{watch, WatchError, WatchOptions};
use onboard::domain::ids::CustomerId;
use serde_json::{json, Value};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Output the test can read while `watch` writes to it.
#[derive(Clone, Default)]
struct SharedOut(Arc<Mutex<Vec<u8>>>);

impl SharedOut {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn options(port: u16, json: bool) -> WatchOptions {
    WatchOptions {
        url: format!("http://127.0.0.1:{port}"),
        customer_id: CustomerId::parse("c-1").unwrap(),
        token: "tok".into(),
        after: None,
        json,
        ca_file: None,
    }
}

fn event_frame(id: &str, sequence: u64) -> Message {
    Message::text(
        json!({"type": "event", "event": {
            "id": id, "type": "kyc-verified", "version": 1,
            "occurredAt": "2024-05-01T10:00:00Z", "customerId": "c-1",
            "correlationId": "corr", "sequence": sequence, "data": {"status": "KYC_VERIFIED"}
        }})
        .to_string(),
    )
}

fn welcome(last_sequence: u64) -> Message {
    Message::text(
        json!({"type": "welcome", "connectionId": "x", "customerId": "c-1", "lastSequence": last_sequence})
            .to_string(),
    )
}

/// Accepts one connection, checking the path, query and bearer token like the gateway does.
async fn accept(listener: &TcpListener) -> WebSocketStream<TcpStream> {
    let (tcp, _) = listener.accept().await.unwrap();
    tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
        assert_eq!(req.uri().path(), "/ws");
        assert_eq!(req.uri().query(), Some("customerId=c-1"));
        assert_eq!(req.headers()["authorization"], "Bearer tok");
        Ok(resp)
    })
    .await
    .unwrap()
}

/// The next client text frame that is not an ack or a ping, as JSON.
async fn next_request(ws: &mut WebSocketStream<TcpStream>) -> Value {
    loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            panic!("the client went away");
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if !matches!(frame["action"].as_str(), Some("ack" | "ping")) {
            return frame;
        }
    }
}

async fn wait_for_lines(out: &SharedOut, n: usize) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let lines = out.lines();
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the watch printed too few lines")
}

#[tokio::test]
async fn after_a_dropped_connection_the_watch_resumes_and_prints_each_event_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut first = accept(&listener).await;
        first.send(welcome(0)).await.unwrap();
        first.send(event_frame("e1", 1)).await.unwrap();
        first.send(event_frame("e2", 2)).await.unwrap();
        // Wait until the client has seen e2, then cut the connection without a close frame.
        loop {
            let Some(Ok(Message::Text(text))) = first.next().await else {
                panic!("the client went away");
            };
            if text.contains(r#""eventId":"e2""#) {
                break;
            }
        }
        drop(first);

        let mut second = accept(&listener).await;
        second.send(welcome(3)).await.unwrap();
        assert_eq!(
            next_request(&mut second).await,
            json!({"action": "resume", "after": "e2"})
        );
        // Replays overlap with what was printed; the client must drop the duplicate.
        second.send(event_frame("e2", 2)).await.unwrap();
        second.send(event_frame("e3", 3)).await.unwrap();
        second
            .send(Message::text(
                json!({"type": "resumed", "after": "e2", "replayed": 2}).to_string(),
            ))
            .await
            .unwrap();
        while let Some(Ok(message)) = second.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| f.code);
            }
        }
        None
    });

    let out = SharedOut::default();
    let shutdown = CancellationToken::new();
    let client = tokio::spawn(watch(options(port, true), out.clone(), shutdown.clone()));

    let lines = wait_for_lines(&out, 3).await;
    shutdown.cancel();
    client.await.unwrap().unwrap();
    let close_code = server.await.unwrap();

    let ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, ["e1", "e2", "e3"]);
    assert_eq!(out.lines().len(), 3, "a duplicate was printed");
    assert_eq!(close_code, Some(CloseCode::Normal));
}

#[tokio::test]
async fn a_live_watch_prints_only_events_newer_than_the_welcome() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut ws = accept(&listener).await;
        ws.send(welcome(4)).await.unwrap();
        ws.send(event_frame("e4", 4)).await.unwrap();
        ws.send(event_frame("e5", 5)).await.unwrap();
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() {
                break;
            }
        }
    });

    let out = SharedOut::default();
    let shutdown = CancellationToken::new();
    let client = tokio::spawn(watch(options(port, false), out.clone(), shutdown.clone()));
    let lines = wait_for_lines(&out, 1).await;
    shutdown.cancel();
    client.await.unwrap().unwrap();
    server.await.unwrap();

    assert_eq!(lines.len(), 1);
    // What a reader relies on: the time, the type, the sequence and the status, in that order
    // (however the columns are padded).
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        fields.first(),
        Some(&"2024-05-01T10:00:00Z"),
        "{}",
        lines[0]
    );
    assert_eq!(fields.get(1), Some(&"kyc-verified"), "{}", lines[0]);
    assert!(fields[2..].contains(&"5"), "the sequence: {}", lines[0]);
    assert_eq!(fields.last(), Some(&"KYC_VERIFIED"), "{}", lines[0]);
}

#[tokio::test]
async fn a_refused_token_fails_at_once_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let refused = tokio_tungstenite::accept_hdr_async(tcp, |_: &Request, _: Response| {
            let mut reply = ErrorResponse::new(Some(r#"{"detail":"token expired"}"#.into()));
            *reply.status_mut() = StatusCode::UNAUTHORIZED;
            Err(reply)
        })
        .await;
        assert!(refused.is_err());
    });

    let result = tokio::time::timeout(
        Duration::from_secs(5),
        watch(
            options(port, false),
            SharedOut::default(),
            CancellationToken::new(),
        ),
    )
    .await
    .expect("a refused token must not be retried");
    server.await.unwrap();

    let err = result.unwrap_err();
    assert!(
        matches!(&err, WatchError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("token expired"), "{err}");
}

/// A self-signed certificate for `localhost` and a TLS acceptor serving it.
fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert.cert.pem(),
    )
}

#[tokio::test]
async fn a_wss_gateway_behind_a_private_ca_is_watched_with_ca_file() {
    let (acceptor, ca_pem) = tls_acceptor();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (refused_tx, refused_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        // Handshakes fail until a client trusts the certificate; the first failure is reported.
        let mut refused_tx = Some(refused_tx);
        let tls = loop {
            let (tcp, _) = listener.accept().await.unwrap();
            match acceptor.accept(tcp).await {
                Ok(tls) => break tls,
                Err(_) => {
                    if let Some(tx) = refused_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tls, |req: &Request, resp: Response| {
            assert_eq!(req.headers()["authorization"], "Bearer tok");
            Ok(resp)
        })
        .await
        .unwrap();
        ws.send(welcome(0)).await.unwrap();
        ws.send(event_frame("e1", 1)).await.unwrap();
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
        refused_tx.is_none()
    });
    let wss = |ca_file: Option<std::path::PathBuf>| WatchOptions {
        url: format!("wss://localhost:{port}"),
        ca_file,
        ..options(port, true)
    };

    // Without the CA the certificate is unknown: the handshake fails and nothing is printed.
    let out = SharedOut::default();
    let shutdown = CancellationToken::new();
    let untrusting = tokio::spawn(watch(wss(None), out.clone(), shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(10), refused_rx)
        .await
        .expect("the untrusting client never tried")
        .unwrap();
    shutdown.cancel();
    untrusting.await.unwrap().unwrap();
    assert!(out.lines().is_empty());

    let out = SharedOut::default();
    let shutdown = CancellationToken::new();
    let client = tokio::spawn(watch(wss(Some(ca_file)), out.clone(), shutdown.clone()));
    let lines = wait_for_lines(&out, 1).await;
    shutdown.cancel();
    client.await.unwrap().unwrap();
    assert!(server.await.unwrap(), "a handshake was refused first");
    let event: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(event["id"], "e1");
}
