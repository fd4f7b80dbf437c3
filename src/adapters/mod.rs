//! Adapters: one folder per external dependency, each implementing a port of [`crate::ports`].

pub mod sqlite;
