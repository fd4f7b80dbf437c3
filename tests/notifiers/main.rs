//! The notifier's production adapters against real servers started by the tests: an SMTP
//! server (aiosmtpd, in a child process) and an HTTP receiver (axum, in the test).

#[path = "../aws_support/mod.rs"]
mod aws_support;
mod support;

mod concurrency;
mod outage;
mod smtp;
mod sns;
mod up;
mod webhook;
