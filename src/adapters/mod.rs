//! Adapters: one folder per external dependency, each implementing a port of [`crate::ports`].

pub mod email;
pub mod embedded_bus;
pub mod maildir;
pub mod secret;
pub mod smtp;
pub mod sqlite;
pub mod webhook;
