//! `onboard up`: the whole system in one process, and the ready-to-paste example it prints.

use crate::app::{Application, Settings};
use crate::auth::DEFAULT_TOKEN_TTL_SECS;
use crate::domain::ids::CustomerId;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address of the HTTP API, WebSocket gateway and operator endpoints.
    #[arg(long, env = "ONBOARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the database, the event log, uploaded documents and mail are kept.
    #[arg(long, env = "ONBOARD_DATA_DIR", default_value = "./onboard-data")]
    pub data_dir: PathBuf,
    /// Consumer group of the six consumers.
    #[arg(long, env = "ONBOARD_CONSUMER_GROUP", default_value = crate::roles::consumer::DEFAULT_GROUP)]
    pub group: String,
    /// Records per consumer poll (the seed's batch size).
    #[arg(long, env = "ONBOARD_BATCH_SIZE", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub batch_size: u16,
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
    /// Where operator alerts are addressed.
    #[arg(
        long,
        env = "ONBOARD_OPERATOR_EMAIL",
        default_value = "operators@onboard.local"
    )]
    pub operator_email: String,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut settings = Settings::new(args.listen, args.data_dir.clone());
    settings.consumer.group = args.group;
    settings.consumer.batch_size = args.batch_size as usize;
    settings.consumer.operator_address = args.operator_email;
    settings.gateway.allowed_origins = args.allowed_origins;
    settings.topics = crate::ports::bus::TopicNames::with_prefix(&args.topic_prefix)
        .map_err(anyhow::Error::msg)?;
    settings.notifier = crate::wiring::NotifierSettings::from_env(&args.data_dir)?;
    let app = Application::build(settings).await?;
    print_welcome(&app, &args.data_dir);
    let shutdown = super::shutdown_on_signals();
    app.run(shutdown).await
}

fn print_welcome(app: &Application, data_dir: &std::path::Path) {
    let addr = app.local_addr();
    let customer = CustomerId::parse("test-customer-123").expect("a valid example id");
    let token = app.authenticator().issue(&customer, DEFAULT_TOKEN_TTL_SECS);
    let base = format!("http://{addr}");
    let payload = r#"{"email":"test@example.com","firstName":"John","lastName":"Doe","dateOfBirth":"1990-01-01","phoneNumber":"+1234567890"}"#;
    println!(
        r#"
Onboard is up.
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
