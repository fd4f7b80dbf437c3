//! What every SQL store adapter shares: how columns become domain values (failures are
//! `Corrupt` and never quote the stored value, which may be personal data), how a failed
//! migration is classified, and running migrations with a report of what was applied.

use crate::domain::ids::CustomerId;
use crate::ports::store::{StoreError, StoreResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::migrate::{Migrate, MigrateError, Migrator};

pub(crate) fn customer_id(column: &str, raw: &str) -> StoreResult<CustomerId> {
    CustomerId::parse(raw).map_err(|e| corrupt(column, &e))
}

/// A `#[serde(transparent)]` string newtype (`Email`, `PersonName`, ...) read back through serde:
/// the value was validated when it was parsed at the edge, so it is not validated again here.
pub(crate) fn text_value<T: DeserializeOwned>(column: &str, raw: String) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(raw))
        .map_err(|_| corrupt(column, "does not hold a valid value"))
}

pub(crate) fn json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Other(format!("cannot encode JSON: {e}")))
}

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

/// Maps an enum's `as_str` form back, or reports the column as corrupt.
pub(crate) fn known<T>(column: &str, parsed: Option<T>) -> StoreResult<T> {
    parsed.ok_or_else(|| corrupt(column, "holds an unknown value"))
}

/// Sequences are `u64` in the domain and signed 64-bit in the database.
pub(crate) fn sequence(column: &str, raw: i64) -> StoreResult<u64> {
    u64::try_from(raw).map_err(|_| corrupt(column, "is negative"))
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
/// -> `Corrupt`; anything else -> `Other`. Adapters classify `sqlx::Error::Database` themselves.
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

/// A failed migration: the statement's own failure keeps its class (through the adapter's `db`);
/// a database that was migrated by a newer build (or edited by hand) cannot be used by this one.
pub(crate) fn migrate_error(err: MigrateError, db: fn(sqlx::Error) -> StoreError) -> StoreError {
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => db(e),
        e @ (MigrateError::VersionMissing(_)
        | MigrateError::VersionMismatch(_)
        | MigrateError::Dirty(_)) => StoreError::Corrupt(format!("schema migrations: {e}")),
        e => StoreError::Other(format!("schema migrations: {e}")),
    }
}

/// One migration this run applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub description: String,
}

/// Runs the migrator's pending migrations on `pool` and lists the ones that were not applied
/// before. Concurrent runs are safe: the migrator takes the database's migration lock.
pub(crate) async fn run_migrations<DB>(
    migrator: &Migrator,
    pool: &sqlx::Pool<DB>,
    db: fn(sqlx::Error) -> StoreError,
) -> StoreResult<Vec<AppliedMigration>>
where
    DB: sqlx::Database,
    DB::Connection: Migrate,
{
    let before: Vec<i64> = {
        let mut conn = pool.acquire().await.map_err(db)?;
        conn.ensure_migrations_table()
            .await
            .map_err(|e| migrate_error(e, db))?;
        conn.list_applied_migrations()
            .await
            .map_err(|e| migrate_error(e, db))?
            .into_iter()
            .map(|m| m.version)
            .collect()
    };
    migrator.run(pool).await.map_err(|e| migrate_error(e, db))?;
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !before.contains(&m.version))
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect())
}
