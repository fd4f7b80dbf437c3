//! `onboard watch CUSTOMER_ID`: follows one customer's events over the gateway's WebSocket,
//! one line per event, reconnecting and resuming so that nothing is missed or printed twice.
//!
//! Protocol (DESIGN.md §6): the server greets with `welcome` (carrying the customer's
//! `lastSequence`), pushes `{"type":"event","event":{…}}`, answers `ping` with `pong` and
//! `resume` with the missed events followed by `resumed`. The client keeps a cursor (last event
//! id and sequence): after a reconnect it asks to resume after the last event it printed, and it
//! drops every event whose sequence it has already passed.
//!
//! Frames are parsed privately here with `serde_json::Value`, so the client tolerates fields a
//! newer server adds and does not share types with the gateway.

use crate::domain::ids::CustomerId;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{self, Write};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, UrlError};
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// First reconnect delay; doubled per failed attempt up to [`MAX_RECONNECT_DELAY`].
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(500);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);
/// A handshake that takes longer than this is abandoned and retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the client pings; keeps the gateway's idle timeout from closing a quiet watch.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Silence after which the connection is presumed dead (a half-open TCP connection never errors).
const SILENCE_LIMIT: Duration = Duration::from_secs(50);
/// How long a clean close waits for the server's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What to watch and how to print it.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Base URL of the gateway: `http(s)://host:port` (or `ws(s)://host:port`).
    pub url: String,
    pub customer_id: CustomerId,
    /// A customer token whose subject is `customer_id`; sent only in the `Authorization` header.
    pub token: String,
    /// Start by replaying the events after this event id.
    pub after: Option<String>,
    /// Print each event's envelope as JSON instead of a human line.
    pub json: bool,
    /// PEM certificates trusted for `wss://` besides the webpki roots (a private CA).
    pub ca_file: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("invalid gateway URL '{0}': expected http(s)://host:port or ws(s)://host:port")]
    InvalidUrl(String),
    #[error("no token: a customer token is needed to watch")]
    MissingToken,
    #[error("the token cannot be sent in an HTTP header (it contains invalid characters)")]
    InvalidToken,
    #[error("the gateway refused the token (HTTP {status}){detail}; check that it is valid, not expired, and issued for this customer")]
    Unauthorized { status: u16, detail: String },
    #[error("the gateway rejected the connection (HTTP {status}){detail}")]
    Rejected { status: u16, detail: String },
    #[error("this build cannot open wss:// connections (TLS support is not compiled in)")]
    TlsUnsupported,
    #[error(transparent)]
    CaFile(#[from] super::watch_tls::CaFileError),
    #[error("the gateway ended the watch: {reason} (close code {code})")]
    ClosedByServer { code: u16, reason: String },
    #[error("cannot write the output: {0}")]
    Output(#[source] io::Error),
}

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Watches until `shutdown` is cancelled (then closes with 1000 and returns `Ok`), the output
/// is closed (a broken pipe, e.g. `| head`), or an error that retrying cannot fix.
pub async fn watch(
    opts: WatchOptions,
    mut out: impl Write + Send,
    shutdown: CancellationToken,
) -> Result<(), WatchError> {
    if opts.token.trim().is_empty() {
        return Err(WatchError::MissingToken);
    }
    let url = gateway_url(&opts.url, &opts.customer_id)?;
    let tls = super::watch_tls::client_config(opts.ca_file.as_deref())?;
    let mut cursor = Cursor::new(opts.after.clone());
    let mut connected_before = false;
    let mut failures: u32 = 0;
    loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            attempt = connect(&url, &opts.token, &tls) => attempt,
        };
        match attempt {
            Ok(socket) => {
                // The first session follows live events only, unless asked to start after an
                // event; every later session resumes so the gap is filled.
                let resume = connected_before || cursor.last_event_id.is_some();
                connected_before = true;
                tracing::info!(customer_id = %opts.customer_id, resume, "Connected to the gateway.");
                let end =
                    session(socket, &mut cursor, resume, opts.json, &mut out, &shutdown).await?;
                match end {
                    SessionEnd::Finished => return Ok(()),
                    SessionEnd::Lost { welcomed } => {
                        if welcomed {
                            failures = 0;
                        }
                    }
                }
            }
            Err(Connect::Fatal(e)) => return Err(e),
            Err(Connect::Retry(reason)) => {
                tracing::warn!(reason = %reason, "Cannot reach the gateway.");
            }
        }
        let delay = reconnect_delay(failures, rand::random::<f64>());
        failures = failures.saturating_add(1);
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "Reconnecting to the gateway."
        );
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

