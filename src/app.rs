//! Building and running Onboard in one process: every role on one HTTP address over the
//! embedded defaults (`onboard up`). `Application::build` binds the listener, so tests can ask
//! for port 0 and read the chosen port before running.

use crate::adapters::http_pusher::{HttpPusher, RoutingPusher};
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

/// Everything a process needs to know, built by `src/config` (or by a test).
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
    pub roles: Roles,
    /// The built web app served at `/` by processes that run the API (see `roles::web`).
    pub web_dir: PathBuf,
}

impl Settings {
    /// The embedded defaults in `data_dir`, with a JWT secret generated there; what a process
    /// actually runs with comes from `src/config` (file, environment, flags).
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            store: StoreSettings::embedded(&data_dir),
            bus: BusSettings::embedded(&data_dir),
            notifier: NotifierSettings::embedded(&data_dir),
            topics: TopicNames::default(),
            data_dir,
            secret: SecretSource::default(),
            gateway: GatewayConfig::default(),
            consumer: ConsumerConfig::default(),
            mail_from: "Onboard <no-reply@onboard.local>".into(),
            dev_token_endpoint: true,
            roles: Roles::all(),
            web_dir: PathBuf::from(crate::roles::web::DEFAULT_WEB_DIR),
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

    pub fn roles(&self) -> &Roles {
        &self.settings.roles
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }

    pub fn management_token(&self) -> &str {
        &self.management_token
    }

    /// Runs the selected roles until `shutdown` is cancelled (or a role fails), then drains and stops.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let roles = self.settings.roles.clone();
        let board = ReadinessBoard::default();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let mut router = axum::Router::new();

        let gateway = roles.gateway.then(|| {
            let mut config = self.settings.gateway.clone();
            if config.node_url.is_empty() {
                config.node_url = format!("http://{}", self.local_addr);
            }
            Gateway::new(
                self.store.clone(),
                self.auth.clone(),
                self.management_token.clone(),
                config,
                shutdown.clone(),
            )
        });
        if let Some(gateway) = &gateway {
            router = router.merge(gateway.router());
            let ready = board.register("gateway");
            supervisor.spawn(
                "gateway",
                gateway.clone().run_sweeper(ready, shutdown.clone()),
            );
        }

        if roles.api {
            let outbox_nudge = Arc::new(Notify::new());
            let api_state = ApiState(Arc::new(ApiContext {
                store: self.store.clone(),
                auth: self.auth.clone(),
                watch_list: WatchList::bundled(),
                catalogue: Catalogue::bundled(),
                data_dir: self.settings.data_dir.clone(),
                outbox_nudge: outbox_nudge.clone(),
            }));
            router = router.merge(api::router(api_state));
            let relay = OutboxRelay {
                store: self.store.clone(),
                bus: self.bus.clone(),
                nudge: outbox_nudge,
                readiness: board.register("relay"),
                topics: self.settings.topics.clone(),
            };
            supervisor.spawn("relay", relay.run(shutdown.clone()));
        }

        if roles.consumers {
            let dispatcher = NotificationDispatcher::new(
                self.store.clone(),
                self.notifier.clone(),
                DispatcherConfig::default(),
            );
            let pusher = RoutingPusher::new(
                gateway.clone(),
                HttpPusher::new(self.management_token.clone()),
            );
            let consumers = ConsumerRole {
                store: self.store.clone(),
                bus: self.bus.clone(),
                pusher: Arc::new(pusher),
                notifier_nudge: dispatcher.nudge_handle(),
                config: self.settings.consumer.clone(),
                topics: self.settings.topics.clone(),
            };
            let consumers_ready = board.register("consumers");
            supervisor.spawn(
                "consumers",
                consumers.run(consumers_ready, shutdown.clone()),
            );
            let notifier_ready = board.register("notifier");
            let token = shutdown.clone();
            supervisor.spawn("notifier", async move {
                notifier_ready.set(true);
                dispatcher.run(token).await;
                Ok(())
            });
        }

        let ops_state = ops::OpsState {
            board: board.clone(),
            store: self.store.clone(),
            bus: self.bus.clone(),
            gateway: gateway.clone(),
            group: self.settings.consumer.group.clone(),
            topics: self.settings.topics.clone(),
            auth: self.settings.dev_token_endpoint.then(|| self.auth.clone()),
            management_token: self.management_token.clone(),
        };
        if roles.api {
            router = router.merge(crate::roles::web::router(self.settings.web_dir.clone()));
        }
        let router = router
            .merge(ops::router(ops_state))
            .layer(tower_http::trace::TraceLayer::new_for_http());
        let http_ready = board.register("http");
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
        tracing::info!(address = %self.local_addr, roles = %roles, "Onboard is running.");
        supervisor.wait().await
    }
}

/// Which roles a process runs: `onboard up` runs all, `onboard api|consumer|gateway` one each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// The producer API and the outbox relay.
    pub api: bool,
    /// The consumers (topics in `Settings::consumer`) and the notification dispatcher.
    pub consumers: bool,
    /// The WebSocket gateway, its registry sweeper and the management API.
    pub gateway: bool,
}

impl Roles {
    pub fn all() -> Self {
        Self {
            api: true,
            consumers: true,
            gateway: true,
        }
    }

    pub fn is_all(&self) -> bool {
        self.api && self.consumers && self.gateway
    }
}

impl std::fmt::Display for Roles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = [
            (self.api, "api"),
            (self.consumers, "consumer"),
            (self.gateway, "gateway"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join("+"))
    }
}
