//! How the gateway closes sockets (docs/websocket.md, "Closing"), each seen from a client:
//! 1011 when the registry cannot be written at connect, 1001 after the idle timeout (while a
//! client that pings stays open), and SIGTERM draining a real `onboard up` process: open
//! sockets get 1001, an upload in flight is still answered, and no event is lost.
//! (1008, a client reading too slowly, is in websocket.rs; 1001 on an in-process stop and
//! 1009 there and in promises.rs.)

use crate::invalid_input::wait_for_event_count;
use crate::support::*;
use futures::StreamExt;
use onboard::testing::ports::free_port;
use onboard::testing::requests::MULTIPART_BOUNDARY as BOUNDARY;
use onboard::testing::ws::ClientSocket;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The close frame's code and reason, reading (and so answering pings) until it comes.
async fn close_frame(ws: &mut ClientSocket, wait: Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("no close frame within {wait:?}"),
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                return (frame.code.into(), frame.reason.to_string())
            }
            Ok(Some(Ok(Message::Close(None)))) => panic!("a close frame without a code"),
            Ok(Some(Ok(_))) => continue,
            Ok(other) => panic!("the socket ended without a close frame: {other:?}"),
        }
    }
}

/// docs/websocket.md: 1011 "the registry could not be written at connect". The registry table
/// of the app's SQLite file refuses inserts (a trigger, from a second connection), so the
/// socket opens, the registration fails, and the client reads 1011 instead of `welcome`. Once
/// the registry takes writes again, the same client connects normally.
#[tokio::test]
async fn a_registry_that_cannot_be_written_at_connect_closes_the_socket_with_1011() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), 0);
    // A trigger is a fault only a SQL store can be given from outside; SQLite is the default.
    let database = dir.path().join("registry-fault.db");
    settings.store = onboard::wiring::StoreSettings::Sqlite {
        path: database.clone(),
    };
    let app = spawn_with(settings).await;
    let customer = app.customer("registry-down");
    let mut outside = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&database)
        .connect()
        .await
        .expect("a second connection to the app's database");
    use sqlx::{ConnectOptions, Executor};
    outside
        .execute(
            "CREATE TRIGGER registry_down BEFORE INSERT ON websocket_connections
             BEGIN SELECT RAISE(ABORT, 'the registry is down for this test'); END",
        )
        .await
        .expect("create the trigger");

    let url = format!(
        "ws://{}/ws?customerId={}&token={}",
        app.addr, customer.id, customer.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("the upgrade happens before the registration");
    let (code, reason) = close_frame(&mut ws, FRAME_WAIT).await;
    assert_eq!(code, 1011, "closed with {code} ({reason})");

    outside
        .execute("DROP TRIGGER registry_down")
        .await
        .expect("drop the trigger");
    let tab = customer.tab().await;
    assert_eq!(tab.welcome["customerId"], customer.id.as_str());
}

/// docs/websocket.md: 1001 after the idle timeout, "no client message for 5 minutes; pings
/// count". A tab that only reads (its WebSocket library answers the server's heartbeats with
/// pongs on its own, as browsers do) is closed once the timeout passed since its last message;
/// a tab that sends a `ping` action more often than that stays open for twice the timeout.
#[tokio::test]
async fn a_silent_client_is_closed_with_1001_after_the_idle_timeout_and_a_pinging_one_stays() {
    // Long enough that a loaded machine's scheduling delays (hundreds of ms while the Kafka
    // suite runs beside three brokers) stay well inside it: a pong late by 0.5 s failed the run
    // with a 1.5 s timeout.
    let idle_timeout = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), 0);
    settings.gateway.idle_timeout = idle_timeout;
    settings.gateway.heartbeat = Duration::from_millis(200);
    let app = spawn_with(settings).await;
    let customer = app.customer("idle");
    // Timed from before the handshake: the server's idle clock starts during it, so a stopwatch
    // started once the tab is open (welcome received) would run short of the server's by the
    // handshake's duration (a loaded run saw "closed after 1.47 s" for a 1.5 s timeout).
    let silent_since = Instant::now();
    let mut silent = customer.tab().await;
    let mut pinging = customer.tab().await;

    let pings = async {
        let started = Instant::now();
        let mut id = 0;
        while started.elapsed() < idle_timeout * 2 {
            id += 1;
            pinging
                .send(&format!(r#"{{"action":"ping","id":{id}}}"#))
                .await;
            let pong = match onboard::testing::ws::next_incoming(&mut pinging.ws, idle_timeout / 2)
                .await
            {
                onboard::testing::ws::Incoming::Frame(frame) => frame,
                other => panic!(
                    "the pinging tab got no pong {:?} in: {other:?}",
                    started.elapsed()
                ),
            };
            assert_eq!((&pong["type"], &pong["id"]), (&"pong".into(), &id.into()));
            tokio::time::sleep(idle_timeout / 4).await;
        }
    };
    let closed = async {
        let frame = close_frame(&mut silent.ws, idle_timeout * 4).await;
        (frame, silent_since.elapsed())
    };
    let (((code, reason), after), ()) = tokio::join!(closed, pings);
    assert_eq!(
        (code, reason.as_str()),
        (1001, "idle timeout"),
        "after {after:?}"
    );
    assert!(
        after >= idle_timeout,
        "closed after {after:?}, before the idle timeout of {idle_timeout:?}"
    );
    // Still open and answering after twice the timeout.
    pinging.send(r#"{"action":"ping","id":0}"#).await;
    assert_eq!(pinging.next_frame().await.expect("a pong")["type"], "pong");
}

/// The documents step's multipart body with a 256 KiB PDF, so it can be sent in two parts.
fn passport_body() -> Vec<u8> {
    let mut file = onboard::testing::requests::pdf_bytes();
    file.resize(256 * 1024, b' ');
    onboard::testing::requests::passport_multipart(&file)
}

/// The `.part` files of uploads streaming into the application's folder.
fn uploads_streaming(data_dir: &std::path::Path, application: &str) -> usize {
    std::fs::read_dir(data_dir.join("documents").join(application))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "part"))
                .count()
        })
        .unwrap_or(0)
}

