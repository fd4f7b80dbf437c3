//! Roles: the long-running parts of the system (api, consumer, gateway, notify).

pub mod notify;
