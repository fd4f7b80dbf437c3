//! A secret value (a password, a signing key, a database URL) that never prints, read from the
//! environment, the configuration file or a file it names (`src/config/secret.rs` holds the rule).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::Path;

/// What `Debug`, `Display` and serialization show instead of a secret.
pub const MASK: &str = "***";

/// A secret; its `Debug` says `Secret(redacted)` and its `Display` and serialized form `***`, so
/// it can sit in settings that are logged or printed by `onboard check-config`.
///
/// Our own type rather than `secrecy::SecretString`: adapters compare settings (`PartialEq`) and
/// the configuration prints masked values, neither of which `secrecy` offers.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Reads a secret file; a trailing line break (what `echo` and editors add) is not part of it.
    pub fn from_file(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self(text.trim_end_matches(['\r', '\n']).to_owned()))
    }

    /// The value, for the one place that must send or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Serialized masked: the only serialized form of a configuration is the one shown to people.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_serialized_output_never_contain_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "Secret(redacted)");
        assert!(!format!("{:?}", Some(&secret)).contains("hunter2"));
        assert_eq!(secret.to_string(), MASK);
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, "\"***\"");
    }

    #[test]
    fn a_secret_file_loses_only_its_trailing_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, " pass word \r\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), " pass word ");
    }
}
