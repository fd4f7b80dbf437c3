//! Client-side logic of the `onboard` subcommands (argument parsing lives in `main.rs`).

pub mod watch;
