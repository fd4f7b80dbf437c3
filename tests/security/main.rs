//! The edge against abuse (issue 9's hygiene findings), each reproduced from outside: the real
//! application on port 0, or the real binary, spoken to over HTTP and WebSocket like an
//! attacker would.

#[allow(dead_code)]
#[path = "../e2e/support.rs"]
mod support;

mod binary;
mod child;

mod dev_token;
mod file_modes;
mod headers_and_logs;
mod mass_disconnect;
mod metrics_access;
mod openapi_limits;
mod operator_alerts;
mod problems;
mod rate_limit;
mod request_and_idle_timeouts;
mod timeouts_and_tokens;
mod uploads;
mod websocket_caps;
