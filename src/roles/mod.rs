//! Roles: the parts of Onboard that run (API, relay, consumers, gateway, notifier, operations).

pub mod api;
pub mod client_config;
pub mod consumer;
pub mod gateway;
pub mod lambda;
pub mod notify;
pub mod ops;
pub mod relay;
pub mod supervisor;
pub mod trace;
pub mod web;
