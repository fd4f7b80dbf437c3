//! Onboard: an event-driven backbone for customer onboarding.
//!
//! Layout: [`domain`] (pure rules) | [`ports`] (traits) | [`adapters`] (one folder each) |
//! [`roles`] (api, consumer, gateway) | [`config`] (file, environment, flags) | [`cli`] |
//! [`app`] (the roles of one process).

// Handlers return `Result<_, Problem>`; a problem is built only on the error path, so its size
// costs nothing on the hot path and boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod adapters;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod otlp;
pub mod ports;
pub mod roles;
pub mod telemetry;
pub mod testing;
pub mod wiring;
