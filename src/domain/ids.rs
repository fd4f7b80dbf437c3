//! Identifiers that cross boundaries: customers, applications and events.
//!
//! Each is a newtype that can only be built by parsing, so the inside never re-validates.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The customer a token, an application and every event belong to (the JWT `sub`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

impl CustomerId {
    /// Longest customer id accepted; long enough for UUIDs and most external ids.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1 to 128 characters of `A-Z a-z 0-9 . _ : @ -`: safe in URLs, file names and logs.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-'))
        {
            return Err("may only contain letters, digits and . _ : @ -".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CustomerId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CustomerId> for String {
    fn from(value: CustomerId) -> Self {
        value.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn parse(raw: &str) -> Result<Self, String> {
                Uuid::parse_str(raw)
                    .map(Self)
                    .map_err(|_| "must be a UUID".to_string())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// One onboarding application of a customer.
    ApplicationId
);
uuid_id!(
    /// One event; UUIDv7, so ids sort by creation time.
    EventId
);
uuid_id!(
    /// One uploaded document.
    DocumentId
);
uuid_id!(
    /// One WebSocket connection (the seed's API Gateway `connectionId`).
    ConnectionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_id_accepts_the_seed_example_and_rejects_unsafe_characters() {
        assert!(CustomerId::parse("test-customer-123").is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse("a/b").is_err());
        assert!(CustomerId::parse("a b").is_err());
        assert!(CustomerId::parse(&"x".repeat(129)).is_err());
    }
}
