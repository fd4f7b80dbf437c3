//! Several statements sent as one: where the database takes many statements in one call with
//! their parameters (SQLite), a [`Batch`] is one round trip to the connection instead of one
//! per statement; elsewhere (PostgreSQL's extended protocol takes one statement a call) its
//! statements run one after another, as they would have without it.
//!
//! Each statement is written with its own `$1, $2, …`, like any other; the batch renumbers them
//! when it joins the statements, so that every parameter keeps its value. Statements run in
//! order inside the caller's transaction: one that fails fails the batch, and the transaction
//! rolls the earlier ones back with everything else it wrote.
//!
//! Rows of one [`MultiRow`] statement pushed one after another become one statement over a
//! `VALUES` list (a multi-row `INSERT`, or an `UPDATE … FROM (VALUES …)`), in chunks of a power
//! of two rows so that each has a few shapes only: one statement for the database to run
//! instead of one per row, on every database.

use super::query::{sql, Statement};
use super::{Dialect, SqlStore};
use crate::ports::store::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// Most statements joined into one call: the prepared form of each joined text is cached per
/// connection, so a bounded number of shapes keeps that cache small.
pub(crate) const MAX_JOINED: usize = 32;
/// Most rows in one multi-row statement; a power of two.
pub(crate) const MAX_ROWS: usize = 32;

/// A statement over a list of rows that a batch may send together: `head` up to the rows, one
/// `row` with its own `$1, $2, …`, and the `tail` after the rows.
///
/// An `INSERT … VALUES` (the tail: `ON CONFLICT … DO NOTHING`, `RETURNING …`), only where the
/// rows may meet in one statement as they would in consecutive ones: no `ON CONFLICT … DO
/// UPDATE`, which PostgreSQL refuses to apply to one row twice in one statement. `DO NOTHING`
/// skips a row that an earlier row of the same statement inserted, as a later statement would
/// have.
///
/// Or an `UPDATE … FROM (VALUES …) AS v WHERE …` reading the row's values as `v.column1`,
/// `v.column2`, … (the names SQLite and PostgreSQL both give a `VALUES` list's columns). A
/// table row that two rows of one statement match is updated once, with either: the caller
/// sends each key once.
pub(crate) struct MultiRow {
    pub(crate) head: &'static str,
    pub(crate) row: &'static str,
    pub(crate) tail: &'static str,
}

impl MultiRow {
    /// The statement for `rows` rows, each row's parameters after the previous row's.
    fn text(&self, rows: usize) -> String {
        let per_row = parameters(self.row).max().unwrap_or(0);
        let mut text = String::with_capacity(
            self.head.len() + self.tail.len() + rows * (self.row.len() + 8) + 2,
        );
        text.push_str(self.head);
        for i in 0..rows {
            text.push_str(if i == 0 { "\n" } else { ",\n" });
            text.push_str(&renumbered(self.row, i * per_row));
        }
        text.push('\n');
        text.push_str(self.tail);
        text
    }
}

/// What a piece runs: a statement of its own, or one row of a multi-row statement.
#[derive(Clone, Copy)]
enum Shape {
    Statement(&'static str),
    Row(&'static MultiRow),
}

impl Shape {
    /// The text whose `$N` the piece's values are for.
    fn parameterised(self) -> &'static str {
        match self {
            Self::Statement(sql) => sql,
            Self::Row(statement) => statement.row,
        }
    }
}

/// A parameter's value, owned by the batch until it runs.
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Instant(Option<DateTime<Utc>>),
    Uuid(Option<Uuid>),
    Json(Box<RawValue>),
}

/// One statement of a batch and its parameters, in `$N` order.
pub(crate) struct Piece {
    shape: Shape,
    values: Vec<Value>,
    /// The first value that could not be encoded.
    failed: Option<String>,
}

impl Piece {
    fn with(&mut self, value: Value) -> &mut Self {
        self.values.push(value);
        self
    }

    pub(crate) fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.with(Value::Text(Some(value.into())))
    }

    pub(crate) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        self.with(Value::Text(value.map(str::to_owned)))
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.with(Value::Int(Some(value)))
    }

    pub(crate) fn opt_instant(&mut self, at: Option<DateTime<Utc>>) -> &mut Self {
        self.with(Value::Instant(at))
    }

    pub(crate) fn instant(&mut self, at: DateTime<Utc>) -> &mut Self {
        self.opt_instant(Some(at))
    }

    pub(crate) fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.opt_uuid(Some(id))
    }

    pub(crate) fn opt_uuid(&mut self, id: Option<Uuid>) -> &mut Self {
        self.with(Value::Uuid(id))
    }

    /// A JSON document, encoded now.
    pub(crate) fn json<T: Serialize>(&mut self, value: &T) -> &mut Self {
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => self.with(Value::Json(raw)),
            Err(e) => {
                self.failed.get_or_insert(e.to_string());
                self
            }
        }
    }
}

/// Statements to run in order, in as few calls as the dialect allows.
#[derive(Default)]
pub(crate) struct Batch {
    pieces: Vec<Piece>,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a statement; bind its parameters on the answer, in `$N` order.
    pub(crate) fn push(&mut self, sql: &'static str) -> &mut Piece {
        self.add(Shape::Statement(sql))
    }

