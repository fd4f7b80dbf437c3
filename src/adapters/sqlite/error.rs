//! Maps sqlx and SQLite failures onto the store port's error kinds.

use crate::ports::store::StoreError;

/// SQLite primary result codes (the low byte of an extended code) that mean "try again later".
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_NOMEM: i64 = 7;
const SQLITE_IOERR: i64 = 10;
const SQLITE_FULL: i64 = 13;
const SQLITE_CANTOPEN: i64 = 14;
const SQLITE_PROTOCOL: i64 = 15;
/// Codes that mean the file itself is damaged or is not a database.
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_NOTADB: i64 = 26;

/// Classifies an sqlx error: uniqueness -> `Conflict` naming the rule, contention and I/O ->
/// `Unavailable` (retried), undecodable data -> `Corrupt`, anything else -> `Other`.
pub(super) fn db(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(e) => {
            if e.is_unique_violation() {
                // SQLite says "UNIQUE constraint failed: customers.email": the part after the
                // colon names the rule and never contains the offending value.
                let message = e.message();
                let rule = message
                    .split_once(": ")
                    .map_or(message, |(_, rule)| rule)
                    .to_owned();
                return StoreError::Conflict(format!("{rule} is already taken"));
            }
            let primary = e
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            match primary {
                Some(
                    SQLITE_BUSY | SQLITE_LOCKED | SQLITE_NOMEM | SQLITE_IOERR | SQLITE_FULL
                    | SQLITE_CANTOPEN | SQLITE_PROTOCOL,
                ) => StoreError::Unavailable(e.message().to_owned()),
                Some(SQLITE_CORRUPT | SQLITE_NOTADB) => StoreError::Corrupt(e.message().to_owned()),
                _ => StoreError::Other(e.message().to_owned()),
            }
        }
        e => crate::adapters::sql::driver_error(e),
    }
}
