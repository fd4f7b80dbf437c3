//! The production store: PostgreSQL shared by any number of processes (DESIGN.md §2), schema in
//! `migrations/postgres/`.
//!
//! How it stays correct with many processes writing at once (transactions are READ COMMITTED):
//! - a producer step locks its application row (`application_for_update` is `FOR UPDATE`), so
//!   two steps on one application run one after the other;
//! - a customer's sequence counter is bumped by an upsert that holds the counter's row lock
//!   until commit: sequences are gap-free and a customer's outbox rows commit in order;
//! - the same `Idempotency-Key` stored twice is a unique violation, reported as `Conflict`;
//! - consumers insert events with `ON CONFLICT DO NOTHING`: a redelivery is a `Duplicate`;
//! - one relay at a time reads the outbox (see [`relay`]);
//! - a client that vanished (a crashed host, a lost network) or stopped mid-transaction loses
//!   its session, its row locks and the relay lease within about a minute (see [`session`]);
//!   a statement runs at most 30 s unless the URL says otherwise.
//!
//! Queries and row mapping are the shared SQL store's (`adapters::sql`); this folder holds the
//! pool, the URL and what PostgreSQL does its own way (`deadline`, `dialect`, `error`, `relay`,
//! `session`).
//!
//! A server that is down, restarting or out of connections makes calls fail with `Unavailable`
//! within [`ACQUIRE_TIMEOUT`]; the store recovers by itself once the server is back. sqlx checks
//! a connection with a round trip when it goes back to the pool; one that then sat idle for
//! [`CHECK_IDLE_AFTER`] or longer is checked again before use (a server restarted meanwhile
//! has closed it), and one taken again sooner is not (a second round trip per query while the
//! pool is busy). A connection broken within that window fails its next call with
//! `Unavailable`, is dropped, and the caller's retry gets a new one. A server that vanished
//! without closing its connections is given up on after the session's statement timeout and a
//! grace (see [`deadline`]).

mod deadline;
mod dialect;
mod error;
mod relay;
mod session;
mod url;

pub use crate::adapters::sql::AppliedMigration;
pub use url::{DatabaseUrl, InvalidDatabaseUrl};

use crate::adapters::sql::{answered, missing_migrations, run_migrations, SqlStore};
use crate::ports::store::{StoreError, StoreResult};
use error::db;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Connection, Postgres};
use std::sync::Arc;
use std::time::Duration;

/// The schema, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per process unless `store.max_connections` says otherwise (each role process has
/// its own pool): four for each CPU this process may use, at least 4 and at most 16, so 8 on two
/// cores. More connections than that keep more transactions open at once, each waiting for a
/// busy process to send its next statement, instead of letting the rest wait in the pool: on two
/// cores shared with the server, 8 held the push's p99 lower than 16 in ten of twelve runs side
/// by side (BENCHMARKS.md, "The PostgreSQL pool's size").
pub fn default_max_connections() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    pool_size_for(cpus)
}

fn pool_size_for(cpus: usize) -> u32 {
    // At most 16: the clamp keeps the value small, so the cast cannot truncate.
    cpus.saturating_mul(4).clamp(4, 16) as u32
}
/// How long a call waits for a connection (including connecting) before reporting
/// `Unavailable`: short, so a consumer pauses and retries instead of hanging on a dead server.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle at least this long is checked with a round trip before use.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The sessions a PostgreSQL server takes and holds (`onboard doctor`'s `store.connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConnections {
    /// `max_connections` less the slots reserved for superusers and reserved roles.
    pub usable: u32,
    /// Sessions connected to a database now, besides the one that asked (the asking store's
    /// pool may hold others).
    pub in_use: u32,
    /// Of those, Onboard's (`application_name` onboard).
    pub onboard: u32,
}

