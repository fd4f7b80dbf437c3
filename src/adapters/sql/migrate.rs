//! Applying a dialect's embedded migrations, with a report of what this run applied.

use super::dialect::Dialect;
use crate::ports::store::{StoreError, StoreResult};
use sqlx::migrate::{Migrate, MigrateError, Migrator};

/// A failed migration: the statement's own failure keeps its class (through the dialect's
/// `classify`); a database migrated by a newer build (or edited by hand) cannot be used by this
/// one.
pub(super) fn migrate_error<D: Dialect>(err: MigrateError) -> StoreError {
    match err {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => D::classify(e),
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
pub(crate) async fn run_migrations<D>(
    migrator: &Migrator,
    pool: &sqlx::Pool<D>,
) -> StoreResult<Vec<AppliedMigration>>
where
    D: Dialect,
    D::Connection: Migrate,
{
    let before = applied_versions::<D>(pool).await?;
    migrator
        .run(pool)
        .await
        .map_err(|e| migrate_error::<D>(e))?;
    Ok(not_applied(migrator, &before))
}

/// The migrator's migrations whose versions are not in `applied`, in order.
pub(super) fn not_applied(migrator: &Migrator, applied: &[i64]) -> Vec<AppliedMigration> {
    migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| AppliedMigration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect()
}

/// The versions recorded as applied, creating the bookkeeping table if it is missing. Done under
/// the database's migration lock (PostgreSQL: an advisory lock; SQLite: none needed), because two
/// processes creating the table of a new database at once collide on PostgreSQL's catalogue
/// (`type "_sqlx_migrations" already exists`) even with `CREATE TABLE IF NOT EXISTS`.
async fn applied_versions<D>(pool: &sqlx::Pool<D>) -> StoreResult<Vec<i64>>
where
    D: Dialect,
    D::Connection: Migrate,
{
    let mut conn = pool.acquire().await.map_err(D::classify)?;
    conn.lock().await.map_err(|e| migrate_error::<D>(e))?;
    let versions = read_applied_versions::<D>(&mut *conn).await;
    let unlocked = conn.unlock().await.map_err(|e| migrate_error::<D>(e));
    let versions = versions?;
    unlocked?;
    Ok(versions)
}

async fn read_applied_versions<D>(conn: &mut D::Connection) -> StoreResult<Vec<i64>>
where
    D: Dialect,
    D::Connection: Migrate,
{
    conn.ensure_migrations_table()
        .await
        .map_err(|e| migrate_error::<D>(e))?;
    Ok(conn
        .list_applied_migrations()
        .await
        .map_err(|e| migrate_error::<D>(e))?
        .into_iter()
        .map(|m| m.version)
        .collect())
}