// ---- connecting ------------------------------------------------------------------------

/// Why a connection attempt failed: worth retrying, or not.
enum Connect {
    Retry(String),
    Fatal(WatchError),
}

/// `ws(s)://host:port/ws?customerId=ID` from the gateway's base URL.
pub(crate) fn gateway_url(base: &str, customer: &CustomerId) -> Result<String, WatchError> {
    let trimmed = base.trim().trim_end_matches('/');
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| WatchError::InvalidUrl(base.to_owned()))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(WatchError::InvalidUrl(base.to_owned())),
    };
    if rest.is_empty() || rest.contains(['?', '#']) {
        return Err(WatchError::InvalidUrl(base.to_owned()));
    }
    let path = if rest.ends_with("/ws") { "" } else { "/ws" };
    // Customer ids only hold characters that are legal in a query (`A-Za-z0-9._:@-`).
    Ok(format!("{scheme}://{rest}{path}?customerId={customer}"))
}

async fn connect(
    url: &str,
    token: &str,
    tls: &std::sync::Arc<rustls::ClientConfig>,
) -> Result<Socket, Connect> {
    let mut request = url
        .into_client_request()
        .map_err(|_| Connect::Fatal(WatchError::InvalidUrl(url.to_owned())))?;
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| Connect::Fatal(WatchError::InvalidToken))?;
    bearer.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, bearer);

    let handshake = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(tls.clone())),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Err(_) => Err(Connect::Retry("the handshake timed out".into())),
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(WsError::Http(response))) => {
            let status = response.status().as_u16();
            let detail = response
                .body()
                .as_deref()
                .map(error_detail)
                .filter(|d| !d.is_empty())
                .map_or_else(String::new, |d| format!(": {d}"));
            Err(match classify_status(status) {
                StatusClass::Unauthorized => {
                    Connect::Fatal(WatchError::Unauthorized { status, detail })
                }
                StatusClass::Fatal => Connect::Fatal(WatchError::Rejected { status, detail }),
                StatusClass::Retry => Connect::Retry(format!("the gateway answered HTTP {status}")),
            })
        }
        Ok(Err(WsError::Url(UrlError::TlsFeatureNotEnabled))) => {
            Err(Connect::Fatal(WatchError::TlsUnsupported))
        }
        Ok(Err(WsError::Url(UrlError::UnableToConnect(_)))) => {
            Err(Connect::Retry("cannot connect".into()))
        }
        Ok(Err(WsError::Url(_))) => Err(Connect::Fatal(WatchError::InvalidUrl(url.to_owned()))),
        Ok(Err(e)) => Err(Connect::Retry(e.to_string())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusClass {
    Unauthorized,
    /// The request itself is wrong; asking again will not help.
    Fatal,
    Retry,
}

fn classify_status(status: u16) -> StatusClass {
    match status {
        401 | 403 => StatusClass::Unauthorized,
        408 | 429 => StatusClass::Retry,
        400..=499 => StatusClass::Fatal,
        _ => StatusClass::Retry,
    }
}

/// A short human reason from a refusal body: the problem+json `detail` or `title`, or the text.
fn error_detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        ["detail", "title", "message"]
            .into_iter()
            .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
    });
    let detail = from_json.unwrap_or_else(|| text.trim().to_owned());
    detail.chars().take(200).collect()
}

