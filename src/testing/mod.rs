//! Behaviour suites shared by every adapter of a port, so adapters cannot drift (STYLE.md §7).
//!
//! Compiled into the library so integration tests of each adapter (and of later adapters such
//! as Kafka and PostgreSQL) can run the very same cases. Beside them, the helpers every test
//! binary shares: hermetic child processes, the Maildir, a webhook receiver, WebSocket reads, a
//! TCP proxy that can lose its server.

pub mod aws;
pub mod bus_suite;
pub mod env;
pub mod mail;
pub mod ports;
pub mod postgres;
pub mod proxy;
pub mod pushes;
pub mod requests;
pub mod store_suite;
pub mod trace_suite;
pub mod webhook_receiver;
pub mod ws;
