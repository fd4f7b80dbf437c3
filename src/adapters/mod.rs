//! Adapters: one folder per external dependency, each implementing a port of [`crate::ports`].

pub mod embedded_bus;
pub mod http_pusher;
pub mod kafka;
pub mod maildir;
pub mod postgres;
mod sql_store;
pub mod sqlite;
