//! PostgreSQL as a [`Dialect`] of the shared SQL store, with the conventions of
//! `migrations/postgres/0001_initial.sql`: UUID ids as `uuid`, instants as `timestamptz`, dates
//! as `date`; row locks for steps and notification claims; one outbox relay at a time.

use super::error::db;
use super::{deadline, relay};
use crate::adapters::sql::{answered, BindResult, ColumnError, Dialect, Locking, SqlStore};
use crate::ports::store::{OutboxRecord, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow};
use sqlx::types::Json;
use sqlx::{Arguments, Postgres, Row};
use std::time::Duration;
use uuid::Uuid;

#[async_trait]
impl Dialect for Postgres {
    const ADAPTER: &'static str = "postgres";
    const LOCKING: Locking = Locking::Rows;
    /// The extended query protocol takes one statement with parameters a call.
    const MANY_STATEMENTS_A_CALL: bool = false;
    type Extra = relay::RelayLease;

    fn bind_instant<'q>(args: &mut PgArguments, at: Option<DateTime<Utc>>) -> BindResult {
        args.add(at)
    }

    fn bind_date<'q>(args: &mut PgArguments, day: NaiveDate) -> BindResult {
        args.add(day)
    }

    fn bind_uuid<'q>(args: &mut PgArguments, id: Option<Uuid>) -> BindResult {
        args.add(id)
    }

    /// As `jsonb`, serialised by serde straight into the message.
    fn bind_json<T: Serialize + Sync>(args: &mut PgArguments, value: &T) -> BindResult {
        args.add(Json(value))
    }

    fn read_instant(row: &PgRow, column: &str) -> Result<Option<DateTime<Utc>>, ColumnError> {
        Ok(row.try_get(column)?)
    }

    fn read_date(row: &PgRow, column: &str) -> Result<Option<NaiveDate>, ColumnError> {
        Ok(row.try_get(column)?)
    }

    fn read_uuid(row: &PgRow, column: &str) -> Result<Option<Uuid>, ColumnError> {
        Ok(row.try_get(column)?)
    }

    /// `jsonb` arrives in its binary form; sqlx's `Json` strips the version byte, and the raw
    /// value only has its end found (the caller decodes it).
    fn read_json(row: &PgRow, column: &str) -> Result<Option<String>, ColumnError> {
        let raw: Option<Json<Box<RawValue>>> = row.try_get(column)?;
        Ok(raw.map(|json| String::from(Box::<str>::from(json.0))))
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn classify(error: sqlx::Error) -> StoreError {
        db(error)
    }

    fn answer_deadline() -> Option<Duration> {
        deadline::answer_deadline()
    }

    fn answer_missed() {
        deadline::missed();
    }

    async fn outbox_pending(store: &SqlStore<Self>, limit: i64) -> StoreResult<Vec<OutboxRecord>> {
        relay::pending(store, limit).await
    }

    /// One statement with the list as an array parameter, whatever its length.
    async fn outbox_mark_sent(store: &SqlStore<Self>, seqs: &[i64]) -> StoreResult<()> {
        let mark =
            sqlx::query("UPDATE outbox SET sent_at = $1 WHERE sent_at IS NULL AND seq = ANY($2)")
                .bind(Utc::now())
                .bind(seqs)
                .execute(&store.write);
        answered::<Self, _>(mark).await.map_err(db)?;
        Ok(())
    }

    async fn release(store: &SqlStore<Self>) {
        store.extra().release().await;
    }
}
