//! Finding: "24 concurrent 10 MiB uploads to nonexistent applications grow the server by
//! 70–280 MiB: the whole upload is read before the application is checked." Now the
//! application is checked before the body is read, the file streams to the document store with
//! its cap enforced on the way (413 as soon as it passes 10 MiB), and concurrent uploads are
//! capped per process and per customer (429 with `Retry-After`).

use crate::binary::Onboard;
use crate::child::{memory_kib, token, LOOPBACK};
use crate::support::SEED_PAYLOAD;
use futures::future::join_all;
use onboard::domain::ids::ApplicationId;
use onboard::testing::requests::MULTIPART_BOUNDARY as BOUNDARY;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1024 * 1024;
/// A multipart body with the passport's text parts and a PDF file of `size` bytes.
fn upload_body(size: usize) -> Vec<u8> {
    let mut file = b"%PDF-1.7\n".to_vec();
    file.resize(size, b'0');
    onboard::testing::requests::passport_multipart(&file)
}

fn upload_head(addr: SocketAddr, application: &str, token: &str, length: usize) -> String {
    format!(
        "POST /v1/applications/{application}/documents HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// Sends `head` and `body` while reading the answer (the server may answer before it has read
/// the body, then close); returns the status and the answer's body.
async fn send_raw(addr: SocketAddr, head: String, body: Vec<u8>) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sending = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
        writer
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if complete(&answer) {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 30 s");
    sending.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The answer holds its head and as many body bytes as its Content-Length says.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|length| body.len() >= length)
}

async fn new_application(onboard: &Onboard, customer: &str) -> String {
    let created = reqwest::Client::new()
        .post(onboard.url("/v1/customers"))
        .bearer_auth(token(customer))
        .header("content-type", "application/json")
        .body(SEED_PAYLOAD.replace("test@example.com", &format!("{customer}@example.com")))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: serde_json::Value = created.json().await.unwrap();
    body["applicationId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn concurrent_large_uploads_to_unknown_applications_leave_the_servers_memory_alone() {
    let onboard = Onboard::up(LOOPBACK, &[]);
    onboard.ready().await;
    let body = upload_body(10 * MIB - 4096);
    // Warm the path once, then take the idle size.
    let warm = upload_head(
        onboard.addr,
        &ApplicationId::new().to_string(),
        &token("warm"),
        0,
    );
    send_raw(onboard.addr, warm, Vec::new()).await;
    let (idle_rss, idle_hwm) = memory_kib(&onboard);

    let uploads = (0..24).map(|i| {
        let head = upload_head(
            onboard.addr,
            &ApplicationId::new().to_string(),
            &token(&format!("flooder-{i}")),
            body.len(),
        );
        send_raw(onboard.addr, head, body.clone())
    });
    let answers = join_all(uploads).await;
    for (status, answer) in &answers {
        assert_eq!(*status, 404, "{answer}");
        assert!(answer.contains("does not exist"), "{answer}");
    }
    let (rss, hwm) = memory_kib(&onboard);
    let grown_mib = |after: u64, before: u64| after.saturating_sub(before) as f64 / 1024.0;
    assert!(
        grown_mib(hwm, idle_hwm) < 16.0 && grown_mib(rss, idle_rss) < 16.0,
        "the server grew: RSS {idle_rss} → {rss} KiB, peak {idle_hwm} → {hwm} KiB \
         (24 uploads are 240 MiB)"
    );
}

#[tokio::test]
async fn an_oversized_upload_is_refused_413_while_streaming_and_nothing_is_stored() {
    let onboard = Onboard::up(LOOPBACK, &[]);
    onboard.ready().await;
    let application = new_application(&onboard, "big-uploader").await;
    let body = upload_body(10 * MIB + 64 * 1024);
    let head = upload_head(
        onboard.addr,
        &application,
        &token("big-uploader"),
        body.len(),
    );
    let (status, answer) = send_raw(onboard.addr, head, body).await;
    assert_eq!(status, 413, "{answer}");
    let problem: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(problem["code"], "payload-too-large");
    assert_eq!(problem["errors"][0]["name"], "file", "{problem}");
    let folder = onboard.data_dir.join("documents").join(&application);
    let left: Vec<_> = std::fs::read_dir(&folder)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "the refused upload left {left:?}");

    // A file within the cap streams to the store whole.
    let body = upload_body(MIB);
    let head = upload_head(
        onboard.addr,
        &application,
        &token("big-uploader"),
        body.len(),
    );
    let (status, answer) = send_raw(onboard.addr, head, body).await;
    assert_eq!(status, 201, "{answer}");
    let accepted: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(accepted["sizeBytes"], MIB);
    let stored: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(stored.len(), 1);
    let bytes = std::fs::read(stored[0].path()).unwrap();
    use sha2::Digest;
    assert_eq!(
        accepted["sha256"].as_str().unwrap(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
}

#[tokio::test]
async fn a_customer_beyond_its_concurrent_uploads_is_told_to_retry() {
    let onboard = Onboard::up(
        LOOPBACK,
        &[
            ("ONBOARD_MAX_CONCURRENT_UPLOADS_PER_CUSTOMER", "2"),
            // Its retries are not what this test is about.
            ("ONBOARD_REQUEST_BURST", "1000"),
        ],
    );
    onboard.ready().await;
    let application = new_application(&onboard, "busy-uploader").await;
    let body = upload_body(MIB);
    // Two uploads that send their head and the start of the body, then stall. The start is
    // more than the document store keeps in memory, so each has begun its file.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(onboard.addr).await.unwrap();
        let head = upload_head(
            onboard.addr,
            &application,
            &token("busy-uploader"),
            body.len(),
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..256 * 1024]).await.unwrap();
        stalled.push(stream);
    }
    // Both hold their places once their files have begun to stream into the store.
    let folder = onboard.data_dir.join("documents").join(&application);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let streaming = std::fs::read_dir(&folder)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "part"))
                    .count()
            })
            .unwrap_or(0);
        if streaming == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{streaming} uploads streaming after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = upload_head(
        onboard.addr,
        &application,
        &token("busy-uploader"),
        body.len(),
    );
    let (status, refused) = send_raw(onboard.addr, head, body.clone()).await;
    assert_eq!(status, 429, "{refused}");
    let problem: serde_json::Value = serde_json::from_str(&refused).unwrap();
    assert_eq!(problem["code"], "too-many-requests", "{problem}");
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("at most 2 uploads"));

    // Another customer still uploads.
    let other = new_application(&onboard, "calm-uploader").await;
    let head = upload_head(onboard.addr, &other, &token("calm-uploader"), body.len());
    assert_eq!(send_raw(onboard.addr, head, body).await.0, 201);
    drop(stalled);
}
