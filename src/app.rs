//! Building and running Onboard in one process: every role on one HTTP address over the
//! embedded defaults (`onboard up`). `Application::build` binds the listener, so tests can ask
//! for port 0 and read the chosen port before running.

use crate::auth::{Authenticator, SecretSource};
use crate::domain::kyc::WatchList;
use crate::domain::policy::Catalogue;
use crate::ports::bus::{EventBus, TopicNames};
use crate::ports::notifier::Notifier;
use crate::ports::store::Store;
use crate::roles::api::{self, ApiContext, ApiState};
use crate::roles::consumer::{ConsumerConfig, ConsumerRole};
use crate::roles::gateway::{Gateway, GatewayConfig};
use crate::roles::notify::{DispatcherConfig, NotificationDispatcher};
use crate::roles::ops;
use crate::roles::relay::OutboxRelay;
use crate::roles::supervisor::{ReadinessBoard, Supervisor};
use crate::wiring::{BusSettings, NotifierSettings, StoreSettings};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Everything `onboard up` needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreSettings,
    pub bus: BusSettings,
    pub notifier: NotifierSettings,
    /// Bus names of the topics (an optional prefix).
    pub topics: TopicNames,
    pub secret: SecretSource,
    pub gateway: GatewayConfig,
    pub consumer: ConsumerConfig,
    /// The From address of customer e-mails.
    pub mail_from: String,
    /// Serve `POST /dev/token` (development sign-in); never enabled on production roles.
    pub dev_token_endpoint: bool,
}

impl Settings {
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            store: StoreSettings::embedded(&data_dir),
            bus: BusSettings::embedded(&data_dir),
            notifier: NotifierSettings::embedded(&data_dir),
            topics: TopicNames::default(),
            data_dir,
            secret: SecretSource::from_env(),
            gateway: GatewayConfig::default(),
            consumer: ConsumerConfig::default(),
            mail_from: "Onboard <no-reply@onboard.local>".into(),
            dev_token_endpoint: true,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    notifier: Arc<dyn Notifier>,
    auth: Authenticator,
    settings: Settings,
    management_token: String,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                settings.data_dir.display()
            )
        })?;
        let secret = settings.secret.resolve(&settings.data_dir, true)?;
        let auth = Authenticator::new(&secret);
        let management_token = crate::auth::management_token(&secret);
        let store = settings.store.open().await?;
        let bus = settings.bus.open().await?;
        bus.create_topics(&settings.topics.specs(3, settings.bus.replication_factor()))
            .await?;
        let notifier = settings.notifier.open(&settings.mail_from)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            store,
            bus,
            notifier,
            auth,
            settings,
            management_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    pub fn management_token(&self) -> &str {
        &self.management_token
    }

    /// Runs every role until `shutdown` is cancelled (or a role fails), then drains and stops.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let board = ReadinessBoard::default();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let outbox_nudge = Arc::new(Notify::new());
        let mut gateway_config = self.settings.gateway.clone();
        gateway_config.node_url = format!("http://{}", self.local_addr);
        let gateway = Gateway::new(
            self.store.clone(),
            self.auth.clone(),
            self.management_token.clone(),
            gateway_config,
            shutdown.clone(),
        );

        let dispatcher = NotificationDispatcher::new(
            self.store.clone(),
            self.notifier.clone(),
            DispatcherConfig::default(),
        );
        let notifier_nudge = dispatcher.nudge_handle();
        let consumers = ConsumerRole {
            store: self.store.clone(),
            bus: self.bus.clone(),
            pusher: gateway.local_pusher(),
            notifier_nudge,
            config: self.settings.consumer.clone(),
            topics: self.settings.topics.clone(),
        };
        let relay = OutboxRelay {
            store: self.store.clone(),
            bus: self.bus.clone(),
            nudge: outbox_nudge.clone(),
            readiness: board.register("relay"),
            topics: self.settings.topics.clone(),
        };
        let api_state = ApiState(Arc::new(ApiContext {
            store: self.store.clone(),
            auth: self.auth.clone(),
            watch_list: WatchList::bundled(),
            catalogue: Catalogue::bundled(),
            data_dir: self.settings.data_dir.clone(),
            outbox_nudge,
        }));
        let ops_state = ops::OpsState {
            board: board.clone(),
            store: self.store.clone(),
            bus: self.bus.clone(),
            gateway: Some(gateway.clone()),
            group: self.settings.consumer.group.clone(),
            topics: self.settings.topics.clone(),
            auth: self.settings.dev_token_endpoint.then(|| self.auth.clone()),
            management_token: self.management_token.clone(),
        };
        let router = api::router(api_state)
            .merge(gateway.router())
            .merge(ops::router(ops_state))
            .layer(tower_http::trace::TraceLayer::new_for_http());

        let http_ready = board.register("http");
        let consumers_ready = board.register("consumers");
        let notifier_ready = board.register("notifier");
        let sweeper_ready = board.register("gateway");
        let listener = self.listener;
        let http_shutdown = shutdown.clone();
        supervisor.spawn("http", async move {
            http_ready.set(true);
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await })
            .await
            .context("the HTTP server failed")
        });
        supervisor.spawn("relay", relay.run(shutdown.clone()));
        supervisor.spawn(
            "consumers",
            consumers.run(consumers_ready, shutdown.clone()),
        );
        supervisor.spawn("notifier", {
            let token = shutdown.clone();
            async move {
                notifier_ready.set(true);
                dispatcher.run(token).await;
                Ok(())
            }
        });
        supervisor.spawn(
            "gateway",
            gateway.clone().run_sweeper(sweeper_ready, shutdown.clone()),
        );
        tracing::info!(address = %self.local_addr, "Onboard is running.");
        supervisor.wait().await
    }
}
