//! What the shared SQL store needs from a database: the sqlx capabilities its queries use
//! ([`Driver`], there for every sqlx driver that has them) and what truly differs between the
//! databases ([`Dialect`], one impl per adapter).

use super::SqlStore;
use crate::ports::store::{OutboxRecord, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use sqlx::error::BoxDynError;
use sqlx::{Arguments, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::borrow::Cow;
use std::time::Duration;
use uuid::Uuid;

/// The outcome of binding one parameter; a failure is reported when the statement runs.
pub type BindResult = Result<(), BoxDynError>;

/// Why a column could not be read.
#[derive(Debug)]
pub enum ColumnError {
    /// The driver could not decode the column (classified by [`Dialect::classify`]).
    Driver(sqlx::Error),
    /// The stored text is not a value of the column's kind; says what is wrong, never the value.
    Invalid(&'static str),
}

impl From<sqlx::Error> for ColumnError {
    fn from(error: sqlx::Error) -> Self {
        Self::Driver(error)
    }
}

/// The sqlx operations the shared queries use, as functions of the database type.
///
/// Rust lets generic code rely on a trait's supertraits but not on its `where` clauses, so the
/// driver bounds (executors, encodable text and integers, row indexing by name) are stated once,
/// on the blanket impl below, and every shared query only needs `D: Dialect`.
pub trait Driver: Database {
    fn bind_text<'q>(args: &mut Self::Arguments<'q>, value: Option<Cow<'q, str>>) -> BindResult;
    fn bind_int<'q>(args: &mut Self::Arguments<'q>, value: Option<i64>) -> BindResult;

    fn read_text(row: &Self::Row, column: &str) -> sqlx::Result<Option<String>>;
    fn read_int(row: &Self::Row, column: &str) -> sqlx::Result<Option<i64>>;

    fn fetch_all<'c, 'q: 'c>(
        conn: &'c mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'c, sqlx::Result<Vec<Self::Row>>>;
    fn execute<'c, 'q: 'c>(
        conn: &'c mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'c, sqlx::Result<Self::QueryResult>>;
}

impl<DB> Driver for DB
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> Option<Cow<'q, str>>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> i64: Decode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    fn bind_text<'q>(args: &mut Self::Arguments<'q>, value: Option<Cow<'q, str>>) -> BindResult {
        args.add(value)
    }

    fn bind_int<'q>(args: &mut Self::Arguments<'q>, value: Option<i64>) -> BindResult {
        args.add(value)
    }

    fn read_text(row: &Self::Row, column: &str) -> sqlx::Result<Option<String>> {
        row.try_get(column)
    }

    fn read_int(row: &Self::Row, column: &str) -> sqlx::Result<Option<i64>> {
        row.try_get(column)
    }

    fn fetch_all<'c, 'q: 'c>(
        conn: &'c mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'c, sqlx::Result<Vec<Self::Row>>> {
        conn.fetch_all(sqlx::query_with(sql, args))
    }

    fn execute<'c, 'q: 'c>(
        conn: &'c mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'c, sqlx::Result<Self::QueryResult>> {
        conn.execute(sqlx::query_with(sql, args))
    }
}

/// How a database keeps concurrent writers apart; the shared statements take their locking
/// clauses from it.
pub enum Locking {
    /// One writer at a time for the whole database (SQLite): a write transaction takes the
    /// lock when it begins (`BEGIN IMMEDIATE`), so a concurrent writer waits there instead of
    /// failing later, and no statement needs a row lock.
    Database,
    /// Row locks (PostgreSQL, READ COMMITTED): a step locks the application it changes
    /// (`FOR UPDATE`), and dispatchers claiming notifications at once pass over each other's
    /// rows instead of waiting for them (`SKIP LOCKED`).
    Rows,
}

impl Locking {
    /// The statement that opens a write transaction.
    pub(crate) fn begin(&self) -> &'static str {
        match self {
            Self::Database => "BEGIN IMMEDIATE",
            Self::Rows => "BEGIN",
        }
    }

    /// Ends the `SELECT` of a row the transaction is about to change.
    pub(crate) fn lock_row(&self) -> &'static str {
        match self {
            Self::Database => "",
            Self::Rows => " FOR UPDATE",
        }
    }

    /// Ends a subquery that picks rows to claim.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self {
            Self::Database => "",
            Self::Rows => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// What differs between the SQL databases the store runs on. Everything else (every query, every
/// row mapping) is written once in this folder, with `$1, $2, …` parameters numbered in order of
/// first use, which both sqlx-sqlite and sqlx-postgres bind by number.
#[async_trait]
pub trait Dialect: Driver + Sync {
    /// The adapter's name for logs and `/readyz` (`StoreBase::name`).
    const ADAPTER: &'static str;
    /// How the database keeps concurrent writers apart.
    const LOCKING: Locking;
    /// Whether one call may hold several statements with their parameters (`$N` numbered
    /// across all of them), so that a [`super::batch::Batch`] is one round trip.
    const MANY_STATEMENTS_A_CALL: bool;
    /// What a store keeps besides its pools (PostgreSQL: the outbox relay lease).
    type Extra: Default + Send + Sync;

    // Instants, calendar dates, UUIDs and JSON are typed columns in one database and text in
    // another.
    fn bind_instant<'q>(args: &mut Self::Arguments<'q>, at: Option<DateTime<Utc>>) -> BindResult;
    fn bind_date<'q>(args: &mut Self::Arguments<'q>, day: NaiveDate) -> BindResult;
    fn bind_uuid<'q>(args: &mut Self::Arguments<'q>, id: Option<Uuid>) -> BindResult;
    /// A JSON document (envelope, reasons), encoded by serde.
    fn bind_json<'q, T: Serialize + Sync>(
        args: &mut Self::Arguments<'q>,
        value: &'q T,
    ) -> BindResult;
    fn read_instant(row: &Self::Row, column: &str) -> Result<Option<DateTime<Utc>>, ColumnError>;
    fn read_date(row: &Self::Row, column: &str) -> Result<Option<NaiveDate>, ColumnError>;
    fn read_uuid(row: &Self::Row, column: &str) -> Result<Option<Uuid>, ColumnError>;
    /// A JSON document's text, for the caller to decode (so a failure never quotes it).
    fn read_json(row: &Self::Row, column: &str) -> Result<Option<String>, ColumnError>;

    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// Maps a failure onto the port's kinds: a unique violation is `Conflict` naming the rule
    /// (never the value), an unreachable or busy database `Unavailable`, undecodable data
    /// `Corrupt`, anything else `Other`.
    fn classify(error: sqlx::Error) -> StoreError;

    /// How long a call waits for the database's answer before it fails with `Unavailable`
    /// ([`super::query::answered`]); `None`: as long as it takes (a database in this process).
    fn answer_deadline() -> Option<Duration> {
        None
    }

    /// A call got no answer within [`Dialect::answer_deadline`].
    fn answer_missed() {}

    /// Unsent outbox rows in `seq` order, for the relay.
    async fn outbox_pending(store: &SqlStore<Self>, limit: i64) -> StoreResult<Vec<OutboxRecord>> {
        let mut conn = store.read_conn().await?;
        super::outbox::pending::<Self>(&mut conn, limit).await
    }

    /// Marks rows published; how a list of sequence numbers is passed differs per database.
    async fn outbox_mark_sent(store: &SqlStore<Self>, seqs: &[i64]) -> StoreResult<()>;

    /// Gives up what [`Dialect::Extra`] holds, before the pools close.
    async fn release(store: &SqlStore<Self>) {
        let _ = store;
    }
}
