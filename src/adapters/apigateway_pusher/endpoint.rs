//! Where the API Gateway management (`@connections`) API of a WebSocket API lives: the seed's
//! `WEBSOCKET_ENDPOINT` (`wss://<api-id>.execute-api.<region>.amazonaws.com/<stage>`) becomes
//! `https://…/<stage>`, the base URL the SDK posts `@connections/{id}` under.

use std::fmt;

/// The `https://host/stage` base URL of a WebSocket API's management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementEndpoint(String);

impl ManagementEndpoint {
    /// Parses the seed's `wss://host/stage` (an `https://host/stage` is taken as it is).
    pub fn from_websocket_url(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let rest = raw
            .strip_prefix("wss://")
            .or_else(|| raw.strip_prefix("https://"))
            .ok_or("an API Gateway WebSocket endpoint starts with wss:// (or https://)")?;
        let rest = rest.trim_end_matches('/');
        let (host, stage) = rest
            .split_once('/')
            .ok_or("the endpoint must name its stage: wss://<api-id>.execute-api.<region>.amazonaws.com/<stage>")?;
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
        if !host_ok {
            return Err(format!("'{host}' is not a host name"));
        }
        let stage_ok = !stage.is_empty()
            && stage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'));
        if !stage_ok || stage.contains("//") || stage.contains('?') {
            return Err(format!("'{stage}' is not a stage name"));
        }
        Ok(Self(format!("https://{host}/{stage}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ManagementEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_wss_endpoint_becomes_the_https_management_base() {
        let endpoint = ManagementEndpoint::from_websocket_url(
            "wss://abc123.execute-api.eu-west-1.amazonaws.com/dev/",
        )
        .unwrap();
        assert_eq!(
            endpoint.as_str(),
            "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
        );
    }

    #[test]
    fn an_endpoint_without_stage_or_with_another_scheme_is_refused() {
        for bad in [
            "wss://abc123.execute-api.eu-west-1.amazonaws.com",
            "ws://abc.example.com/dev",
            "http://abc.example.com/dev",
            "wss:///dev",
            "wss://a b/dev",
        ] {
            assert!(
                ManagementEndpoint::from_websocket_url(bad).is_err(),
                "{bad} accepted"
            );
        }
    }
}
