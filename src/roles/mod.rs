//! Roles: the parts of Onboard that run (API, relay, consumers, gateway, notifier, operations).

pub mod api;
pub mod client_config;
pub mod consumer;
pub mod dead_letters;
pub mod gateway;
pub mod lambda;
pub mod lifecycle;
pub mod notify;
pub mod operator_api;
pub mod ops;
pub mod relay;
pub mod stalls;
pub mod supervisor;
pub mod trace;
pub mod web;
