//! Rules every SQL dialect shares for values: JSON read back without quoting it, sequence
//! numbers as signed 64-bit, and how a failure that does not come from the database itself
//! (pool, connection, decoding) is classified.

use crate::ports::store::{StoreError, StoreResult};
use serde::de::DeserializeOwned;

pub(crate) fn from_json<T: DeserializeOwned>(column: &str, raw: &str) -> StoreResult<T> {
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

/// Sequences above `i64::MAX` cannot be produced by a store; clamp rather than wrap.
pub(crate) fn sequence_param(sequence: u64) -> i64 {
    i64::try_from(sequence).unwrap_or(i64::MAX)
}

pub(crate) fn corrupt(column: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} {what}"))
}

/// Classifies the sqlx errors that do not come from the database itself: no connection to be
/// had, a broken connection or a closed store -> `Unavailable`; a value that cannot be decoded
/// -> `Corrupt`; anything else -> `Other`. Dialects classify `sqlx::Error::Database` themselves.
pub(crate) fn driver_error(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable("timed out waiting for a database connection".into())
        }
        sqlx::Error::PoolClosed => StoreError::Unavailable("the store was closed".into()),
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("i/o: {e}")),
        sqlx::Error::Tls(e) => StoreError::Unavailable(format!("tls: {e}")),
        // A connection broken mid-message shows up as a protocol error.
        sqlx::Error::Protocol(e) => StoreError::Unavailable(format!("protocol: {e}")),
        sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable("a database connection worker stopped".into())
        }
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }) => StoreError::Corrupt(e.to_string()),
        e => StoreError::Other(e.to_string()),
    }
}
