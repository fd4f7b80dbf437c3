//! One statement for every dialect: parameters bound by kind ([`Statement`]), rows read back
//! by kind into domain values ([`Columns`]), each kind encoded the way the dialect stores it.

use super::codec::{corrupt, from_json};
use super::dialect::{BindResult, ColumnError, Dialect};
use super::SqlStore;
use crate::domain::ids::CustomerId;
use crate::ports::store::{StoreError, StoreResult};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::error::BoxDynError;
use std::borrow::Cow;
use std::future::Future;
use uuid::Uuid;

/// Most ids bound in one `… IN (…)`: far below SQLite's variable limit and PostgreSQL's 65535
/// parameters.
pub(crate) const MAX_IDS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, …`: `count` parameters for an `IN (…)` list.
pub(crate) fn parameter_list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `call`'s result, or a timed-out I/O error (`Unavailable`) once the dialect's answer deadline
/// passed without one; the connection it ran on must then not serve anyone else as it is (the
/// PostgreSQL pool closes it: `adapters::postgres::deadline`).
pub(crate) async fn answered<D: Dialect, T>(
    call: impl Future<Output = sqlx::Result<T>>,
) -> sqlx::Result<T> {
    let Some(deadline) = D::answer_deadline() else {
        return call.await;
    };
    let mut call = std::pin::pin!(call);
    match tokio::time::timeout(deadline, call.as_mut()).await {
        Ok(answer) => answer,
        Err(_) => {
            // Before `call` is dropped, which gives its connection back to the pool: the pool
            // must already know that a call went unanswered when it takes the connection back.
            D::answer_missed();
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the database did not answer within {} s",
                    deadline.as_secs_f32()
                ),
            )))
        }
    }
}

/// A statement with its parameters, bound in order (`$1`, `$2`, …).
pub(crate) struct Statement<'q, D: Dialect> {
    sql: &'q str,
    args: D::Arguments<'q>,
    /// The first parameter that could not be encoded; the statement then fails without running.
    failed: Option<BoxDynError>,
}

/// Starts a statement.
pub(crate) fn sql<D: Dialect>(sql: &str) -> Statement<'_, D> {
    Statement {
        sql,
        args: Default::default(),
        failed: None,
    }
}

impl<'q, D: Dialect> Statement<'q, D> {
    fn bound(mut self, bind: impl FnOnce(&mut D::Arguments<'q>) -> BindResult) -> Self {
        if let Err(e) = bind(&mut self.args) {
            self.failed.get_or_insert(e);
        }
        self
    }

    pub(crate) fn text(self, value: impl Into<Cow<'q, str>>) -> Self {
        self.bound(|a| D::bind_text(a, Some(value.into())))
    }

    pub(crate) fn opt_text(self, value: Option<&'q str>) -> Self {
        self.bound(|a| D::bind_text(a, value.map(Cow::Borrowed)))
    }

    pub(crate) fn int(self, value: i64) -> Self {
        self.opt_int(Some(value))
    }

    pub(crate) fn opt_int(self, value: Option<i64>) -> Self {
        self.bound(|a| D::bind_int(a, value))
    }

    pub(crate) fn instant(self, at: DateTime<Utc>) -> Self {
        self.bound(|a| D::bind_instant(a, Some(at)))
    }

    pub(crate) fn opt_instant(self, at: Option<DateTime<Utc>>) -> Self {
        self.bound(|args| D::bind_instant(args, at))
    }

    pub(crate) fn date(self, day: NaiveDate) -> Self {
        self.bound(|a| D::bind_date(a, day))
    }

    pub(crate) fn uuid(self, id: Uuid) -> Self {
        self.opt_uuid(Some(id))
    }

    pub(crate) fn opt_uuid(self, id: Option<Uuid>) -> Self {
        self.bound(|a| D::bind_uuid(a, id))
    }

    /// A JSON document (envelope, reasons).
    pub(crate) fn json<T: Serialize + Sync>(self, value: &'q T) -> Self {
        self.bound(|a| D::bind_json(a, value))
    }

    fn ready(self) -> StoreResult<(&'q str, D::Arguments<'q>)> {
        match self.failed {
            Some(e) => Err(StoreError::Other(format!("cannot encode a parameter: {e}"))),
            None => Ok((self.sql, self.args)),
        }
    }

    pub(crate) async fn fetch_all(self, conn: &mut D::Connection) -> StoreResult<Vec<D::Row>> {
        let (sql, args) = self.ready()?;
        answered::<D, _>(D::fetch_all(conn, sql, args))
            .await
            .map_err(D::classify)
    }

    /// For statements that return at most one row (by key, `LIMIT 1`).
    pub(crate) async fn fetch_optional(
        self,
        conn: &mut D::Connection,
    ) -> StoreResult<Option<D::Row>> {
        Ok(self.fetch_all(conn).await?.into_iter().next())
    }

    /// For statements that always return one row (`RETURNING`, aggregates).
    pub(crate) async fn fetch_one(self, conn: &mut D::Connection) -> StoreResult<D::Row> {
        let sql = self.sql;
        self.fetch_optional(conn)
            .await?
            .ok_or_else(|| StoreError::Other(format!("no row from: {sql}")))
    }

    /// Runs the statement; returns how many rows it changed.
    pub(crate) async fn execute(self, conn: &mut D::Connection) -> StoreResult<u64> {
        let (sql, args) = self.ready()?;
        let done = answered::<D, _>(D::execute(conn, sql, args))
            .await
            .map_err(D::classify)?;
        Ok(D::rows_affected(&done))
    }

    /// Runs a write statement of its own and returns once it is committed (on SQLite in the
    /// group commit); how many rows it changed.
    pub(crate) async fn execute_committed(self, store: &SqlStore<D>) -> StoreResult<u64> {
        if store.group.is_none() {
            return self.execute(&mut *store.autocommit_conn().await?).await;
        }
        let mut tx = store.write_tx().await?;
        let changed = self.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// [`Self::execute_committed`] for a statement that returns rows (`RETURNING`).
    pub(crate) async fn fetch_all_committed(self, store: &SqlStore<D>) -> StoreResult<Vec<D::Row>> {
        if store.group.is_none() {
            return self.fetch_all(&mut *store.autocommit_conn().await?).await;
        }
        let mut tx = store.write_tx().await?;
        let rows = self.fetch_all(&mut tx).await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// Reads the columns of one row of `table`; a value that cannot be what the column holds is
/// `Corrupt`, named `table.column`, and the value itself (maybe personal data) is never quoted.
pub(crate) struct Columns<'r, D: Dialect> {
    row: &'r D::Row,
    table: &'static str,
}

impl<'r, D: Dialect> Columns<'r, D> {
    pub(crate) fn of(table: &'static str, row: &'r D::Row) -> Self {
        Self { row, table }
    }

    fn corrupt(&self, column: &str, what: &str) -> StoreError {
        corrupt(&format!("{}.{column}", self.table), what)
    }

    fn failed(&self, column: &str, error: ColumnError) -> StoreError {
        match error {
            ColumnError::Driver(e) => D::classify(e),
            ColumnError::Invalid(what) => self.corrupt(column, what),
        }
    }

    fn optional<T>(
        &self,
        column: &str,
        read: Result<Option<T>, ColumnError>,
    ) -> StoreResult<Option<T>> {
        read.map_err(|e| self.failed(column, e))
    }

    fn required<T>(&self, column: &str, read: Result<Option<T>, ColumnError>) -> StoreResult<T> {
        self.optional(column, read)?
            .ok_or_else(|| self.corrupt(column, "is NULL"))
    }

    pub(crate) fn text(&self, column: &str) -> StoreResult<String> {
        self.required(column, D::read_text(self.row, column).map_err(Into::into))
    }

    pub(crate) fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.optional(column, D::read_text(self.row, column).map_err(Into::into))
    }

    pub(crate) fn int(&self, column: &str) -> StoreResult<i64> {
        self.required(column, D::read_int(self.row, column).map_err(Into::into))
    }

    pub(crate) fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.optional(column, D::read_int(self.row, column).map_err(Into::into))
    }

    pub(crate) fn instant(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        self.required(column, D::read_instant(self.row, column))
    }

    pub(crate) fn opt_instant(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.optional(column, D::read_instant(self.row, column))
    }

    pub(crate) fn date(&self, column: &str) -> StoreResult<NaiveDate> {
        self.required(column, D::read_date(self.row, column))
    }

    /// A UUID id (`ApplicationId`, `EventId`, ...), built by its constructor.
    pub(crate) fn id<T>(&self, column: &str, id: fn(Uuid) -> T) -> StoreResult<T> {
        self.required(column, D::read_uuid(self.row, column))
            .map(id)
    }

    pub(crate) fn opt_id<T>(&self, column: &str, id: fn(Uuid) -> T) -> StoreResult<Option<T>> {
        Ok(self
            .optional(column, D::read_uuid(self.row, column))?
            .map(id))
    }

    pub(crate) fn customer_id(&self, column: &str) -> StoreResult<CustomerId> {
        CustomerId::parse(&self.text(column)?).map_err(|e| self.corrupt(column, &e))
    }

    /// A JSON document, decoded into `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self, column: &str) -> StoreResult<T> {
        let raw = self.required(column, D::read_json(self.row, column))?;
        from_json(&format!("{}.{column}", self.table), &raw)
    }

    /// A `#[serde(transparent)]` string newtype (`Email`, `PersonName`, ...) read back through
    /// serde: the value was validated when it was parsed at the edge, so it is not validated
    /// again here.
    pub(crate) fn value<T: DeserializeOwned>(&self, column: &str) -> StoreResult<T> {
        serde_json::from_value(serde_json::Value::String(self.text(column)?))
            .map_err(|_| self.corrupt(column, "does not hold a valid value"))
    }

    /// Maps an enum's `as_str` form back through its `parse`.
    pub(crate) fn known<T>(
        &self,
        column: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> StoreResult<T> {
        parse(&self.text(column)?).ok_or_else(|| self.corrupt(column, "holds an unknown value"))
    }

    /// A sequence number: `u64` in the domain, signed 64-bit in the database.
    pub(crate) fn sequence(&self, column: &str) -> StoreResult<u64> {
        u64::try_from(self.int(column)?).map_err(|_| self.corrupt(column, "is negative"))
    }
}
