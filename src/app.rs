//! Building and running Onboard in one process: the enabled roles on one HTTP address
//! (`onboard up` runs all of them). [`Components`] are built without a listener;
//! `Application::build` binds one on top of them, so tests can ask for port 0 and read the
//! chosen port before running.

mod components;
pub mod http;
pub mod request_id;

pub use components::Components;
pub use http::HttpSettings;

use crate::adapters::fs_documents::DocumentSettings;
use crate::auth::{Authenticator, SecretSource};
use crate::ports::bus::TopicNames;
use crate::roles::api;
use crate::roles::consumer::ConsumerConfig;
use crate::roles::gateway::GatewayConfig;
use crate::roles::ops;
use crate::roles::supervisor::{ReadinessBoard, Supervisor};
use crate::wiring::{BusSettings, NotifierSettings, PusherSettings, StoreSettings};
use anyhow::Context;
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Everything a process needs to know, built by `src/config` (or by a test).
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreSettings,
    pub bus: BusSettings,
    pub notifier: NotifierSettings,
    /// How consumers reach connections held elsewhere (gateway nodes, or API Gateway).
    pub pusher: PusherSettings,
    /// Where uploaded documents are kept.
    pub documents: DocumentSettings,
    /// Bus names of the topics (an optional prefix).
    pub topics: TopicNames,
    pub secret: SecretSource,
    /// The OpenID Connect issuer whose tokens customers present, besides development tokens.
    pub oidc: Option<crate::auth::oidc::OidcSettings>,
    pub gateway: GatewayConfig,
    pub consumer: ConsumerConfig,
    /// How often and how far old data is purged.
    pub lifecycle: crate::roles::lifecycle::LifecycleConfig,
    /// Stall detection's thresholds (run beside the consumers).
    pub stalls: crate::roles::stalls::StallConfig,
    /// The From address of customer e-mails.
    pub mail_from: String,
    /// Serve `POST /dev/token` (development sign-in): only `onboard up` on a loopback address
    /// or with `--dev`; never the separate roles.
    pub dev_token_endpoint: bool,
    /// How the HTTP server treats connections (header-read timeout).
    pub http: HttpSettings,
    /// Tokens whose `exp` lies further ahead than this are refused.
    pub max_token_lifetime: std::time::Duration,
    /// The API's request rate and upload limits.
    pub api_limits: crate::roles::api::limits::ApiLimits,
    /// Serve `/metrics` without the management token.
    pub metrics_public: bool,
    /// Serve `/metrics` (without a token) on this address instead of `listen`.
    pub metrics_listen: Option<SocketAddr>,
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
            pusher: PusherSettings::default(),
            documents: DocumentSettings::embedded(&data_dir),
            topics: TopicNames::default(),
            data_dir,
            secret: SecretSource::default(),
            oidc: None,
            gateway: GatewayConfig::default(),
            consumer: ConsumerConfig::default(),
            lifecycle: Default::default(),
            stalls: crate::roles::stalls::StallConfig::default(),
            mail_from: "Onboard <no-reply@onboard.local>".into(),
            dev_token_endpoint: true,
            http: HttpSettings::default(),
            max_token_lifetime: crate::auth::DEFAULT_MAX_TOKEN_LIFETIME,
            api_limits: Default::default(),
            metrics_public: false,
            metrics_listen: None,
            roles: Roles::all(),
            web_dir: PathBuf::from(crate::roles::web::DEFAULT_WEB_DIR),
        }
    }
}

/// The web page's router; with an identity provider, its pages may reach the provider too.
fn web_page(settings: &Settings, auth: &Authenticator) -> axum::Router {
    use crate::roles::client_config::{with_provider_policy, ProviderPolicy};
    let page = crate::roles::web::router(settings.web_dir.clone());
    match auth.oidc().cloned().and_then(ProviderPolicy::start) {
        Some(policy) => page.layer(axum::middleware::from_fn_with_state(
            policy,
            with_provider_policy,
        )),
        None => page,
    }
}

/// One process: its components, the enabled roles' services, and the listener they share.
pub struct Application {
    local_addr: SocketAddr,
    /// Where `/metrics` is served when it has a listener of its own.
    metrics_addr: Option<SocketAddr>,
    roles: Roles,
    components: Components,
    /// The roles' long-running tasks (HTTP included), not yet started.
    services: Vec<(&'static str, BoxFuture<'static, anyhow::Result<()>>)>,
    /// Stops every service; linked to the token given to [`Application::run`].
    stop: CancellationToken,
}

impl Application {
    /// Builds the components, binds the listener and prepares the enabled roles' services.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let components = Components::build(&settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let board = ReadinessBoard::default();
        let mut services: Vec<(&'static str, BoxFuture<'static, anyhow::Result<()>>)> = Vec::new();
        let mut router = axum::Router::new();
        let roles = settings.roles.clone();

