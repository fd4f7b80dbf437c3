//! What `onboard doctor` asks a SQL store without changing it: the migrations this build has
//! that the database has not applied.

use super::dialect::Dialect;
use super::migrate::{migrate_error, not_applied, AppliedMigration};
use crate::ports::store::StoreResult;
use sqlx::migrate::{Migrate, Migrator};

/// The up-migrations of `migrator` not recorded as applied on `pool`, oldest first. Reads only:
/// a database never migrated (no bookkeeping table) fails with the database's own reason.
pub(crate) async fn missing_migrations<D>(
    migrator: &Migrator,
    pool: &sqlx::Pool<D>,
) -> StoreResult<Vec<AppliedMigration>>
where
    D: Dialect,
    D::Connection: Migrate,
{
    let mut conn = pool.acquire().await.map_err(D::classify)?;
    let applied: Vec<i64> = conn
        .list_applied_migrations()
        .await
        .map_err(|e| migrate_error::<D>(e))?
        .into_iter()
        .map(|m| m.version)
        .collect();
    Ok(not_applied(migrator, &applied))
}
