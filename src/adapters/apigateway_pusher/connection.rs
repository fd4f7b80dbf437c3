//! API Gateway's connection ids in Onboard's connection registry. API Gateway names a
//! connection with its own text id (`L0SM9cOFvHcCIhw=`); the registry keys rows by a UUID. The
//! row of an API Gateway connection therefore has a UUID derived from that id (so `$default`
//! and `$disconnect` find it again from the event alone), the node id [`NODE_ID`], and the
//! API Gateway id itself in `node_url` as `apigateway:<id>`, which is what the pusher posts to.

use crate::domain::ids::{ConnectionId, CustomerId};
use crate::ports::store::ConnectionRecord;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The registry's node id of every connection held by API Gateway.
pub const NODE_ID: &str = "apigateway";
const NODE_URL_PREFIX: &str = "apigateway:";

/// A connection id as API Gateway gives it (`requestContext.connectionId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGatewayConnectionId(String);

impl ApiGatewayConnectionId {
    /// API Gateway's ids are short base64 text; anything else is refused before it reaches a URL.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | '+' | '/' | '-' | '_'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("not an API Gateway connection id".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registry's id of this connection: the same for every event of the connection.
    pub fn registry_id(&self) -> ConnectionId {
        let digest = Sha256::digest(format!("onboard apigateway connection {}", self.0));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        ConnectionId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The registry row of this connection for `customer`, alive until `expires_at`.
    pub fn record(
        &self,
        customer: CustomerId,
        source_ip: String,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> ConnectionRecord {
        ConnectionRecord {
            connection_id: self.registry_id(),
            customer_id: customer,
            node_id: NODE_ID.into(),
            node_url: format!("{NODE_URL_PREFIX}{}", self.0),
            source_ip,
            connected_at: now,
            last_seen_at: now,
            expires_at,
        }
    }

    /// The API Gateway id of a registry row written by [`Self::record`]; `None` for a row of one
    /// of Onboard's own gateway nodes.
    pub fn of_record(record: &ConnectionRecord) -> Option<Self> {
        if record.node_id != NODE_ID {
            return None;
        }
        let raw = record.node_url.strip_prefix(NODE_URL_PREFIX)?;
        Self::parse(raw).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_keeps_one_registry_id_and_is_found_again_from_its_row() {
        let id = ApiGatewayConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
        assert_eq!(id.registry_id(), id.registry_id());
        let other = ApiGatewayConnectionId::parse("L0SM9cOFvHcCIhx=").unwrap();
        assert_ne!(id.registry_id(), other.registry_id());
        let now = Utc::now();
        let record = id.record(
            CustomerId::parse("c-1").unwrap(),
            "10.0.0.1".into(),
            now,
            now,
        );
        assert_eq!(record.connection_id, id.registry_id());
        assert_eq!(ApiGatewayConnectionId::of_record(&record), Some(id));
    }

    #[test]
    fn ids_that_could_bend_a_url_are_refused() {
        for bad in ["", "a?b", "a b", "../x", &"x".repeat(129)] {
            assert!(ApiGatewayConnectionId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
