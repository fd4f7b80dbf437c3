//! SQLite as a [`Dialect`] of the shared SQL store, with the conventions of
//! `migrations/sqlite/0001_initial.sql`: instants as fixed-width RFC 3339 text, dates as
//! `YYYY-MM-DD`, UUIDs as hyphenated lower-case text; one writer, so no row locks.

use super::error::db;
use crate::adapters::sql::{BindResult, ColumnError, Dialect, Driver, Locking, SqlStore};
use crate::ports::store::{StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::sqlite::{SqliteArguments, SqliteQueryResult, SqliteRow};
use sqlx::{QueryBuilder, Sqlite};
use std::borrow::Cow;
use uuid::Uuid;

/// Most ids bound in one `IN (...)` list; far below SQLite's variable limit.
const MARK_SENT_CHUNK: usize = 500;

/// An instant as stored: UTC, nine fractional digits and `Z`, so text order equals time order
/// (`expires_at > $1` compares text) and nothing is lost on the way back.
fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads a text column and parses it, or says what the text is not.
fn parsed<T>(
    row: &SqliteRow,
    column: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    not: &'static str,
) -> Result<Option<T>, ColumnError> {
    match Sqlite::read_text(row, column)? {
        Some(raw) => parse(&raw).map(Some).ok_or(ColumnError::Invalid(not)),
        None => Ok(None),
    }
}

#[async_trait]
impl Dialect for Sqlite {
    const ADAPTER: &'static str = "sqlite";
    /// A concurrent writer from another process waits in `busy_timeout`.
    const LOCKING: Locking = Locking::Database;
    /// sqlx-sqlite runs every statement of a call in turn, binding `$N` from one list.
    const MANY_STATEMENTS_A_CALL: bool = true;
    type Extra = ();

    fn bind_instant<'q>(args: &mut SqliteArguments<'q>, at: Option<DateTime<Utc>>) -> BindResult {
        Self::bind_text(args, at.map(|at| Cow::Owned(ts(at))))
    }

    fn bind_date<'q>(args: &mut SqliteArguments<'q>, day: NaiveDate) -> BindResult {
        Self::bind_text(args, Some(Cow::Owned(day.format("%Y-%m-%d").to_string())))
    }

    fn bind_uuid<'q>(args: &mut SqliteArguments<'q>, id: Option<Uuid>) -> BindResult {
        Self::bind_text(args, id.map(|id| Cow::Owned(id.hyphenated().to_string())))
    }

    /// As text, encoded once by serde.
    fn bind_json<'q, T: Serialize + Sync>(
        args: &mut SqliteArguments<'q>,
        value: &'q T,
    ) -> BindResult {
        Self::bind_text(args, Some(Cow::Owned(serde_json::to_string(value)?)))
    }

    fn read_instant(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, ColumnError> {
        let parse = |raw: &str| DateTime::parse_from_rfc3339(raw).ok();
        Ok(
            parsed(row, column, parse, "is not an RFC 3339 instant")?
                .map(|t| t.with_timezone(&Utc)),
        )
    }

    fn read_date(row: &SqliteRow, column: &str) -> Result<Option<NaiveDate>, ColumnError> {
        let parse = |raw: &str| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
        parsed(row, column, parse, "is not a date")
    }

    fn read_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, ColumnError> {
        parsed(
            row,
            column,
            |raw| Uuid::parse_str(raw).ok(),
            "is not a UUID",
        )
    }

    fn read_json(row: &SqliteRow, column: &str) -> Result<Option<String>, ColumnError> {
        Ok(Self::read_text(row, column)?)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn classify(error: sqlx::Error) -> StoreError {
        db(error)
    }

    /// In `IN (...)` lists of at most [`MARK_SENT_CHUNK`], in one write transaction.
    async fn outbox_mark_sent(store: &SqlStore<Self>, seqs: &[i64]) -> StoreResult<()> {
        let sent_at = ts(Utc::now());
        let mut tx = store.write_tx().await?;
        for chunk in seqs.chunks(MARK_SENT_CHUNK) {
            let mut update = QueryBuilder::<Sqlite>::new("UPDATE outbox SET sent_at = ");
            update.push_bind(&sent_at);
            update.push(" WHERE sent_at IS NULL AND seq IN (");
            let mut list = update.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            update.push(")");
            update.build().execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await
    }
}
