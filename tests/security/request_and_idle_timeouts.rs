//! Finding: "idle connections stay open indefinitely (slowloris)", beyond half-sent headers: a
//! request whose body trickles in is answered 408 problem+json within `http.request_timeout`,
//! and an idle keep-alive connection is closed after `http.idle_timeout`, long before the
//! header-read timeout (30 s here) would have closed it. Both on a real `onboard up`.

use crate::binary::Onboard;
use crate::child::LOOPBACK;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;

fn short_timeouts() -> Onboard {
    Onboard::up(
        LOOPBACK,
        &[
            ("ONBOARD_HEADER_READ_TIMEOUT_SECONDS", "30"),
            ("ONBOARD_REQUEST_TIMEOUT_SECONDS", "2"),
            ("ONBOARD_IDLE_TIMEOUT_SECONDS", "1"),
        ],
    )
}

/// Everything the server sends until it closes the connection (or `limit` passes: `None`).
async fn read_until_closed(reader: &mut OwnedReadHalf, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_request_whose_body_trickles_in_is_answered_408_and_closed() {
    let onboard = short_timeouts();
    onboard.ready().await;
    let stream = tokio::net::TcpStream::connect(onboard.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    writer
        .write_all(
            b"POST /dev/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 400\r\n\r\n{",
        )
        .await
        .unwrap();
    // One byte every 200 ms: the body would take 80 s to arrive.
    let trickle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let answer = read_until_closed(&mut reader, Duration::from_secs(20))
        .await
        .expect("the trickling request is still open after 20 s");
    trickle.abort();
    let elapsed = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lowercase = answer.to_ascii_lowercase();
    assert!(
        lowercase.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("\"request-timeout\""), "{answer}");
    for header in [
        "content-security-policy:",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "x-frame-options: deny",
    ] {
        assert!(
            lowercase.contains(header),
            "the 408 lacks {header}: {answer}"
        );
    }
    assert!(
        elapsed >= Duration::from_millis(1900),
        "answered before the 2 s request timeout: {elapsed:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let onboard = short_timeouts();
    onboard.ready().await;
    let stream = tokio::net::TcpStream::connect(onboard.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answered = Instant::now();
    // The header-read timeout is 30 s: only the 1 s idle timeout closes it within 10 s.
    let received = read_until_closed(&mut reader, Duration::from_secs(10))
        .await
        .expect("the idle keep-alive connection is still open after 10 s");
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(
        answered.elapsed() >= Duration::from_millis(900),
        "closed before the 1 s idle timeout: {:?}",
        answered.elapsed()
    );
    drop(writer);

    // A connection that keeps asking is not idle: three requests 600 ms apart are all served.
    let stream = tokio::net::TcpStream::connect(onboard.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        writer
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("the busy connection is still open");
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(
            String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}
