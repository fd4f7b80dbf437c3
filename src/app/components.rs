//! Building apart from running: the adapters every role uses, opened from [`Settings`] without
//! binding a listener, and each role's object built on them.
//!
//! Whoever runs the work calls these: [`super::Application`] spawns the roles' loops under a
//! supervisor; a test (or a Lambda handler) calls their operations once: `api::router` with
//! `oneshot`, [`OutboxRelay::publish_pending`], [`ConsumerRole::process_batch`],
//! [`NotificationDispatcher::dispatch_due`], [`crate::roles::gateway::actions::handle_action`].

use super::Settings;
use crate::adapters::http_pusher::RoutingPusher;
use crate::auth::oidc::OidcVerifier;
use crate::auth::Authenticator;
use crate::domain::kyc::WatchList;
use crate::domain::policy::Catalogue;
use crate::ports::bus::EventBus;
use crate::ports::documents::DocumentStore;
use crate::ports::notifier::Notifier;
use crate::ports::pusher::Pusher;
use crate::ports::store::Store;
use crate::roles::api::limits::{CustomerSlots, RequestRate};
use crate::roles::api::{ApiContext, ApiState};
use crate::roles::consumer::ConsumerRole;
use crate::roles::gateway::{Gateway, GatewayConfig};
use crate::roles::notify::{AlertBudget, DispatcherConfig, NotificationDispatcher};
use crate::roles::relay::OutboxRelay;
use anyhow::Context;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The opened adapters of one process, shared by its roles.
pub struct Components {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    pub notifier: Arc<dyn Notifier>,
    pub documents: Arc<dyn DocumentStore>,
    /// Reaches connections held by gateway nodes other than this process's own, or by API
    /// Gateway (`Settings::pusher`).
    pub pusher: Arc<dyn Pusher>,
    pub auth: Authenticator,
    /// The bearer token of the gateways' management API (derived from the JWT secret).
    pub management_token: String,
    /// Woken by the API after a commit that enqueued events, so the relay publishes at once.
    pub outbox_nudge: Arc<Notify>,
    /// Woken by consumers after a commit that wrote notifications, so they leave at once.
    pub notification_nudge: Arc<Notify>,
    /// How many operator alerts this process e-mails a minute (shared by its consumers).
    pub alert_budget: Arc<AlertBudget>,
}

impl Components {
    /// Opens every adapter `settings` names (migrating the store, creating missing topics);
    /// nothing runs yet.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                settings.data_dir.display()
            )
        })?;
        let secret = settings.secret.resolve(&settings.data_dir, true)?;
        let management_token = crate::auth::management_token(&secret);
        let store = settings.store.open().await?;
        let bus = settings.bus.open().await?;
        bus.create_topics(&settings.topics.specs(3, settings.bus.replication_factor()))
            .await?;
        let notifier = settings.notifier.open(&settings.mail_from).await?;
        Ok(Self {
            store,
            bus,
            notifier,
            documents: settings.documents.open().await,
            pusher: settings.pusher.open(&management_token).await,
            auth: Authenticator::new(&secret)
                .with_max_lifetime(settings.max_token_lifetime)
                .with_oidc(settings.oidc.clone().map(OidcVerifier::new))
                .with_development_tokens_beside_issuer(settings.dev_token_endpoint),
            management_token,
            outbox_nudge: Arc::new(Notify::new()),
            notification_nudge: Arc::new(Notify::new()),
            alert_budget: AlertBudget::new(settings.consumer.operator_alerts_per_minute),
            settings: settings.clone(),
        })
    }

    /// The state of the API's router (`roles::api::router`).
    pub fn api_state(&self) -> ApiState {
        self.api_state_trusting(false)
    }

    /// The state of the API's router behind API Gateway (the Lambda role): the customer is
    /// the authorizer's identity the Lambda handler puts on each request.
    pub fn api_state_behind_api_gateway(&self) -> ApiState {
        self.api_state_trusting(true)
    }

    fn api_state_trusting(&self, trust_gateway_identity: bool) -> ApiState {
        ApiState(Arc::new(ApiContext {
            store: self.store.clone(),
            documents: self.documents.clone(),
            auth: self.auth.clone(),
            watch_list: WatchList::bundled(),
            catalogue: Catalogue::bundled(),
            outbox_nudge: self.outbox_nudge.clone(),
            trust_gateway_identity,
            request_rate: RequestRate::new(&self.settings.api_limits),
            uploads: CustomerSlots::new(&self.settings.api_limits),
        }))
    }

    pub fn relay(&self) -> OutboxRelay {
        OutboxRelay {
            store: self.store.clone(),
            bus: self.bus.clone(),
            nudge: self.outbox_nudge.clone(),
            topics: self.settings.topics.clone(),
        }
    }

    pub fn dispatcher(&self) -> NotificationDispatcher {
        NotificationDispatcher::new(
            self.store.clone(),
            self.notifier.clone(),
            DispatcherConfig::default(),
        )
        .with_nudge(self.notification_nudge.clone())
    }

    /// The consumers; they push to `local_gateway`'s sessions directly when this process runs
    /// a gateway, and through [`Self::pusher`] to every other node.
    pub fn consumer(&self, local_gateway: Option<Arc<Gateway>>) -> ConsumerRole {
        ConsumerRole {
            store: self.store.clone(),
            bus: self.bus.clone(),
            pusher: Arc::new(RoutingPusher::new(local_gateway, self.pusher.clone())),
            notifier_nudge: self.notification_nudge.clone(),
            config: self.settings.consumer.clone(),
            topics: self.settings.topics.clone(),
            alert_budget: self.alert_budget.clone(),
            trace_rows: None,
        }
    }

    /// The stall monitor over the store, alerting `consumer.operator_email`.
    pub fn stall_monitor(&self) -> crate::roles::stalls::StallMonitor {
        crate::roles::stalls::StallMonitor {
            store: self.store.clone(),
            config: self.settings.stalls.clone(),
            operator_address: self.settings.consumer.operator_address.clone(),
            notifier_nudge: self.notification_nudge.clone(),
        }
    }

    /// The gateway with `config`; its sessions close when `shutdown` is cancelled.
    pub fn gateway(&self, config: GatewayConfig, shutdown: CancellationToken) -> Arc<Gateway> {
        Gateway::new(
            self.store.clone(),
            self.auth.clone(),
            self.management_token.clone(),
            config,
            shutdown,
        )
    }
}
