//! `onboard up` (every role in one process) and `onboard api | consumer | gateway` (one role per
//! process, for production), with the flags they share. Each flag sets its configuration key
//! (`src/config`): the file and the environment give the rest.

use crate::app::{Application, Settings};
use crate::auth::DEFAULT_TOKEN_TTL_SECS;
use crate::config::{Flags, Loaded, Role};
use crate::domain::event::Topic;
use crate::domain::ids::CustomerId;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags every role shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Where the embedded database and event log, uploaded documents and mail are kept
    /// (`data_dir`, default ./onboard-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Consumer group of the consumers (`consumer.group`, default onboard-ai-consumer-group).
    #[arg(long)]
    pub group: Option<String>,
    /// Records per consumer poll, the seed's batch size (`consumer.batch_size`, default 100).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub batch_size: Option<u16>,
    /// Where a consumer group without committed offsets starts: earliest or latest
    /// (`consumer.starting_position`, default earliest).
    #[arg(long, value_parser = starting_position)]
    pub starting_position: Option<String>,
    /// Browser origins allowed to open WebSockets besides the server's own (repeatable, or `*`)
    /// (`gateway.allowed_origins`).
    #[arg(long = "allowed-origin", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Prefix of the bus topic names, so several environments can share one Kafka cluster
    /// (`bus.topic_prefix`).
    #[arg(long)]
    pub topic_prefix: Option<String>,
    /// Event bus: embedded, or kafka (the default when KAFKA_BROKERS is set) (`bus.kind`).
    #[arg(long, value_parser = crate::wiring::BusKind::parse)]
    pub bus: Option<crate::wiring::BusKind>,
    /// Replication factor of the topics created on Kafka (default 2; at most the broker count)
    /// (`bus.replication_factor`).
    #[arg(long, value_parser = clap::value_parser!(i16).range(1..=16))]
    pub replication_factor: Option<i16>,
    /// Where operator alerts are addressed (`consumer.operator_email`).
    #[arg(long)]
    pub operator_email: Option<String>,
    /// The built web app to serve at `/`; `npx ng build` in `web/` writes it (`web.dir`).
    #[arg(long)]
    pub web_dir: Option<PathBuf>,
}

fn starting_position(raw: &str) -> Result<String, String> {
    crate::ports::bus::StartFrom::parse(raw).map(|_| raw.to_owned())
}

impl CommonArgs {
    fn flags(&self, listen: Option<SocketAddr>) -> Flags {
        let mut flags = Flags::default();
        flags
            .set_some("listen", listen.map(|a| a.to_string()))
            .set_path("data_dir", self.data_dir.as_deref())
            .set_some("consumer.group", self.group.clone())
            .set_some("consumer.batch_size", self.batch_size.map(i64::from))
            .set_some("consumer.starting_position", self.starting_position.clone())
            .set_some("bus.topic_prefix", self.topic_prefix.clone())
            .set_some("bus.kind", self.bus.map(crate::wiring::BusKind::as_str))
            .set_some(
                "bus.replication_factor",
                self.replication_factor.map(i64::from),
            )
            .set_some("consumer.operator_email", self.operator_email.clone())
            .set_path("web.dir", self.web_dir.as_deref());
        if !self.allowed_origins.is_empty() {
            flags.set("gateway.allowed_origins", self.allowed_origins.clone());
        }
        flags
    }
}

/// Timing of the WebSocket gateway.
#[derive(Debug, Args)]
pub struct GatewayTuning {
    /// Seconds a connection's registry row lives without a heartbeat refreshing it
    /// (`gateway.ttl_seconds`, default 120).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=86400))]
    pub ws_ttl_seconds: Option<u64>,
    /// Seconds between server pings, each also refreshes the registry row
    /// (`gateway.heartbeat_seconds`, default 30).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_heartbeat_seconds: Option<u64>,
    /// Seconds between sweeps of expired registry rows (`gateway.sweep_seconds`, default 30).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_sweep_seconds: Option<u64>,
}