        let gateway = roles.gateway.then(|| {
            let mut config = settings.gateway.clone();
            if config.node_url.is_empty() {
                config.node_url = format!("http://{local_addr}");
            }
            components.gateway(config, stop.clone())
        });
        if let Some(gateway) = &gateway {
            router = router.merge(gateway.router());
            let sweeper = gateway
                .clone()
                .run_sweeper(board.register("gateway"), stop.clone());
            services.push(("gateway", Box::pin(sweeper)));
        }
        if roles.api {
            let client_config = crate::roles::client_config::ClientConfig {
                oidc: components.auth.public_oidc(),
                dev_sign_in: settings.dev_token_endpoint,
            };
            router = router
                .merge(api::router(components.api_state()))
                .merge(crate::roles::client_config::router(client_config.clone()))
                .merge(web_page(&settings, &components.auth));
            let relay = components
                .relay()
                .run(board.register("relay"), stop.clone());
            services.push(("relay", Box::pin(relay)));
        }
        if roles.consumers {
            let consumers = components
                .consumer(gateway.clone())
                .run(board.register("consumers"), stop.clone());
            services.push(("consumers", Box::pin(consumers)));
            if !settings.stalls.thresholds.is_empty() {
                let monitor = components
                    .stall_monitor()
                    .run(board.register("stalls"), stop.clone());
                services.push(("stalls", Box::pin(monitor)));
            }
            let dispatcher = components.dispatcher();
            let (ready, token) = (board.register("notifier"), stop.clone());
            services.push((
                "notifier",
                Box::pin(async move {
                    ready.set(true);
                    dispatcher.run(token).await;
                    Ok(())
                }),
            ));
        }

        let lifecycle = crate::roles::lifecycle::Lifecycle::new(
            components.store.clone(),
            components.bus.clone(),
            settings.lifecycle,
        )
        .run(board.register("lifecycle"), stop.clone());
        services.push(("lifecycle", Box::pin(lifecycle)));

        let ops_state = ops::OpsState {
            board: board.clone(),
            store: components.store.clone(),
            bus: components.bus.clone(),
            gateway,
            group: settings.consumer.group.clone(),
            topics: settings.topics.clone(),
            auth: settings.dev_token_endpoint.then(|| components.auth.clone()),
            management_token: components.management_token.clone(),
            metrics_public: settings.metrics_public,
            metrics_elsewhere: settings.metrics_listen.is_some(),
            alerts: components.alert_budget.clone(),
        };
        let operator_api = crate::roles::operator_api::OperatorApiState {
            store: components.store.clone(),
            bus: components.bus.clone(),
            topics: settings.topics.clone(),
            stalls: components.stall_monitor(),
            management_token: components.management_token.clone(),
        };
        let router = http::edge_layers(
            router
                .merge(ops::router(ops_state))
                .merge(crate::roles::operator_api::router(operator_api)),
        );
        let http = http::serve(
            listener,
            router,
            settings.http,
            board.register("http"),
            stop.clone(),
        );
        services.push(("http", Box::pin(http)));
        let mut metrics_addr = None;
        if let Some(listen) = settings.metrics_listen {
            let listener = TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
            metrics_addr = Some(listener.local_addr()?);
            let metrics = http::serve(
                listener,
                http::edge_layers(ops::metrics_router()),
                settings.http,
                board.register("metrics-http"),
                stop.clone(),
            );
            services.push(("metrics-http", Box::pin(metrics)));
        }
        Ok(Self {
            local_addr,
            metrics_addr,
            roles,
            components,
            services,
            stop,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of `/metrics` when it has a listener of its own (`metrics.listen`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    pub fn components(&self) -> &Components {
        &self.components
    }

    pub fn authenticator(&self) -> &Authenticator {
        &self.components.auth
    }

    pub fn management_token(&self) -> &str {
        &self.components.management_token
    }

    /// Runs the enabled roles until `shutdown` is cancelled (or a role fails, which cancels
    /// `shutdown` too), then drains and stops.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        link(shutdown, self.stop.clone());
        let mut supervisor = Supervisor::new(self.stop);
        for (name, service) in self.services {
            supervisor.spawn(name, service);
        }
        tracing::info!(address = %self.local_addr, roles = %self.roles, "Onboard is running.");
        supervisor.wait().await
    }
}

/// Cancelling either token cancels the other: a signal stops the services, and a failing
/// service stops the caller's other work.
fn link(a: CancellationToken, b: CancellationToken) {
    tokio::spawn(async move {
        tokio::select! {
            () = a.cancelled() => b.cancel(),
            () = b.cancelled() => a.cancel(),
        }
    });
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