/// A child `onboard up` that is killed when dropped, so a failing test leaves no server behind.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(data_dir: &std::path::Path, port: u16) -> Server {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
    onboard::testing::env::hermetic(&mut command);
    store_env(&mut command, data_dir);
    bus_env(&mut command, data_dir);
    command
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("ONBOARD_JWT_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Server(command.spawn().expect("the binary starts"))
}

/// SIGTERM drains (README, docs/websocket.md): the process stops taking work, closes open sockets with
/// 1001, still answers the upload that was streaming when the signal came, and exits 0. Nothing
/// it accepted is lost: after a restart the customer's feed and a resume hold both steps'
/// events, once each.
#[tokio::test]
async fn sigterm_closes_sockets_with_1001_finishes_work_in_flight_and_loses_no_event() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_server(tmp.path(), port);
    let probe = TestApp::remote(tmp.path(), port).await;
    let customer = probe.customer("draining");
    let mut tab = customer.tab().await;
    let created = customer.submit_seed_payload().await;
    assert_eq!(created.status, 201, "{}", created.body);
    let application = created.body["applicationId"].as_str().unwrap().to_string();

    // An upload that sent its head and half its body, and is streaming into the store.
    let body = passport_body();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut upload = TcpStream::connect(probe.addr).await.unwrap();
    let head = format!(
        "POST /v1/applications/{application}/documents HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        probe.addr,
        customer.token,
        body.len()
    );
    upload.write_all(head.as_bytes()).await.unwrap();
    upload.write_all(first_half).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while uploads_streaming(tmp.path(), &application) == 0 {
        assert!(
            Instant::now() < deadline,
            "the upload never began to stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pid = server.0.id() as libc::pid_t;
    // SAFETY: signals the child this test started and still holds (not yet reaped).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let (code, reason) = close_frame(&mut tab.ws, FRAME_WAIT).await;
    assert_eq!(
        code, 1001,
        "the open socket was closed with {code} ({reason})"
    );

    upload.write_all(second_half).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(FRAME_WAIT, upload.read_to_string(&mut answer))
        .await
        .expect("the upload in flight is answered")
        .expect("read the answer");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the upload in flight was answered: {answer}"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exited with {status}");

    // Restarted: both accepted steps' events are there, once each.
    let _server = start_server(tmp.path(), port);
    probe.wait_ready().await;
    let events = wait_for_event_count(&customer, 2).await;
    assert_eq!(types(&events), &WORKFLOW_TOPICS[..2]);
    let mut tab = customer.tab().await;
    tab.send(r#"{"action":"resume"}"#).await;
    assert_eq!(types(&tab.events(2).await), &WORKFLOW_TOPICS[..2]);
    let resumed = tab.next_frame().await.expect("resumed");
    assert_eq!(
        (&resumed["type"], &resumed["replayed"]),
        (&"resumed".into(), &2.into()),
        "{resumed}"
    );
}