impl GatewayTuning {
    fn flags(&self, flags: &mut Flags) {
        // The parsers bound them far below i64::MAX.
        let seconds = |s: Option<u64>| s.map(|s| s as i64);
        flags
            .set_some("gateway.ttl_seconds", seconds(self.ws_ttl_seconds))
            .set_some(
                "gateway.heartbeat_seconds",
                seconds(self.ws_heartbeat_seconds),
            )
            .set_some("gateway.sweep_seconds", seconds(self.ws_sweep_seconds));
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address of the HTTP API, WebSocket gateway and operator endpoints
    /// (`listen`, default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve the development sign-in `POST /dev/token` even on a non-loopback address
    /// (`auth.dev_token`); it hands a token for any customer to whoever reaches the port.
    #[arg(long)]
    pub dev: bool,
    #[command(flatten)]
    pub gateway: GatewayTuning,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Address of the producer API and the operator endpoints (`listen`, default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ConsumerArgs {
    /// Address of this consumer's /healthz, /readyz and /metrics (`listen`, default
    /// 127.0.0.1:8081).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Consume only this topic, the seed's KAFKA_TOPIC (`consumer.topic`); all six by default.
    #[arg(long, value_parser = Topic::parse)]
    pub topic: Option<Topic>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address of the WebSocket endpoint, the management API and the operator endpoints
    /// (`listen`, default 127.0.0.1:8082).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// URL other processes reach this node's management API at (`gateway.advertise_url`,
    /// default http://LISTEN).
    #[arg(long)]
    pub advertise_url: Option<String>,
    /// This node's id in the connection registry (`gateway.node_id`, default a new id per start).
    #[arg(long)]
    pub node_id: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayTuning,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl UpArgs {
    pub fn flags(&self) -> Flags {
        let mut flags = self.common.flags(self.listen);
        self.gateway.flags(&mut flags);
        if self.dev {
            flags.set("auth.dev_token", true);
        }
        flags
    }
}

impl ApiArgs {
    pub fn flags(&self) -> Flags {
        self.common.flags(self.listen)
    }
}

impl ConsumerArgs {
    pub fn flags(&self) -> Flags {
        let mut flags = self.common.flags(self.listen);
        flags.set_some("consumer.topic", self.topic.map(|t| t.as_str()));
        flags
    }
}

impl GatewayArgs {
    pub fn flags(&self) -> Flags {
        let mut flags = self.common.flags(self.listen);
        self.gateway.flags(&mut flags);
        flags
            .set_some("gateway.advertise_url", self.advertise_url.clone())
            .set_some("gateway.node_id", self.node_id.clone());
        flags
    }
}

/// `onboard up`: every role in one process; a JWT secret is generated into the data directory
/// when none is configured.
pub async fn up(config: Loaded) -> anyhow::Result<()> {
    let settings = config.settings(Role::Up)?;
    let data_dir = settings.data_dir.clone();
    let web_dir = settings.web_dir.clone();
    let dev_token = settings.dev_token_endpoint;
    let app = Application::build(settings).await?;
    print_welcome(&app, &data_dir, &web_dir, dev_token);
    app.run(super::shutdown_on_signals()).await
}

/// `onboard api | consumer | gateway`: one role beside other processes; the validation refuses
/// to start one without an explicit JWT secret and a shared bus.
pub async fn role(role: Role, config: Loaded) -> anyhow::Result<()> {
    let settings: Settings = config.settings(role)?;
    let app = Application::build(settings).await?;
    println!(
        "onboard {} listening on http://{}",
        app.roles(),
        app.local_addr()
    );
    if let Some(metrics) = app.metrics_addr() {
        println!("metrics on http://{metrics}/metrics");
    }
    app.run(super::shutdown_on_signals()).await
}

fn print_welcome(
    app: &Application,
    data_dir: &std::path::Path,
    web_dir: &std::path::Path,
    dev_token: bool,
) {
    let addr = app.local_addr();
    let sign_in = if dev_token {
        format!("http://{addr}/dev/token  (development: a token for any customer)")
    } else {
        "off: not a loopback address; start with --dev to serve /dev/token".to_owned()
    };
    let customer = CustomerId::parse("test-customer-123").expect("a valid example id");
    let token = app.authenticator().issue(&customer, DEFAULT_TOKEN_TTL_SECS);
    let base = format!("http://{addr}");
    let metrics = match app.metrics_addr() {
        Some(metrics) => format!("http://{metrics}/metrics (its own listener, no token)"),
        None => format!("{base}/metrics"),
    };
    let page = if crate::roles::web::is_built(web_dir) {
        format!("{base}/  (customers; operators: {base}/operator)")
    } else {
        format!(
            "not built: run `{}` (or start with scripts/up.sh)",
            crate::roles::web::BUILD_HINT
        )
    };
    let payload = r#"{"email":"test@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;
    println!(
        r#"
Onboard is up.
  Web page     {page}
  API          {base}/v1  (OpenAPI: {base}/openapi.json)
  WebSocket    ws://{addr}/ws?customerId=…
  Operators    {base}/healthz  {base}/readyz  {metrics}
  Dev sign-in  {sign_in}
  Data         {data}  (mail for customers and operators: {data}/mail/new)

Try it (a development token for {customer}, valid 12 hours):
  export TOKEN={token}

  # watch the customer's events live (either one):
  onboard watch --url {base} {customer}
  npx wscat -c "ws://{addr}/ws?customerId={customer}&token=$TOKEN"

  # submit the seed's payload; the event arrives on the WebSocket:
  curl -sS -X POST {base}/v1/customers \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{payload}'
"#,
        data = data_dir.display(),
    );
}
