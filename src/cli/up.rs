//! `onboard up` (every role in one process) and `onboard api | consumer | gateway` (one role per
//! process, for production), with the settings they share.

use crate::app::{Application, Roles, Settings};
use crate::auth::DEFAULT_TOKEN_TTL_SECS;
use crate::domain::event::Topic;
use crate::domain::ids::CustomerId;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Settings every role shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Where the embedded database and event log, uploaded documents and mail are kept.
    #[arg(long, env = "ONBOARD_DATA_DIR", default_value = "./onboard-data")]
    pub data_dir: PathBuf,
    /// Consumer group of the consumers.
    #[arg(long, env = "ONBOARD_CONSUMER_GROUP", default_value = crate::roles::consumer::DEFAULT_GROUP)]
    pub group: String,
    /// Records per consumer poll (the seed's batch size).
    #[arg(long, env = "ONBOARD_BATCH_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub batch_size: u16,
    /// Where a consumer group without committed offsets starts: earliest or latest.
    #[arg(long, env = "ONBOARD_STARTING_POSITION", default_value = "earliest", value_parser = crate::ports::bus::StartFrom::parse)]
    pub starting_position: crate::ports::bus::StartFrom,
    /// Browser origins allowed to open WebSockets besides the server's own (repeatable, or `*`).
    #[arg(
        long = "allowed-origin",
        env = "ONBOARD_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Prefix of the bus topic names, so several environments can share one Kafka cluster.
    #[arg(long, env = "ONBOARD_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Event bus: embedded, or kafka (the default when KAFKA_BROKERS is set).
    #[arg(long, env = "ONBOARD_BUS", value_parser = crate::wiring::BusKind::parse)]
    pub bus: Option<crate::wiring::BusKind>,
    /// Replication factor of the topics created on Kafka (default 2; at most the broker count).
    #[arg(long, env = "ONBOARD_REPLICATION_FACTOR", value_parser = clap::value_parser!(i16).range(1..=16))]
    pub replication_factor: Option<i16>,
    /// Where operator alerts are addressed.
    #[arg(
        long,
        env = "ONBOARD_OPERATOR_EMAIL",
        default_value = "operators@onboard.local"
    )]
    pub operator_email: String,
    /// The built web app to serve at `/` (`npx ng build` in `web/` writes it here).
    #[arg(long, env = "ONBOARD_WEB_DIR", default_value = crate::roles::web::DEFAULT_WEB_DIR)]
    pub web_dir: PathBuf,
}

/// Timing of the WebSocket gateway.
#[derive(Debug, Args)]
pub struct GatewayTuning {
    /// Seconds a connection's registry row lives without a heartbeat refreshing it.
    #[arg(long, env = "ONBOARD_WS_TTL_SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(2..=86400))]
    pub ws_ttl_seconds: u64,
    /// Seconds between server pings (each also refreshes the registry row).
    #[arg(long, env = "ONBOARD_WS_HEARTBEAT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_heartbeat_seconds: u64,
    /// Seconds between sweeps of expired registry rows.
    #[arg(long, env = "ONBOARD_WS_SWEEP_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_sweep_seconds: u64,
}

