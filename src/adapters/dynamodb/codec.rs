//! Values in and out of DynamoDB items: instants as epoch milliseconds (`N`), sort keys that
//! order by time as strings, typed reads that name the table and attribute of a bad value, and
//! how SDK failures become [`StoreError`]s.

use crate::domain::ids::CustomerId;
use crate::ports::store::{StoreError, StoreResult};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use uuid::Uuid;

/// One DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// A string that sorts like `at` (epoch milliseconds, zero-padded), then by `suffix`.
pub(super) fn time_key(at: DateTime<Utc>, suffix: impl std::fmt::Display) -> String {
    format!("{:015}#{suffix}", millis(at).max(0))
}

/// Epoch seconds for a TTL attribute, rounded up so the row never vanishes early.
pub(super) fn ttl_seconds(at: DateTime<Utc>) -> i64 {
    (millis(at) + 999).div_euclid(1000)
}

/// Builds an item attribute by attribute.
#[derive(Default)]
pub(super) struct ItemBuilder(Item);

impl ItemBuilder {
    pub fn s(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), s(value));
        self
    }

    pub fn opt_s(self, name: &str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(value) => self.s(name, value),
            None => self,
        }
    }

    pub fn n(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.0.insert(name.into(), n(value));
        self
    }

    pub fn opt_n(self, name: &str, value: Option<impl std::fmt::Display>) -> Self {
        match value {
            Some(value) => self.n(name, value),
            None => self,
        }
    }

    pub fn instant(self, name: &str, at: DateTime<Utc>) -> Self {
        self.n(name, millis(at))
    }

    pub fn json(self, name: &str, value: &impl serde::Serialize) -> StoreResult<Self> {
        let raw = serde_json::to_string(value)
            .map_err(|e| StoreError::Other(format!("{name} cannot be encoded: {e}")))?;
        Ok(self.s(name, raw))
    }

    pub fn build(self) -> Item {
        self.0
    }
}

/// Typed reads of one item; errors name `table.attribute` and never quote the value.
pub(super) struct Fields<'a> {
    table: &'static str,
    item: &'a Item,
}

impl<'a> Fields<'a> {
    pub fn of(table: &'static str, item: &'a Item) -> Self {
        Self { table, item }
    }

    fn corrupt(&self, name: &str, what: &str) -> StoreError {
        StoreError::Corrupt(format!("{}.{name} {what}", self.table))
    }

    pub fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(name, "is not a string")),
        }
    }

    pub fn text(&self, name: &str) -> StoreResult<String> {
        self.opt_text(name)?
            .ok_or_else(|| self.corrupt(name, "is missing"))
    }

    pub fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(name, "is not a 64-bit integer")),
            Some(_) => Err(self.corrupt(name, "is not a number")),
        }
    }

    pub fn int(&self, name: &str) -> StoreResult<i64> {
        self.opt_int(name)?
            .ok_or_else(|| self.corrupt(name, "is missing"))
    }

    pub fn unsigned<T: TryFrom<i64>>(&self, name: &str) -> StoreResult<T> {
        T::try_from(self.int(name)?).map_err(|_| self.corrupt(name, "is out of range"))
    }

    pub fn instant(&self, name: &str) -> StoreResult<DateTime<Utc>> {
        Utc.timestamp_millis_opt(self.int(name)?)
            .single()
            .ok_or_else(|| self.corrupt(name, "is not an instant"))
    }

    pub fn date(&self, name: &str) -> StoreResult<NaiveDate> {
        NaiveDate::parse_from_str(&self.text(name)?, "%Y-%m-%d")
            .map_err(|_| self.corrupt(name, "is not a date"))
    }

    pub fn uuid<T>(&self, name: &str, id: fn(Uuid) -> T) -> StoreResult<T> {
        Uuid::parse_str(&self.text(name)?)
            .map(id)
            .map_err(|_| self.corrupt(name, "is not a UUID"))
    }

    pub fn opt_uuid<T>(&self, name: &str, id: fn(Uuid) -> T) -> StoreResult<Option<T>> {
        match self.opt_text(name)? {
            None => Ok(None),
            Some(raw) => Uuid::parse_str(&raw)
                .map(|u| Some(id(u)))
                .map_err(|_| self.corrupt(name, "is not a UUID")),
        }
    }

    pub fn customer_id(&self, name: &str) -> StoreResult<CustomerId> {
        CustomerId::parse(&self.text(name)?).map_err(|e| self.corrupt(name, &e))
    }

    /// A `#[serde(transparent)]` string newtype (`Email`, `PersonName`, ...), validated at the
    /// edge when it was first parsed.
    pub fn value<T: DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        serde_json::from_value(serde_json::Value::String(self.text(name)?))
            .map_err(|_| self.corrupt(name, "does not hold a valid value"))
    }

    /// An enum stored as its `as_str` form.
    pub fn known<T>(&self, name: &str, parse: impl FnOnce(&str) -> Option<T>) -> StoreResult<T> {
        parse(&self.text(name)?).ok_or_else(|| self.corrupt(name, "holds an unknown value"))
    }

    pub fn json<T: DeserializeOwned>(&self, name: &str) -> StoreResult<T> {
        serde_json::from_str(&self.text(name)?).map_err(|e| {
            self.corrupt(
                name,
                &format!(
                    "is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })
    }
}

/// Error codes DynamoDB answers when it is busy or briefly unable to serve: retrying later may
/// succeed.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "LimitExceededException",
];

/// Classifies an SDK failure of `operation`: no answer (network, timeout) or a busy service is
/// `Unavailable`; a missing table says to run `onboard migrate`; anything else is `Other`.
pub(super) fn sdk_error<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::TimeoutError(_) => StoreError::Unavailable(format!("{operation}: timed out")),
        SdkError::DispatchFailure(e) => {
            StoreError::Unavailable(format!("{operation}: cannot reach DynamoDB: {e:?}"))
        }
        SdkError::ResponseError(_) => {
            StoreError::Unavailable(format!("{operation}: unreadable answer from DynamoDB"))
        }
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("unknown");
            let message = e.err().message().unwrap_or("");
            if TRANSIENT_CODES.contains(&code) {
                StoreError::Unavailable(format!("{operation}: {code}: {message}"))
            } else if code == "ResourceNotFoundException" {
                StoreError::Other(format!(
                    "{operation}: a table does not exist (run `onboard migrate`): {message}"
                ))
            } else {
                StoreError::Other(format!("{operation}: {code}: {message}"))
            }
        }
        other => StoreError::Other(format!("{operation}: {other}")),
    }
}

/// A request that could not even be built (a bug here, not a store failure).
pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Other(format!("building a DynamoDB request: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_the_instants_they_carry() {
        let early = Utc.timestamp_millis_opt(999).single().unwrap();
        let late = Utc
            .timestamp_millis_opt(10_000_000_000_000)
            .single()
            .unwrap();
        assert!(time_key(early, "b") < time_key(late, "a"));
        assert!(time_key(early, "a") < time_key(early, "b"));
    }

    #[test]
    fn ttl_seconds_round_up() {
        let at = Utc.timestamp_millis_opt(1_001).single().unwrap();
        assert_eq!(ttl_seconds(at), 2);
        let exact = Utc.timestamp_millis_opt(2_000).single().unwrap();
        assert_eq!(ttl_seconds(exact), 2);
    }
}