    /// Adds one row of `statement`; bind the row's parameters on the answer, in `$N` order. Rows
    /// of the same statement pushed one after another are sent as one statement.
    pub(crate) fn push_row(&mut self, statement: &'static MultiRow) -> &mut Piece {
        self.add(Shape::Row(statement))
    }

    fn add(&mut self, shape: Shape) -> &mut Piece {
        self.pieces.push(Piece {
            shape,
            values: Vec::new(),
            failed: None,
        });
        self.pieces.last_mut().expect("just pushed")
    }

    /// Adds `other`'s statements after these.
    pub(crate) fn append(&mut self, other: Batch) {
        self.pieces.extend(other.pieces);
    }

    /// Runs every statement; returns how many rows they changed together.
    pub(crate) async fn execute<D: Dialect>(self, conn: &mut D::Connection) -> StoreResult<u64> {
        run_all::<D>(self.calls::<D>()?, conn).await
    }

    /// Runs every statement and returns once they are committed: a batch that makes one
    /// statement runs it as [`Statement::execute_committed`] does (on PostgreSQL alone, since
    /// one statement is atomic by itself: no `BEGIN` and `COMMIT` round trips), a longer one in
    /// a write transaction of its own; an empty batch does nothing.
    pub(crate) async fn execute_committed<D: Dialect>(
        self,
        store: &SqlStore<D>,
    ) -> StoreResult<u64> {
        let mut calls = self.calls::<D>()?;
        if calls.is_empty() {
            return Ok(0);
        }
        if calls.len() == 1 {
            let (text, values) = calls.remove(0);
            return bound::<D>(&text, &values).execute_committed(store).await;
        }
        let mut tx = store.write_tx().await?;
        let changed = run_all::<D>(calls, &mut tx).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Runs every statement; returns the rows they returned (`RETURNING`), in statement order.
    pub(crate) async fn fetch_all<D: Dialect>(
        self,
        conn: &mut D::Connection,
    ) -> StoreResult<Vec<D::Row>> {
        let mut rows = Vec::new();
        for (text, values) in self.calls::<D>()? {
            rows.extend(bound::<D>(&text, &values).fetch_all(conn).await?);
        }
        Ok(rows)
    }

    /// The calls to make: each statement alone, or up to [`MAX_JOINED`] joined into one.
    fn calls<D: Dialect>(self) -> StoreResult<Vec<(String, Vec<Value>)>> {
        for piece in &self.pieces {
            check(piece)?;
        }
        let statements = statements(self.pieces);
        if !D::MANY_STATEMENTS_A_CALL {
            return Ok(statements);
        }
        let mut calls = Vec::new();
        let mut statements = statements.into_iter().peekable();
        while statements.peek().is_some() {
            let mut text = String::new();
            let mut values = Vec::new();
            for (sql, statement_values) in statements.by_ref().take(MAX_JOINED) {
                if !text.is_empty() {
                    text.push_str(";\n");
                }
                text.push_str(&renumbered(&sql, values.len()));
                values.extend(statement_values);
            }
            calls.push((text, values));
        }
        Ok(calls)
    }
}

/// Runs `calls` in order; returns how many rows they changed together.
async fn run_all<D: Dialect>(
    calls: Vec<(String, Vec<Value>)>,
    conn: &mut D::Connection,
) -> StoreResult<u64> {
    let mut changed = 0;
    for (text, values) in calls {
        changed += bound::<D>(&text, &values).execute(conn).await?;
    }
    Ok(changed)
}

/// The statements the pieces make, in order: consecutive rows of one statement together, in
/// chunks of the largest power of two rows up to [`MAX_ROWS`] that is left.
fn statements(pieces: Vec<Piece>) -> Vec<(String, Vec<Value>)> {
    let mut statements = Vec::new();
    let mut pieces = pieces.into_iter().peekable();
    while let Some(piece) = pieces.next() {
        let multi = match piece.shape {
            Shape::Statement(sql) => {
                statements.push((sql.to_owned(), piece.values));
                continue;
            }
            Shape::Row(multi) => multi,
        };
        let mut rows = vec![piece.values];
        while let Some(next) = pieces.next_if(|next| same_statement(next.shape, multi)) {
            rows.push(next.values);
        }
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk = largest_power_of_two_up_to(rows.len().min(MAX_ROWS));
            let values = rows.by_ref().take(chunk).flatten().collect();
            statements.push((multi.text(chunk), values));
        }
    }
    statements
}

fn same_statement(shape: Shape, multi: &'static MultiRow) -> bool {
    matches!(shape, Shape::Row(other) if std::ptr::eq(other, multi))
}

fn largest_power_of_two_up_to(n: usize) -> usize {
    debug_assert!(n > 0);
    1 << n.ilog2()
}