impl GatewayTuning {
    fn apply(&self, config: &mut crate::roles::gateway::GatewayConfig) -> anyhow::Result<()> {
        if self.ws_heartbeat_seconds >= self.ws_ttl_seconds {
            anyhow::bail!("--ws-heartbeat-seconds must be shorter than --ws-ttl-seconds, or rows expire between heartbeats");
        }
        config.ttl = std::time::Duration::from_secs(self.ws_ttl_seconds);
        config.heartbeat = std::time::Duration::from_secs(self.ws_heartbeat_seconds);
        config.sweep_interval = std::time::Duration::from_secs(self.ws_sweep_seconds);
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address of the HTTP API, WebSocket gateway and operator endpoints.
    #[arg(long, env = "ONBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub gateway: GatewayTuning,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Address of the producer API and the operator endpoints.
    #[arg(long, env = "ONBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ConsumerArgs {
    /// Address of this consumer's /healthz, /readyz and /metrics.
    #[arg(long, env = "ONBOARD_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// Consume only this topic (the seed's KAFKA_TOPIC); all six by default.
    #[arg(long, env = "KAFKA_TOPIC", value_parser = Topic::parse)]
    pub topic: Option<Topic>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address of the WebSocket endpoint, the management API and the operator endpoints.
    #[arg(long, env = "ONBOARD_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,
    /// URL other processes reach this node's management API at (default: http://LISTEN).
    #[arg(long, env = "ONBOARD_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// This node's id in the connection registry (default: a new id per start).
    #[arg(long, env = "ONBOARD_NODE_ID")]
    pub node_id: Option<String>,
    #[command(flatten)]
    pub gateway: GatewayTuning,
    #[command(flatten)]
    pub common: CommonArgs,
}

fn settings(listen: SocketAddr, common: CommonArgs, roles: Roles) -> anyhow::Result<Settings> {
    let mut settings = Settings::from_env(listen, common.data_dir)?;
    settings.bus = crate::wiring::BusSettings::choose(common.bus, &settings.data_dir)?
        .with_replication_factor(common.replication_factor);
    settings.consumer.group = common.group;
    settings.consumer.batch_size = common.batch_size as usize;
    settings.consumer.start_from = common.starting_position;
    settings.consumer.operator_address = common.operator_email;
    settings.gateway.allowed_origins = common.allowed_origins;
    settings.web_dir = common.web_dir;
    settings.topics = crate::ports::bus::TopicNames::with_prefix(&common.topic_prefix)
        .map_err(anyhow::Error::msg)?;
    settings.notifier = crate::wiring::NotifierSettings::from_env(&settings.data_dir)?;
    settings.dev_token_endpoint = roles.is_all();
    settings.roles = roles;
    Ok(settings)
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let data_dir = args.common.data_dir.clone();
    let web_dir = args.common.web_dir.clone();
    let mut settings = settings(args.listen, args.common, Roles::all())?;
    args.gateway.apply(&mut settings.gateway)?;
    let app = Application::build(settings).await?;
    print_welcome(&app, &data_dir, &web_dir);
    app.run(super::shutdown_on_signals()).await
}

pub async fn api(args: ApiArgs) -> anyhow::Result<()> {
    let settings = settings(
        args.listen,
        args.common,
        Roles {
            api: true,
            consumers: false,
            gateway: false,
        },
    )?;
    run_role(settings).await
}

pub async fn consumer(args: ConsumerArgs) -> anyhow::Result<()> {
    let mut settings = settings(
        args.listen,
        args.common,
        Roles {
            api: false,
            consumers: true,
            gateway: false,
        },
    )?;
    if let Some(topic) = args.topic {
        settings.consumer.topics = vec![topic];
    }
    run_role(settings).await
}

pub async fn gateway(args: GatewayArgs) -> anyhow::Result<()> {
    let mut settings = settings(
        args.listen,
        args.common,
        Roles {
            api: false,
            consumers: false,
            gateway: true,
        },
    )?;
    args.gateway.apply(&mut settings.gateway)?;
    if let Some(url) = args.advertise_url {
        settings.gateway.node_url = url;
    }
    if let Some(node_id) = args.node_id {
        settings.gateway.node_id = node_id;
    }
    run_role(settings).await
}

/// A single role shares its bus and store with other processes: the embedded bus cannot be shared.
async fn run_role(settings: Settings) -> anyhow::Result<()> {
    if !settings.bus.is_shared() {
        anyhow::bail!("a single role runs beside other processes and needs a shared event bus: set KAFKA_BROKERS (or use `onboard up`)");
    }
    let app = Application::build(settings).await?;
    println!(
        "onboard {} listening on http://{}",
        app.roles(),
        app.local_addr()
    );
    app.run(super::shutdown_on_signals()).await
}

fn print_welcome(app: &Application, data_dir: &std::path::Path, web_dir: &std::path::Path) {
    let addr = app.local_addr();
    let customer = CustomerId::parse("test-customer-123").expect("a valid example id");
    let token = app.authenticator().issue(&customer, DEFAULT_TOKEN_TTL_SECS);
    let base = format!("http://{addr}");
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
  Operators    {base}/healthz  {base}/readyz  {base}/metrics
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