/// The PostgreSQL store: one pool for reads and writes, plus the outbox relay lease.
pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects and applies pending migrations (safe when several processes start together:
    /// the migrator holds PostgreSQL's migration lock). The pool opens at most
    /// `max_connections`; a call that finds them all busy waits up to [`ACQUIRE_TIMEOUT`].
    pub async fn open(url: &DatabaseUrl, max_connections: u32) -> StoreResult<Arc<PostgresStore>> {
        let store = Self::connect(url, max_connections).await?;
        store.migrate().await?;
        tracing::info!(server = %url.server(), "Opened the PostgreSQL store.");
        Ok(store)
    }

    /// Connects without touching the schema, checking once that the server answers, so a wrong
    /// URL or a down server is reported here with the server's own reason.
    pub async fn connect(
        url: &DatabaseUrl,
        max_connections: u32,
    ) -> StoreResult<Arc<PostgresStore>> {
        let options = session::with_session_settings(url.connect_options())
            .application_name("onboard")
            // Statements are logged by our own tracing where useful, never with their values.
            .disable_statement_logging();
        let probe = tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect())
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "PostgreSQL at {} did not answer within {} s",
                    url.server(),
                    ACQUIRE_TIMEOUT.as_secs()
                ))
            })?
            .map_err(db)?;
        let _ = probe.close().await;
        deadline::ask(session::statement_timeout(&options));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection broken by a server restart while idle is found and replaced before
            // use; see the module header for why only idle ones are checked. One to a server
            // that vanished is given up after `deadline::CHECK_PATIENCE`.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= CHECK_IDLE_AFTER {
                        check(conn).await?;
                    }
                    Ok(true)
                })
            })
            // After a call went unanswered, a connection coming back is checked before sqlx's
            // own round trip, which would wait as long as the call did (`deadline`).
            .after_release(|conn, _| {
                Box::pin(async move {
                    if deadline::suspicious() {
                        check(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        Ok(Arc::new(SqlStore::new(pool.clone(), pool)))
    }

    /// Applies pending migrations; returns the ones this call applied (empty when up to date).
    /// They run on a connection of their own without the sessions' `statement_timeout`: a
    /// migration may take longer than any statement of Onboard's.
    pub async fn migrate(&self) -> StoreResult<Vec<AppliedMigration>> {
        let unbounded = (*self.write.connect_options())
            .clone()
            .options([("statement_timeout", "0")]);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(unbounded);
        let applied = run_migrations(&MIGRATOR, &pool).await;
        pool.close().await;
        applied
    }

    /// The migrations this build has that the database lacks, without applying them.
    pub async fn missing_migrations(&self) -> StoreResult<Vec<AppliedMigration>> {
        missing_migrations(&MIGRATOR, &self.read).await
    }

    /// How many sessions the server takes and holds now, to compare with the pools of the
    /// processes that use it (`onboard doctor`).
    pub async fn server_connections(&self) -> StoreResult<ServerConnections> {
        // Of another role's sessions, `pg_stat_activity` shows this one only the database,
        // process and application name, which is all this needs. Background workers have no
        // database; autovacuum workers do, though they do not take a client's slot, so the count
        // errs towards too many.
        let (usable, in_use, onboard): (i64, i64, i64) = answered::<Postgres, _>(
            sqlx::query_as(
                "SELECT current_setting('max_connections')::int8
                  - current_setting('superuser_reserved_connections')::int8
                  - coalesce(current_setting('reserved_connections', true)::int8, 0),
                    count(*) FILTER (WHERE datid IS NOT NULL),
                    count(*) FILTER (WHERE datid IS NOT NULL AND application_name = 'onboard')
               FROM pg_stat_activity
              WHERE pid <> pg_backend_pid()",
            )
            .fetch_one(&self.read),
        )
        .await
        .map_err(db)?;
        let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        Ok(ServerConnections {
            usable: count(usable),
            in_use: count(in_use),
            onboard: count(onboard),
        })
    }

    /// The database server's clock, to compare with this machine's (`onboard doctor`).
    pub async fn server_time(&self) -> StoreResult<chrono::DateTime<chrono::Utc>> {
        let now = sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>("SELECT now()")
            .fetch_one(&self.read);
        answered::<Postgres, _>(now).await.map_err(db)
    }
}

/// A round trip on `conn`, failing if it takes longer than [`deadline::CHECK_PATIENCE`] (sqlx
/// then closes the connection without waiting for the server).
async fn check(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    tokio::time::timeout(deadline::CHECK_PATIENCE, conn.ping())
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the connection did not answer its check",
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::pool_size_for;

    #[test]
    fn the_default_pool_is_four_connections_a_cpu_between_4_and_16() {
        let sizes: Vec<u32> = [1, 2, 3, 4, 64].into_iter().map(pool_size_for).collect();
        assert_eq!(sizes, [4, 8, 12, 16, 16]);
    }
}
