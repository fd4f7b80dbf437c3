//! The functions one binary serves, by handler name (the Lambda `Handler` property, `_HANDLER`,
//! or the argument of `onboard lambda`). The names are fixed: the template refers to them.

use crate::config::{Config, Problems};
use std::fmt;

/// A producer step served through the HTTP API's router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepFunction {
    SubmitUserInfo,
    ProcessDocuments,
    VerifyKyc,
    RecommendPolicy,
    CompleteWorkflow,
}

impl StepFunction {
    /// The API route the step is, with `{id}` for the application.
    pub fn route(self) -> &'static str {
        match self {
            Self::SubmitUserInfo => "/v1/customers",
            Self::ProcessDocuments => "/v1/applications/{id}/documents",
            Self::VerifyKyc => "/v1/applications/{id}/kyc",
            Self::RecommendPolicy => "/v1/applications/{id}/policy-recommendation",
            Self::CompleteWorkflow => "/v1/applications/{id}/complete",
        }
    }
}

/// One Lambda function of Onboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Step(StepFunction),
    /// The MSK event source of one topic (`KAFKA_TOPIC`).
    Consume,
    WsConnect,
    WsDisconnect,
    WsDefault,
    /// On a schedule: publishes outbox rows, checks for stalled applications (alerting each
    /// stall once) and sends notifications that are still due.
    Relay,
}

const NAMES: &[(&str, Handler)] = &[
    (
        "submit-user-info",
        Handler::Step(StepFunction::SubmitUserInfo),
    ),
    (
        "process-documents",
        Handler::Step(StepFunction::ProcessDocuments),
    ),
    ("verify-kyc", Handler::Step(StepFunction::VerifyKyc)),
    (
        "recommend-policy",
        Handler::Step(StepFunction::RecommendPolicy),
    ),
    (
        "complete-workflow",
        Handler::Step(StepFunction::CompleteWorkflow),
    ),
    ("consume", Handler::Consume),
    ("ws-connect", Handler::WsConnect),
    ("ws-disconnect", Handler::WsDisconnect),
    ("ws-default", Handler::WsDefault),
    ("relay", Handler::Relay),
];

const KEY: &str = "lambda.handler";

impl Handler {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        NAMES
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(_, handler)| *handler)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(name, _)| *name).collect();
                format!(
                    "unknown handler '{raw}'; expected one of {}",
                    names.join(", ")
                )
            })
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, handler)| *handler == self)
            .map(|(name, _)| *name)
            .expect("every handler has a name")
    }

    /// The handler `config` names, after checking what that handler needs besides the
    /// settings every role needs; `None` after recording why not.
    pub fn from_config(config: &Config, problems: &mut Problems) -> Option<Self> {
        let Some(raw) = config.lambda.handler.as_deref() else {
            problems.push(
                KEY,
                "required: the function to serve (the Lambda Handler property)",
            );
            return None;
        };
        let handler = match Self::parse(raw) {
            Ok(handler) => handler,
            Err(reason) => {
                problems.push(KEY, reason);
                return None;
            }
        };
        if handler == Self::Consume && config.consumer.topic.is_none() {
            problems.push(
                "consumer.topic",
                "required by the consume handler: the topic of its event source mapping",
            );
        }
        let pushes = matches!(handler, Self::Consume | Self::WsDefault);
        if pushes && config.gateway.advertise_url.is_none() {
            problems.push(
                "gateway.advertise_url",
                format!(
                    "required by the {} handler: the API Gateway WebSocket endpoint (wss://…/stage)",
                    handler.name()
                ),
            );
        }
        Some(handler)
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_handler() {
        for (name, handler) in NAMES {
            assert_eq!(Handler::parse(name), Ok(*handler));
            assert_eq!(handler.name(), *name);
        }
        assert!(Handler::parse("submit_user_info")
            .unwrap_err()
            .contains("submit-user-info"));
    }

    #[test]
    fn consume_needs_its_topic_and_the_websocket_endpoint() {
        let mut config = Config::default();
        config.lambda.handler = Some("consume".into());
        let mut problems = Problems::default();
        assert_eq!(
            Handler::from_config(&config, &mut problems),
            Some(Handler::Consume)
        );
        let keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["consumer.topic", "gateway.advertise_url"]);
    }
}
