//! End-to-end tests: the real application on port 0, spoken to over real HTTP and WebSocket.
//! One test binary (STYLE.md, zero-to-production) whose `spawn_app` gives each test its own
//! data directory and port.

mod support;

mod auth_and_isolation;
mod closing;
mod invalid_input;
mod promises;
mod restart;
mod watch_cli;
mod websocket;
mod workflow;