/// Nominal delay `0.5 s × 2^attempt` capped at 10 s; the wait is a random point in its upper
/// half (`jitter` in `[0, 1)`), so many watchers cut off together do not return in lockstep.
fn reconnect_delay(attempt: u32, jitter: f64) -> Duration {
    let nominal = FIRST_RECONNECT_DELAY
        .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
        .unwrap_or(MAX_RECONNECT_DELAY)
        .min(MAX_RECONNECT_DELAY);
    nominal.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

// ---- one connection --------------------------------------------------------------------

enum SessionEnd {
    /// Shut down or output closed: stop watching.
    Finished,
    /// The connection dropped; `welcomed` says it got as far as the server's greeting.
    Lost { welcomed: bool },
}

async fn session<W: Write>(
    socket: Socket,
    cursor: &mut Cursor,
    resume: bool,
    json_output: bool,
    out: &mut W,
    shutdown: &CancellationToken,
) -> Result<SessionEnd, WatchError> {
    let (mut sink, mut stream) = socket.split();
    let mut welcomed = false;
    let lost = |welcomed| Ok(SessionEnd::Lost { welcomed });

    if resume
        && sink
            .send(Message::text(cursor.resume_frame()))
            .await
            .is_err()
    {
        return lost(welcomed);
    }
    let mut pings = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();

    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => {
                close_normally(&mut sink, &mut stream).await;
                return Ok(SessionEnd::Finished);
            }
            _ = pings.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    tracing::warn!("The gateway went silent; reconnecting.");
                    return lost(welcomed);
                }
                let ping = json!({"action": "ping"}).to_string();
                if sink.send(Message::text(ping)).await.is_err() {
                    return lost(welcomed);
                }
                continue;
            }
            message = stream.next() => message,
        };
        let message = match message {
            None => return lost(welcomed),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "The connection to the gateway failed.");
                return lost(welcomed);
            }
            Some(Ok(message)) => message,
        };
        last_heard = Instant::now();
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                // A policy close means this watch is not allowed; reconnecting would loop.
                if code == u16::from(CloseCode::Policy) {
                    return Err(WatchError::ClosedByServer { code, reason });
                }
                tracing::info!(code, "The gateway closed the connection.");
                return lost(welcomed);
            }
            // tungstenite answers pings itself; binary frames are not part of the protocol.
            _ => continue,
        };
        match parse_frame(&text) {
            ServerFrame::Welcome { last_sequence } => {
                welcomed = true;
                if !resume {
                    // Following live only: what was stored before we came is not news.
                    cursor.skip_through(last_sequence);
                }
            }
            ServerFrame::Event(event) => {
                if !cursor.accept(&event) {
                    continue;
                }
                let line = if json_output {
                    event.to_string()
                } else {
                    format_line(&event)
                };
                // Bound first: the formatting temporaries are not `Send` and must not live
                // across the await below.
                let written = writeln!(out, "{line}").and_then(|()| out.flush());
                if let Err(e) = written {
                    close_normally(&mut sink, &mut stream).await;
                    return if e.kind() == io::ErrorKind::BrokenPipe {
                        Ok(SessionEnd::Finished)
                    } else {
                        Err(WatchError::Output(e))
                    };
                }
                if let Some(id) = &cursor.last_event_id {
                    let ack = json!({"action": "ack", "eventId": id}).to_string();
                    if sink.send(Message::text(ack)).await.is_err() {
                        return lost(welcomed);
                    }
                }
            }
            ServerFrame::Resumed { replayed } => {
                tracing::debug!(replayed, "Caught up with the stored events.");
            }
            ServerFrame::Pong => {}
            ServerFrame::Error { code, message } => {
                tracing::warn!(code = %code, message = %message, "The gateway reported an error.");
            }
            ServerFrame::Unknown => {
                tracing::debug!("Ignoring a frame this client does not know.");
            }
        }
    }
}

/// Sends close 1000 and waits briefly for the server's answer, so the server sees a clean close.
async fn close_normally<S, R>(sink: &mut S, stream: &mut R)
where
    S: futures::Sink<Message> + Unpin,
    R: futures::Stream<Item = Result<Message, WsError>> + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "client closed".into(),
    };
    if sink.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let drain = async {
        while let Some(Ok(message)) = stream.next().await {
            if message.is_close() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
}

// ---- frames, cursor and output (pure) --------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum ServerFrame {
    Welcome { last_sequence: u64 },
    Event(Value),
    Resumed { replayed: u64 },
    Pong,
    Error { code: String, message: String },
    Unknown,
}

