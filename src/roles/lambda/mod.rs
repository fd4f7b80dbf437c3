//! The Lambda role: Onboard's binary as the seed's Lambda functions. `onboard lambda [HANDLER]`
//! (or the binary copied as `bootstrap`, started by Lambda with `AWS_LAMBDA_RUNTIME_API` set)
//! runs the `lambda_runtime` loop and serves the function named by `_HANDLER`.
//!
//! The components are built once per cold start and reused by every invocation; each handler
//! calls a role's operation once (`api::router` with `oneshot`, `OutboxRelay::publish_pending`,
//! `ConsumerRole::process_batch`, `NotificationDispatcher::dispatch_due`, `handle_action`).
//! docs/lambda.md describes every handler's input, output and configuration.

mod consume;
mod handler;
mod proxy;
mod websocket;

pub use handler::{Handler, StepFunction};
pub use proxy::Shape;

use crate::adapters::apigateway_pusher::ApiGatewayPusher;
use crate::app::Components;
use crate::config::{Loaded, Problems, Role};
use crate::domain::event::Topic;
use crate::roles::consumer::ConsumerRole;
use crate::roles::notify::NotificationDispatcher;
use crate::roles::stalls::StallMonitor;
use crate::wiring::PusherSettings;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

/// The error an invocation fails with (Lambda logs it and, for an event source, retries).
pub type InvocationError = lambda_runtime::Error;

/// One function, ready to serve invocations.
pub struct Function {
    handler: Handler,
    components: Components,
    /// The API's router behind API Gateway (step handlers).
    router: axum::Router,
    consumer: ConsumerRole,
    dispatcher: NotificationDispatcher,
    /// Run by the scheduled relay: a serverless deployment has no long-running monitor.
    stalls: StallMonitor,
    /// The management API of the WebSocket API (`consume` pushes, `ws-default` answers).
    apigateway: Option<ApiGatewayPusher>,
}

impl Function {
    /// Builds the components `settings` name (once per cold start).
    pub async fn build(handler: Handler, settings: &crate::app::Settings) -> anyhow::Result<Self> {
        let components = Components::build(settings).await?;
        let apigateway = match &settings.pusher {
            PusherSettings::ApiGateway { endpoint, region } => {
                Some(ApiGatewayPusher::open(endpoint, region.as_deref()).await)
            }
            PusherSettings::GatewayNodes => None,
        };
        Ok(Self {
            handler,
            router: crate::roles::api::router(components.api_state_behind_api_gateway()),
            consumer: components.consumer(None),
            dispatcher: components.dispatcher(),
            stalls: components.stall_monitor(),
            apigateway,
            components,
        })
    }

    pub fn handler(&self) -> Handler {
        self.handler
    }

    /// Serves one invocation's payload.
    pub async fn invoke(&self, payload: Value) -> Result<Value, InvocationError> {
        let components = &self.components;
        match self.handler {
            Handler::Step(step) => {
                let (success, answer) = proxy::serve(self.router.clone(), step, payload).await;
                if success {
                    // The step committed its events to the outbox: publish them now; the
                    // scheduled relay catches up if this fails.
                    self.publish_outbox().await;
                }
                Ok(answer)
            }
            Handler::Consume => {
                let topic = self.topic()?;
                Ok(consume::handle(&self.consumer, &self.dispatcher, topic, payload).await?)
            }
            Handler::WsConnect => Ok(websocket::connect(
                components.store.as_ref(),
                &components.auth,
                &components.settings.gateway,
                payload,
            )
            .await?),
            Handler::WsDisconnect => {
                Ok(websocket::disconnect(components.store.as_ref(), payload).await?)
            }
            Handler::WsDefault => {
                let pusher = self
                    .apigateway
                    .as_ref()
                    .ok_or("ws-default needs WEBSOCKET_ENDPOINT (wss://…/stage)")?;
                Ok(websocket::message(
                    components.store.as_ref(),
                    pusher,
                    &components.settings.gateway,
                    payload,
                )
                .await?)
            }
            Handler::Relay => {
                let published = self.publish_outbox().await;
                let (stalled, alerted) = self.check_stalls().await;
                // After the check, so a new stall's alert goes out in this same invocation.
                let sent = consume::send_due_notifications(&self.dispatcher).await;
                Ok(json!({
                    "published": published,
                    "stalledApplications": stalled,
                    "stallAlertsQueued": alerted,
                    "notificationsSent": sent,
                }))
            }
        }
    }

    fn topic(&self) -> Result<Topic, InvocationError> {
        match self.components.settings.consumer.topics.as_slice() {
            [topic] => Ok(*topic),
            _ => Err("the consume handler needs KAFKA_TOPIC".into()),
        }
    }

    /// One stall-detection round (as `onboard consumer`'s monitor runs on its interval): how
    /// many applications are stalled and how many of them were alerted for the first time.
    /// The store's claim keeps a stall to one alert whichever invocation sees it.
    async fn check_stalls(&self) -> (usize, usize) {
        match self.stalls.check(chrono::Utc::now()).await {
            Ok(report) => (report.stalled.len(), report.alerted),
            Err(error) => {
                tracing::warn!(error = %error, "Checking for stalled applications failed; the relay schedule retries.");
                (0, 0)
            }
        }
    }

    /// Publishes pending outbox rows until none is left; returns how many.
    async fn publish_outbox(&self) -> usize {
        const MAX_ROUNDS: usize = 50;
        let relay = self.components.relay();
        let mut published = 0;
        for _ in 0..MAX_ROUNDS {
            match relay.publish_pending().await {
                Ok(0) => break,
                Ok(n) => published += n,
                Err(error) => {
                    tracing::warn!(error = %error, "Publishing the outbox failed; the relay schedule retries.");
                    break;
                }
            }
        }
        published
    }
}

/// The handler and settings of `config`, or every problem of both at once.
pub fn configure(config: Loaded) -> Result<(Handler, crate::app::Settings), Problems> {
    let mut problems = Problems::default();
    let handler = Handler::from_config(&config.config, &mut problems);
    match (config.settings(Role::Lambda), handler) {
        (Ok(settings), Some(handler)) if problems.is_empty() => Ok((handler, settings)),
        (Ok(_), _) => Err(problems),
        (Err(mut all), _) => {
            all.0.extend(problems.0);
            Err(all)
        }
    }
}

/// Serves the configured function until the runtime stops the process.
pub async fn run(config: Loaded) -> anyhow::Result<()> {
    let (handler, settings) = configure(config)?;
    let function = Arc::new(Function::build(handler, &settings).await?);
    tracing::info!(handler = %handler, "Onboard's Lambda function is ready.");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let function = function.clone();
        async move { function.invoke(event.payload).await }
    }))
    .await
    .map_err(|error| anyhow::anyhow!("the Lambda runtime loop ended: {error}"))
}