/// A piece is well formed: every value encoded, and as many values as its highest `$N`.
fn check(piece: &Piece) -> StoreResult<()> {
    if let Some(e) = &piece.failed {
        return Err(StoreError::Other(format!("cannot encode a parameter: {e}")));
    }
    let sql = piece.shape.parameterised();
    let highest = parameters(sql).max().unwrap_or(0);
    if highest != piece.values.len() {
        return Err(StoreError::Other(format!(
            "a batched statement uses ${highest} but has {} values: {sql}",
            piece.values.len(),
        )));
    }
    Ok(())
}

fn bound<'q, D: Dialect>(text: &'q str, values: &'q [Value]) -> Statement<'q, D> {
    let mut statement = sql::<D>(text);
    for value in values {
        statement = match value {
            Value::Text(text) => statement.opt_text(text.as_deref()),
            Value::Int(int) => statement.opt_int(*int),
            Value::Instant(at) => statement.opt_instant(*at),
            Value::Uuid(id) => statement.opt_uuid(*id),
            Value::Json(raw) => statement.json(raw),
        };
    }
    statement
}

/// Where `$N` parameters are in `sql` (outside quoted text): the byte range of `N`, and `N`.
fn parameter_spans(sql: &str) -> impl Iterator<Item = (std::ops::Range<usize>, usize)> + '_ {
    let bytes = sql.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'\'' || b == b'"' => quote = Some(b),
                None if b == b'$' => {
                    let start = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    if let Ok(n) = sql[start..i].parse() {
                        return Some((start..i, n));
                    }
                }
                None => {}
            }
        }
        None
    })
}

fn parameters(sql: &str) -> impl Iterator<Item = usize> + '_ {
    parameter_spans(sql).map(|(_, n)| n)
}

/// `sql` with every `$N` made `$(N + offset)`.
fn renumbered(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut copied = 0;
    for (span, n) in parameter_spans(sql) {
        out.push_str(&sql[copied..span.start]);
        out.push_str(&(n + offset).to_string());
        copied = span.end;
    }
    out.push_str(&sql[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_after_the_values_before_them() {
        assert_eq!(
            renumbered("UPDATE t SET a = $1, b = $2 WHERE id = $1", 3),
            "UPDATE t SET a = $4, b = $5 WHERE id = $4"
        );
        assert_eq!(renumbered("SELECT $9, $10", 0), "SELECT $9, $10");
        assert_eq!(renumbered("SELECT $9, $10", 91), "SELECT $100, $101");
    }

    #[test]
    fn dollars_inside_quoted_text_are_left_alone() {
        assert_eq!(
            renumbered("SELECT '$1 it''s $2', \"$3\", $1", 5),
            "SELECT '$1 it''s $2', \"$3\", $6"
        );
        assert_eq!(parameters("SELECT '$7'").count(), 0);
    }

    static PAIRS: MultiRow = MultiRow {
        head: "INSERT INTO t (a, b) VALUES",
        row: "($1, $2)",
        tail: "ON CONFLICT (a) DO NOTHING",
    };

    fn ints(values: &[Value]) -> Vec<i64> {
        values
            .iter()
            .map(|v| match v {
                Value::Int(Some(i)) => *i,
                _ => panic!("an integer"),
            })
            .collect()
    }

    #[test]
    fn consecutive_rows_of_an_insert_go_in_power_of_two_chunks_with_their_own_values() {
        let mut batch = Batch::new();
        for i in 0..45 {
            batch.push_row(&PAIRS).int(i).int(100 + i);
        }
        batch.push("DELETE FROM t WHERE a = $1").int(7);
        batch.push_row(&PAIRS).int(50).int(150);
        let statements = statements(batch.pieces);

        let texts: Vec<&str> = statements.iter().map(|(sql, _)| sql.as_str()).collect();
        let rows: Vec<usize> = texts
            .iter()
            .map(|sql| sql.lines().filter(|line| line.starts_with('(')).count())
            .collect();
        assert_eq!(rows, vec![32, 8, 4, 1, 0, 1], "{texts:#?}");
        assert_eq!(
            statements[3].0,
            "INSERT INTO t (a, b) VALUES\n($1, $2)\nON CONFLICT (a) DO NOTHING"
        );
        assert_eq!(
            statements[1].0.lines().nth(8).expect("the last row"),
            "($15, $16)"
        );
        let values: Vec<i64> = statements
            .iter()
            .take(4)
            .flat_map(|(_, values)| ints(values))
            .collect();
        let sent: Vec<i64> = (0..45).flat_map(|i| [i, 100 + i]).collect();
        assert_eq!(values, sent, "every row's values in order, none lost");
        assert_eq!(statements[4].0, "DELETE FROM t WHERE a = $1");
        assert_eq!(ints(&statements[5].1), vec![50, 150]);
    }

    #[test]
    fn a_piece_needs_one_value_per_parameter() {
        let mut batch = Batch::new();
        batch.push("UPDATE t SET a = $1 WHERE id = $2").int(1);
        let error = check(&batch.pieces[0]).unwrap_err().to_string();
        assert!(error.contains("uses $2 but has 1 values"), "{error}");
        batch.pieces[0].values.push(Value::Int(Some(2)));
        assert!(check(&batch.pieces[0]).is_ok());
    }
}
