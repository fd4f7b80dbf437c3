//! Behaviour suites shared by every adapter of a port, so adapters cannot drift (STYLE.md §7).
//!
//! Compiled into the library so integration tests of each adapter (and of later adapters such
//! as Kafka and PostgreSQL) can run the very same cases.

pub mod bus_suite;
pub mod postgres;
pub mod store_suite;
