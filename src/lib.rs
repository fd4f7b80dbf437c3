//! Onboard: an event-driven backbone for customer onboarding.
//!
//! Layout: [`domain`] (pure rules) | [`ports`] (traits) | [`adapters`] (one folder each) |
//! [`roles`] (api, consumer, gateway) | [`cli`] | [`app`] (all roles in one process).

pub mod adapters;
pub mod app;
pub mod auth;
pub mod cli;
pub mod domain;
pub mod ports;
pub mod roles;
pub mod testing;
