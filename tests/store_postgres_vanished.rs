//! A PostgreSQL server that vanishes from under open connections (a crash, a failover that moved
//! its address) closes no socket, and a network in between may go on acknowledging what the
//! store sends. The store must give such a connection up once the session's statement timeout
//! and its grace have passed, instead of waiting for TCP, and serve again from new connections
//! (`src/adapters/postgres/deadline.rs`). A test binary of its own: the answer deadline is the
//! process's, and this case asks for a short one (`DATABASE_URL`, skipped without it as in
//! tests/store_postgres.rs).

use onboard::adapters::postgres::PostgresStore;
use onboard::ports::store::{StepStore, StoreBase};
use onboard::testing::postgres::{
    create_database, server_from_env, through, unique_database_name, with_session_setting,
};
use onboard::testing::proxy::TcpProxy;
use onboard::testing::store_suite;
use std::time::Duration;

/// Far beyond the deadline this case asks for (1 s and the 5 s grace), far below TCP's ~15 min.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_to_a_vanished_server_fails_in_time_and_a_new_connection_serves() {
    let Some(server) = server_from_env("vanished server") else {
        return;
    };
    let url = create_database(&server, &unique_database_name("onboard_vanished")).await;
    let proxy = TcpProxy::start("127.0.0.1:0".parse().unwrap(), url.server()).await;
    let via_proxy = with_session_setting(&through(&url, proxy.addr()), "statement_timeout", "1000");
    // One connection: the call after the loss can only be served if the lost one gave its
    // place in the pool back.
    let store = PostgresStore::open(&via_proxy, 1).await.expect("open");
    let (customer, _) = store_suite::seed_customer(&*store, "c-1", "ada@example.com").await;

    // A step's transaction has its connection; then the server vanishes under it.
    let mut step = store.begin().await.expect("begin");
    proxy.black_hole();
    let stalled = tokio::time::timeout(PATIENCE, step.customer(&customer.customer_id))
        .await
        .expect("the statement gives up instead of waiting for TCP");
    let err = stalled.expect_err("no answer can come from a vanished server");
    assert!(err.is_transient(), "callers retry it: {err:?}");
    drop(step);

    let served = tokio::time::timeout(PATIENCE, store.customer(&customer.customer_id))
        .await
        .expect("the pool's only place is free again");
    assert_eq!(served.expect("a new connection reads"), Some(customer));
    store.ping().await.expect("reachable");
    proxy.stop().await;
}
