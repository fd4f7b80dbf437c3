//! Adapters: one folder per external dependency, each implementing a port of [`crate::ports`].

pub mod apigateway_pusher;
pub mod aws_sdk;
pub mod durable_dir;
pub mod dynamodb;
pub mod email;
pub mod embedded_bus;
pub mod fs_documents;
pub mod http_pusher;
pub mod kafka;
pub mod maildir;
pub mod postgres;
pub mod s3_documents;
pub mod secret;
pub mod smtp;
pub mod sns;
/// Not an external dependency: the store that `sqlite` and `postgres` share, over a dialect.
pub mod sql;
pub mod sqlite;
pub mod webhook;
