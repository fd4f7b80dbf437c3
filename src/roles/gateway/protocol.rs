//! The WebSocket protocol: client actions and server frames (docs/websocket.md).

use crate::domain::event::Envelope;
use serde::Serialize;

/// A client action (the seed's API Gateway routes; anything unknown is the `$default` route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAction {
    Ping {
        id: Option<serde_json::Value>,
    },
    /// Replay stored events after this event id (from the beginning when `None`), then go on live.
    Resume {
        after: Option<String>,
    },
    Ack {
        event_id: String,
    },
    /// A renewed token for the open session (the same customer's), before the old one expires.
    Auth {
        token: String,
    },
}

/// Why a client message was refused; sent back as an error frame, the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
}

impl ClientAction {
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let invalid = |message: &str| ProtocolError {
            code: "invalid_message",
            message: message.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|_| invalid("messages must be JSON objects with an \"action\" member"))?;
        let Some(object) = value.as_object() else {
            return Err(invalid("messages must be JSON objects"));
        };
        let Some(action) = object.get("action").and_then(|a| a.as_str()) else {
            return Err(invalid("the \"action\" member is missing or not a string"));
        };
        match action {
            "ping" => Ok(Self::Ping {
                id: object.get("id").cloned(),
            }),
            "resume" => match object.get("after") {
                None | Some(serde_json::Value::Null) => Ok(Self::Resume { after: None }),
                Some(serde_json::Value::String(s)) => Ok(Self::Resume {
                    after: Some(s.clone()),
                }),
                Some(_) => Err(invalid("\"after\" must be an event id string")),
            },
            "ack" => match object.get("eventId").and_then(|v| v.as_str()) {
                Some(id) => Ok(Self::Ack {
                    event_id: id.to_string(),
                }),
                None => Err(invalid("\"ack\" needs an \"eventId\" string")),
            },
            "auth" => match object.get("token").and_then(|v| v.as_str()) {
                Some(token) if !token.trim().is_empty() => Ok(Self::Auth {
                    token: token.trim().to_string(),
                }),
                _ => Err(invalid("\"auth\" needs a \"token\" string")),
            },
            other => Err(ProtocolError {
                code: "unknown_action",
                message: format!(
                    "unknown action '{}'; expected ping, resume, ack or auth",
                    other.chars().take(64).collect::<String>()
                ),
            }),
        }
    }
}

/// A frame the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerFrame<'a> {
    #[serde(rename_all = "camelCase")]
    Welcome {
        connection_id: String,
        customer_id: &'a str,
        last_sequence: u64,
        heartbeat_seconds: u64,
        /// When the session closes unless an `auth` action renews its token (epoch seconds).
        token_expires_at: u64,
    },
    Event {
        event: &'a Envelope,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<serde_json::Value>,
    },
    #[serde(rename_all = "camelCase")]
    Resumed {
        after: Option<String>,
        replayed: u64,
        last_sequence: u64,
    },
    #[serde(rename_all = "camelCase")]
    Acked {
        event_id: String,
    },
    /// Answer to `auth`: the session now lives until the new token's expiry.
    #[serde(rename_all = "camelCase")]
    Authenticated {
        token_expires_at: u64,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
}

impl ServerFrame<'_> {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("frames serialize")
    }
}

/// Close codes the gateway uses (RFC 6455 §7.4.1).
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The session's token expired and no `auth` action renewed it (private range, 4000-4999:
    /// 4401 reads as HTTP's 401).
    pub const TOKEN_EXPIRED: u16 = 4401;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_unknown_ones_are_named() {
        assert_eq!(
            ClientAction::parse(r#"{"action":"ping"}"#).unwrap(),
            ClientAction::Ping { id: None }
        );
        assert_eq!(
            ClientAction::parse(r#"{"action":"resume","after":"x"}"#).unwrap(),
            ClientAction::Resume {
                after: Some("x".into())
            }
        );
        assert_eq!(
            ClientAction::parse(r#"{"action":"resume"}"#).unwrap(),
            ClientAction::Resume { after: None }
        );
        assert_eq!(
            ClientAction::parse(r#"{"action":"dance"}"#)
                .unwrap_err()
                .code,
            "unknown_action"
        );
        assert_eq!(
            ClientAction::parse("not json").unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(
            ClientAction::parse(r#"{"action":"ack"}"#).unwrap_err().code,
            "invalid_message"
        );
        assert_eq!(
            ClientAction::parse(r#"{"action":"auth","token":" t "}"#).unwrap(),
            ClientAction::Auth { token: "t".into() }
        );
        assert_eq!(
            ClientAction::parse(r#"{"action":"auth","token":""}"#)
                .unwrap_err()
                .code,
            "invalid_message"
        );
    }

    #[test]
    fn frames_have_a_type_tag() {
        let text = ServerFrame::Error {
            code: "unknown_action",
            message: "m",
        }
        .to_text();
        assert_eq!(
            text,
            r#"{"type":"error","code":"unknown_action","message":"m"}"#
        );
        let text = ServerFrame::Resumed {
            after: None,
            replayed: 2,
            last_sequence: 5,
        }
        .to_text();
        assert_eq!(
            text,
            r#"{"type":"resumed","after":null,"replayed":2,"lastSequence":5}"#
        );
    }
}
