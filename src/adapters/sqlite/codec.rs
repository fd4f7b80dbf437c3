//! How domain values are written to and read back from columns (the conventions of
//! `migrations/sqlite/0001_initial.sql`): instants as fixed-width RFC 3339 text, dates as
//! `YYYY-MM-DD`, ids and JSON as text. The rules shared with other adapters live in
//! [`crate::adapters::sql_store`].

pub(super) use crate::adapters::sql_store::{
    corrupt, customer_id, from_json, json, known, sequence, sequence_param, text_value,
};
use crate::domain::ids::{ApplicationId, ConnectionId, DocumentId, EventId};
use crate::ports::store::StoreResult;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

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
