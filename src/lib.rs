//! Onboard: an event-driven backbone for customer onboarding.
//!
//! Layout: [`domain`] (pure rules) | [`ports`] (traits) | [`adapters`] (one folder each) |
//! [`roles`] (api, consumer, gateway) | [`cli`].

pub mod adapters;
pub mod auth;
pub mod domain;
pub mod ports;
pub mod testing;
