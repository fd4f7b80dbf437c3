//! One typed configuration for every command: a TOML file (`--config PATH` or
//! `ONBOARD_CONFIG`), then the environment, then flags, validated into the settings a process
//! runs with. `onboard check-config` and every starting role run the same validation.
//!
//! `tree` is the shape (what `onboard.example.toml` documents), `env` the only reader of the
//! process environment, `layers` the layering, `secret` the one secret rule, `validate` the
//! rules and the settings they build, `problems` how problems are named.

pub mod env;
mod layers;
mod problems;
mod secret;
mod tree;
mod validate;

pub use env::Environment;
pub use layers::{load, Flags, Loaded};
pub use problems::{Problem, Problems};
pub use secret::SECRET_KEYS;
pub use tree::*;
pub use validate::Role;

use crate::app::Settings;

impl Loaded {
    /// The settings of a process running as `role`, or every problem (layering and
    /// validation) at once.
    pub fn settings(mut self, role: Role) -> Result<Settings, Problems> {
        self.config.resolve_defaults(role);
        let mut problems = self.problems;
        let settings = self.config.settings(role, &mut problems);
        problems.into_result(settings)
    }

    /// What `build` makes of the configuration (a command that needs only part of it), or
    /// every problem of the layering and of `build`.
    pub fn build<T>(&self, build: impl FnOnce(&Config, &mut Problems) -> T) -> Result<T, Problems> {
        let mut problems = self.problems.clone();
        let value = build(&self.config, &mut problems);
        problems.into_result(value)
    }

    /// The effective configuration for `role` as TOML, every secret masked, and its problems.
    pub fn check(mut self, role: Role) -> (String, Problems) {
        self.config.resolve_defaults(role);
        let mut problems = self.problems;
        self.config.settings(role, &mut problems);
        let text = toml::Value::try_from(&self.config)
            .map(|mut value| {
                drop_empty_tables(&mut value);
                value
            })
            .and_then(|value| toml::to_string(&value))
            .unwrap_or_else(|error| format!("# cannot show the configuration: {error}\n"));
        (text, problems)
    }
}

/// Sections with nothing set (`[notifier.smtp]` with the Maildir) say nothing: leave them out.
fn drop_empty_tables(value: &mut toml::Value) {
    if let toml::Value::Table(table) = value {
        table.iter_mut().for_each(|(_, v)| drop_empty_tables(v));
        table.retain(|_, v| !matches!(v, toml::Value::Table(t) if t.is_empty()));
    }
}

#[cfg(test)]
mod tests;