fn parse_frame(text: &str) -> ServerFrame {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        return ServerFrame::Unknown;
    };
    let field = |k: &str| {
        frame
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let number = |k: &str| frame.get(k).and_then(Value::as_u64).unwrap_or(0);
    match frame.get("type").and_then(Value::as_str) {
        Some("welcome") => ServerFrame::Welcome {
            last_sequence: number("lastSequence"),
        },
        Some("event") => match frame.get("event") {
            Some(event) if event.is_object() => ServerFrame::Event(event.clone()),
            _ => ServerFrame::Unknown,
        },
        Some("resumed") => ServerFrame::Resumed {
            replayed: number("replayed"),
        },
        Some("pong") => ServerFrame::Pong,
        Some("error") => ServerFrame::Error {
            code: field("code"),
            message: field("message"),
        },
        _ => ServerFrame::Unknown,
    }
}

/// Where the watch stands in the customer's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    /// The last event printed (or the `--after` id before anything was printed).
    last_event_id: Option<String>,
    /// Highest sequence printed or skipped; anything at or below it is a duplicate.
    last_sequence: u64,
}

impl Cursor {
    fn new(after: Option<String>) -> Self {
        Self {
            last_event_id: after,
            last_sequence: 0,
        }
    }

    /// Whether `event` is new; if so it becomes the last event.
    fn accept(&mut self, event: &Value) -> bool {
        let id = event.get("id").and_then(Value::as_str);
        let sequence = event.get("sequence").and_then(Value::as_u64);
        if id.is_some() && id == self.last_event_id.as_deref() {
            return false;
        }
        if let Some(sequence) = sequence {
            if sequence <= self.last_sequence {
                return false;
            }
            self.last_sequence = sequence;
        }
        if let Some(id) = id {
            self.last_event_id = Some(id.to_owned());
        }
        true
    }

    fn skip_through(&mut self, sequence: u64) {
        self.last_sequence = self.last_sequence.max(sequence);
    }

    /// `resume` after the last event, or from the beginning when there is none yet (the
    /// sequence then filters what was already skipped).
    fn resume_frame(&self) -> String {
        match &self.last_event_id {
            Some(after) => json!({"action": "resume", "after": after}),
            None => json!({"action": "resume"}),
        }
        .to_string()
    }
}

/// `occurredAt  type  sequence  applicationId  status (decision)`.
fn format_line(event: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_owned();
    let data = event.get("data");
    let field = |k: &str| data.and_then(|d| d.get(k)).and_then(Value::as_str);
    let sequence = event
        .get("sequence")
        .and_then(Value::as_u64)
        .map_or_else(|| "-".to_owned(), |s| s.to_string());
    let summary = match (
        field("status"),
        field("decision"),
        field("step"),
        field("code"),
    ) {
        (Some(status), Some(decision), _, _) => format!("{status} ({decision})"),
        (Some(status), None, _, _) => status.to_owned(),
        (None, Some(decision), _, _) => decision.to_owned(),
        (None, None, Some(step), code) => format!("ERROR {step}/{}", code.unwrap_or("-")),
        (None, None, None, Some(code)) => format!("ERROR {code}"),
        _ => "-".to_owned(),
    };
    format!(
        "{}  {:<19}  {:>4}  {:<36}  {}",
        text(event.get("occurredAt")),
        text(event.get("type")),
        sequence,
        text(event.get("applicationId")),
        summary
    )
}

