//! Test databases on a real PostgreSQL server: each test gets a database of its own, created
//! through the `DATABASE_URL` role (which needs `CREATEDB`; `scripts/postgres.sh` grants it).

use crate::adapters::postgres::DatabaseUrl;
use sqlx::{ConnectOptions, Connection, Executor};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Set to `1` (scripts/test.sh does) to make PostgreSQL tests fail instead of skipping when
/// `DATABASE_URL` is missing.
pub const REQUIRE_ENV: &str = "ONBOARD_REQUIRE_POSTGRES";

/// The server to test against: `DATABASE_URL`, or `None` (after saying so on stderr, uncaptured) when it is
/// not set. Panics when it is not set but [`REQUIRE_ENV`] is `1`, or when it does not parse.
pub fn server_from_env(test: &str) -> Option<DatabaseUrl> {
    use crate::config::env::test_switch;
    match test_switch("DATABASE_URL") {
        Some(raw) => Some(DatabaseUrl::parse(&raw).unwrap_or_else(|e| panic!("{e}"))),
        None if test_switch(REQUIRE_ENV).is_some_and(|v| v == "1") => panic!(
            "{test}: DATABASE_URL is not set but {REQUIRE_ENV}=1; start a server with \
             `scripts/postgres.sh start` and `eval \"$(scripts/postgres.sh env)\"`"
        ),
        None => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: DATABASE_URL is not set (scripts/postgres.sh start; \
                 eval \"$(scripts/postgres.sh env)\")"
            );
            None
        }
    }
}

/// A database name nobody else uses: process id, a counter and a random part.
pub fn unique_database_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{prefix}_{}_{n}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Creates database `name` (letters, digits and `_` only) on `server` unless it exists, and
/// returns the URL of it with the same credentials.
pub async fn create_database(server: &DatabaseUrl, name: &str) -> DatabaseUrl {
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "a plain database name"
    );
    let mut admin = server
        .connect_options()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .expect("look the database up");
    if !exists {
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    }
    let _ = admin.close().await;
    database_url(server, name)
}

/// `server`'s URL with its database (the last path segment) replaced by `name`.
pub fn database_url(server: &DatabaseUrl, name: &str) -> DatabaseUrl {
    let raw = server.expose_secret();
    let (base, query) = raw
        .split_once('?')
        .map_or((raw, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    DatabaseUrl::parse(&url).expect("a database URL")
}

/// `url` reaching its server through `proxy` instead (`host:port` replaced).
pub fn through(url: &DatabaseUrl, proxy: std::net::SocketAddr) -> DatabaseUrl {
    let raw = url.expose_secret();
    DatabaseUrl::parse(&raw.replacen(&url.server(), &proxy.to_string(), 1)).expect("a database URL")
}

/// `url` asking the server for session setting `name` = `value` (`options=-c name=value`).
pub fn with_session_setting(url: &DatabaseUrl, name: &str, value: &str) -> DatabaseUrl {
    let raw = url.expose_secret();
    let separator = if raw.contains('?') { '&' } else { '?' };
    DatabaseUrl::parse(&format!("{raw}{separator}options=-c%20{name}%3D{value}"))
        .expect("a database URL")
}
