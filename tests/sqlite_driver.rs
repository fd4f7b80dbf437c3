//! What the embedded store relies on from its SQLite driver, patched so that statements which
//! cannot wait run on the calling task's thread (`vendor/README.md`): commands keep the order
//! they were given in, a failed or cut-short statement leaves the connection usable, and the
//! rows come back as the connection's own thread would have sent them.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, SqliteConnection};

async fn connection(dir: &tempfile::TempDir) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("t.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("CREATE TABLE t (name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn count(conn: &mut SqliteConnection) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM t")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_is_rolled_back_before_the_next_statement_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = connection(&dir).await;
    for round in 0..200 {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t (name, n) VALUES ($1, $2)")
            .bind(format!("dropped-{round}"))
            .bind(round)
            .execute(&mut *tx)
            .await
            .unwrap();
        // Dropping it only sends the ROLLBACK to the connection's thread; the next statement
        // must not run before it, inside the abandoned transaction.
        drop(tx);
        assert_eq!(count(&mut conn).await, 0, "round {round}");
    }
    assert!(
        conn.begin().await.is_ok(),
        "no transaction was left open on the connection"
    );
}

#[tokio::test]
async fn a_statement_that_fails_inside_a_transaction_leaves_the_transaction_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = connection(&dir).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut conn)
        .await
        .unwrap();
    let insert = "INSERT INTO t (name, n) VALUES ($1, $2)";
    sqlx::query(insert)
        .bind("a")
        .bind(1)
        .execute(&mut conn)
        .await
        .unwrap();
    let duplicate = sqlx::query(insert)
        .bind("a")
        .bind(2)
        .execute(&mut conn)
        .await
        .expect_err("the primary key holds");
    assert!(
        duplicate.to_string().contains("UNIQUE"),
        "the driver's error comes back: {duplicate}"
    );
    sqlx::query(insert)
        .bind("b")
        .bind(3)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    let stored: Vec<(String, i64)> = sqlx::query_as("SELECT name, n FROM t ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored, [("a".to_owned(), 1), ("b".to_owned(), 3)]);
}

#[tokio::test]
async fn a_read_stopped_at_its_first_row_lets_go_of_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = connection(&dir).await;
    for (name, n) in [("a", 1), ("b", 2), ("c", 3)] {
        sqlx::query("INSERT INTO t (name, n) VALUES ($1, $2)")
            .bind(name)
            .bind(n)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let first: Option<(String,)> = sqlx::query_as("SELECT name FROM t ORDER BY name")
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    assert_eq!(first, Some(("a".to_owned(),)));
    let all: Vec<(String,)> = sqlx::query_as("SELECT name FROM t ORDER BY name")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "every row of a full read");
    // A statement left stepping would hold the table: SQLite refuses to drop it then.
    sqlx::query("DROP TABLE t")
        .execute(&mut conn)
        .await
        .expect("the first read was reset");
}

#[tokio::test]
async fn a_transaction_committed_on_one_connection_is_seen_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = connection(&dir).await;
    let mut reader = SqliteConnection::connect_with(
        &SqliteConnectOptions::new().filename(dir.path().join("t.db")),
    )
    .await
    .unwrap();
    sqlx::query("BEGIN IMMEDIATE; INSERT INTO t (name, n) VALUES ('a', 1)")
        .execute(&mut writer)
        .await
        .unwrap();
    assert_eq!(count(&mut reader).await, 0, "not committed yet");
    sqlx::query("INSERT INTO t (name, n) VALUES ('b', 2); COMMIT")
        .execute(&mut writer)
        .await
        .unwrap();
    assert_eq!(count(&mut reader).await, 2);
}