/// `onboard watch` arguments. The token comes from the configuration (`watch.token`,
/// `ONBOARD_TOKEN`), or is minted from the same secret `onboard up` uses; never from an
/// argument, where other users could read it.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The customer whose events to follow.
    pub customer_id: String,
    /// Base URL of the gateway (`watch.url`, default http://127.0.0.1:8080).
    #[arg(long)]
    pub url: Option<String>,
    /// Data directory whose secret mints the token when none is configured (`data_dir`).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Replay the stored events after this event id first.
    #[arg(long)]
    pub after: Option<String>,
    /// Print each event's envelope as one JSON line.
    #[arg(long)]
    pub json: bool,
    /// PEM file of CA certificates trusted for a wss:// gateway besides the public roots
    /// (`watch.ca_file`).
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl WatchArgs {
    /// The flags as configuration keys.
    pub fn flags(&self) -> crate::config::Flags {
        let mut flags = crate::config::Flags::default();
        flags
            .set_some("watch.url", self.url.clone())
            .set_path("data_dir", self.data_dir.as_deref())
            .set_path("watch.ca_file", self.ca_file.as_deref());
        flags
    }
}

/// Runs `onboard watch` until Ctrl-C.
pub async fn run(args: WatchArgs, config: crate::config::Loaded) -> anyhow::Result<()> {
    let customer_id = CustomerId::parse(&args.customer_id)
        .map_err(|reason| anyhow::anyhow!("invalid customer id: {reason}"))?;
    let (configured, url, data_dir, ca_file) = config.build(|c, p| {
        (
            c.watch_token(p),
            c.watch.url.clone(),
            c.data_dir.clone(),
            c.watch.ca_file.clone(),
        )
    })?;
    let token = match configured {
        Some(token) => token.expose().to_owned(),
        None => {
            let source = config.build(|c, p| c.jwt_source(p))?;
            let secret = source.resolve(&data_dir, false)?;
            crate::auth::Authenticator::new(&secret)
                .issue(&customer_id, crate::auth::DEFAULT_TOKEN_TTL_SECS)
        }
    };
    let options = WatchOptions {
        url,
        customer_id,
        token,
        after: args.after,
        json: args.json,
        ca_file,
    };
    let shutdown = super::shutdown_on_signals();
    watch(options, io::stdout(), shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> CustomerId {
        CustomerId::parse("c-1").unwrap()
    }

    fn event(id: &str, sequence: u64) -> Value {
        json!({"id": id, "type": "kyc-verified", "sequence": sequence})
    }

    #[test]
    fn http_base_urls_become_the_gateway_websocket_url() {
        for (base, expected) in [
            (
                "http://localhost:8080",
                "ws://localhost:8080/ws?customerId=c-1",
            ),
            (
                "http://localhost:8080/",
                "ws://localhost:8080/ws?customerId=c-1",
            ),
            (
                "https://gw.example.com",
                "wss://gw.example.com/ws?customerId=c-1",
            ),
            ("ws://h:1/ws", "ws://h:1/ws?customerId=c-1"),
            ("WSS://h:1", "wss://h:1/ws?customerId=c-1"),
        ] {
            assert_eq!(gateway_url(base, &customer()).unwrap(), expected, "{base}");
        }
        for bad in ["localhost:8080", "ftp://h", "http://", "http://h/?x=1"] {
            assert!(matches!(
                gateway_url(bad, &customer()),
                Err(WatchError::InvalidUrl(_))
            ));
        }
    }

    #[test]
    fn server_frames_are_recognised_and_unknown_ones_tolerated() {
        assert_eq!(
            parse_frame(
                r#"{"type":"welcome","connectionId":"x","customerId":"c-1","lastSequence":5}"#
            ),
            ServerFrame::Welcome { last_sequence: 5 }
        );
        assert_eq!(
            parse_frame(r#"{"type":"event","event":{"id":"e1","sequence":1}}"#),
            ServerFrame::Event(json!({"id":"e1","sequence":1}))
        );
        assert_eq!(
            parse_frame(r#"{"type":"resumed","after":"e1","replayed":3}"#),
            ServerFrame::Resumed { replayed: 3 }
        );
        assert_eq!(parse_frame(r#"{"type":"pong"}"#), ServerFrame::Pong);
        assert_eq!(
            parse_frame(r#"{"type":"error","code":"UNKNOWN_ACTION","message":"no"}"#),
            ServerFrame::Error {
                code: "UNKNOWN_ACTION".into(),
                message: "no".into()
            }
        );
        assert_eq!(parse_frame(r#"{"type":"event"}"#), ServerFrame::Unknown);
        assert_eq!(parse_frame(r#"{"type":"future"}"#), ServerFrame::Unknown);
        assert_eq!(parse_frame("not json"), ServerFrame::Unknown);
    }

    #[test]
    fn events_at_or_below_the_last_sequence_are_dropped_as_duplicates() {
        let mut cursor = Cursor::new(None);
        let seen: Vec<bool> = [
            event("e1", 1),
            event("e2", 2),
            event("e1", 1),
            event("e2", 2),
            event("e3", 3),
        ]
        .iter()
        .map(|e| cursor.accept(e))
        .collect();
        assert_eq!(seen, [true, true, false, false, true]);
        assert_eq!(cursor.last_event_id.as_deref(), Some("e3"));
        assert_eq!(cursor.last_sequence, 3);
    }

    #[test]
    fn the_event_named_by_after_is_not_printed_again() {
        let mut cursor = Cursor::new(Some("e5".into()));
        assert!(!cursor.accept(&event("e5", 5)));
        assert!(cursor.accept(&event("e6", 6)));
    }

    #[test]
    fn a_live_only_watch_skips_what_was_stored_before_it_started() {
        let mut cursor = Cursor::new(None);
        cursor.skip_through(4);
        // A reconnect without any printed event resumes from the start; the old ones are skipped.
        assert_eq!(cursor.resume_frame(), r#"{"action":"resume"}"#);
        assert!(!cursor.accept(&event("e4", 4)));
        assert!(cursor.accept(&event("e5", 5)));
        assert_eq!(cursor.resume_frame(), r#"{"action":"resume","after":"e5"}"#);
    }

    #[test]
    fn human_lines_show_time_type_sequence_application_and_outcome() {
        let kyc = json!({
            "id": "e1", "type": "kyc-verified", "version": 1,
            "occurredAt": "2024-05-01T10:00:00.000Z", "customerId": "c-1",
            "applicationId": "0190a5e2-7c1e-7d3a-9a51-1f2d3c4b5a69", "correlationId": "x",
            "sequence": 3, "data": {"status": "KYC_REVIEW", "decision": "REVIEW"}
        });
        assert_eq!(
            format_line(&kyc),
            "2024-05-01T10:00:00.000Z  kyc-verified            3  0190a5e2-7c1e-7d3a-9a51-1f2d3c4b5a69  KYC_REVIEW (REVIEW)"
        );
        let error = json!({
            "type": "workflow-errors", "occurredAt": "t", "sequence": 12,
            "data": {"step": "kyc", "code": "DOCUMENT_MISSING", "message": "m"}
        });
        assert_eq!(
            format_line(&error),
            format!(
                "t  workflow-errors        12  {:<36}  ERROR kyc/DOCUMENT_MISSING",
                "-"
            )
        );
    }

    #[test]
    fn reconnect_delays_double_from_half_a_second_to_ten_seconds_with_jitter() {
        let upper: Vec<u128> = (0..8)
            .map(|a| reconnect_delay(a, 1.0).as_millis())
            .collect();
        assert_eq!(upper, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
        assert_eq!(reconnect_delay(0, 0.0), Duration::from_millis(250));
        assert_eq!(reconnect_delay(40, 0.5), Duration::from_millis(7500));
        assert_eq!(reconnect_delay(u32::MAX, 0.0), Duration::from_secs(5));
    }

    #[test]
    fn only_authentication_and_request_errors_stop_the_watch() {
        assert_eq!(classify_status(401), StatusClass::Unauthorized);
        assert_eq!(classify_status(403), StatusClass::Unauthorized);
        assert_eq!(classify_status(404), StatusClass::Fatal);
        assert_eq!(classify_status(429), StatusClass::Retry);
        assert_eq!(classify_status(503), StatusClass::Retry);
    }

    #[test]
    fn refusal_details_come_from_problem_json_or_plain_text() {
        assert_eq!(
            error_detail(br#"{"title":"Unauthorized","detail":"token expired"}"#),
            "token expired"
        );
        assert_eq!(
            error_detail(b" origin not allowed \n"),
            "origin not allowed"
        );
    }
}
