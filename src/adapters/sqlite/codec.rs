//! How domain values are written to and read back from columns (the conventions of
//! `migrations/sqlite/0001_initial.sql`): instants as fixed-width RFC 3339 text, dates as
//! `YYYY-MM-DD`, JSON as text. Decoding failures are `Corrupt` and never quote the stored value,
//! which may be personal data.

use crate::domain::ids::{ApplicationId, ConnectionId, CustomerId, DocumentId, EventId};
use crate::ports::store::{StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// An instant as stored: UTC, nine fractional digits and `Z`, so text order equals time order
/// and nothing is lost on the way back.
pub(super) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn parse_ts(column: &str, raw: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| corrupt(column, "is not an RFC 3339 instant"))
}

pub(super) fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

pub(super) fn parse_date(column: &str, raw: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| corrupt(column, "is not a date"))
}

pub(super) fn customer_id(column: &str, raw: &str) -> StoreResult<CustomerId> {
    CustomerId::parse(raw).map_err(|e| corrupt(column, &e))
}

/// Parses one of the UUID ids (`ApplicationId`, `EventId`, ...) through its `parse`.
pub(super) fn uuid<T>(
    column: &str,
    raw: &str,
    parse: fn(&str) -> Result<T, String>,
) -> StoreResult<T> {
    parse(raw).map_err(|e| corrupt(column, &e))
}

pub(super) fn application_id(column: &str, raw: &str) -> StoreResult<ApplicationId> {
    uuid(column, raw, ApplicationId::parse)
}

pub(super) fn event_id(column: &str, raw: &str) -> StoreResult<EventId> {
    uuid(column, raw, EventId::parse)
}

pub(super) fn document_id(column: &str, raw: &str) -> StoreResult<DocumentId> {
    uuid(column, raw, DocumentId::parse)
}

pub(super) fn connection_id(column: &str, raw: &str) -> StoreResult<ConnectionId> {
    uuid(column, raw, ConnectionId::parse)
}

/// A `#[serde(transparent)]` string newtype (`Email`, `PersonName`, ...) read back through serde:
/// the value was validated when it was parsed at the edge, so it is not validated again here.
pub(super) fn text_value<T: DeserializeOwned>(column: &str, raw: String) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(raw))
        .map_err(|_| corrupt(column, "does not hold a valid value"))
}

pub(super) fn json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(format!("cannot encode JSON: {e}")))
}

pub(super) fn from_json<T: DeserializeOwned>(column: &str, raw: &str) -> StoreResult<T> {
    serde_json::from_str(raw).map_err(|e| {
        // Only the position of the error, never serde's message, which can quote the value.
        corrupt(
            column,
            &format!(
                "is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Maps an enum's `as_str` form back, or reports the column as corrupt.
pub(super) fn known<T>(column: &str, parsed: Option<T>) -> StoreResult<T> {
    parsed.ok_or_else(|| corrupt(column, "holds an unknown value"))
}

/// Sequences are `u64` in the domain and `INTEGER` (signed 64-bit) in the database.
pub(super) fn sequence(column: &str, raw: i64) -> StoreResult<u64> {
    u64::try_from(raw).map_err(|_| corrupt(column, "is negative"))
}

pub(super) fn corrupt(column: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} {what}"))
}
