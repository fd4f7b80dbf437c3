//! Ports: the traits every external dependency is reached through (DESIGN.md §2).

pub mod bus;
pub mod documents;
pub mod notifier;
pub mod operations;
pub mod pusher;
pub mod store;
pub mod trace;
