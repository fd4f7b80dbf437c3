//! Maps sqlx and PostgreSQL failures onto the store port's error kinds.
//!
//! What counts as "try again later" (`Unavailable`): the server unreachable, restarting or out
//! of resources, the pool exhausted, and the two transaction outcomes PostgreSQL asks clients to
//! retry (serialization failure, deadlock). Consumers pause on these instead of committing past
//! an event they could not store.

use crate::ports::store::StoreError;

/// SQLSTATE classes (first two characters) whose every code is transient.
const TRANSIENT_CLASSES: [&str; 3] = [
    "08", // connection exception
    "53", // insufficient resources (too many connections, disk full, out of memory)
    "58", // system error (I/O)
];

/// Single transient SQLSTATE codes.
const TRANSIENT_CODES: [&str; 7] = [
    "40001", // serialization_failure
    "40P01", // deadlock_detected
    "55P03", // lock_not_available
    "57014", // query_canceled (statement timeout)
    "57P01", // admin_shutdown (the server is stopping)
    "57P02", // crash_shutdown
    "57P03", // cannot_connect_now (the server is starting)
];

/// Classifies an sqlx error: uniqueness -> `Conflict` naming the rule, unreachable or busy
/// server -> `Unavailable` (retried), undecodable data -> `Corrupt`, anything else -> `Other`.
pub(super) fn db(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(e) => {
            let code = e.code().map(|c| c.into_owned()).unwrap_or_default();
            if e.is_unique_violation() {
                // The constraint's name (e.g. `customers_email_unique`) says which rule; the
                // message's detail would quote the offending value, so it is left out.
                let rule = e.constraint().unwrap_or("a unique rule");
                return StoreError::Conflict(format!("{rule} is already taken"));
            }
            if TRANSIENT_CODES.contains(&code.as_str())
                || TRANSIENT_CLASSES
                    .iter()
                    .any(|class| code.starts_with(class))
            {
                return StoreError::Unavailable(format!("{} (SQLSTATE {code})", e.message()));
            }
            if code.starts_with("22") {
                // Data exceptions can quote the value that was refused.
                return StoreError::Other(format!(
                    "the database refused a value (SQLSTATE {code})"
                ));
            }
            StoreError::Other(format!("{} (SQLSTATE {code})", e.message()))
        }
        e => crate::adapters::sql::driver_error(e),
    }
}
