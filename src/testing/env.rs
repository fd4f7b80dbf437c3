//! Child `onboard` processes that see only what their test gives them: none of the developer's
//! (or scripts/test.sh's) `KAFKA_BROKERS`, `DATABASE_URL`, `ONBOARD_*`, `SMTP_*`, `WEBHOOK_*` or `OTEL_*`,
//! so no test runs on a shared cluster's default topics, group or database by accident.

use std::process::Command;

/// Prefixes and names of every variable that configures an `onboard` process.
const SETTINGS: [&str; 6] = [
    "ONBOARD_",
    "KAFKA_",
    "SMTP_",
    "WEBHOOK_",
    "DATABASE_URL",
    "OTEL_",
];

/// Removes every configuring variable from `command`'s inherited environment; call it before
/// setting the variables the test means.
pub fn hermetic(command: &mut Command) -> &mut Command {
    for key in crate::config::env::names_starting_with(&SETTINGS) {
        command.env_remove(key);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hermetic_command_inherits_no_setting_but_keeps_what_it_is_given() {
        // Set in this test process only (the variable names are unique to this test).
        std::env::set_var("KAFKA_BROKERS_HERMETIC_PROBE", "127.0.0.1:1");
        std::env::set_var("HERMETIC_PROBE_OTHER", "kept");
        let mut command = Command::new("env");
        hermetic(&mut command).env("ONBOARD_GIVEN", "yes");
        let out = String::from_utf8(command.output().expect("env runs").stdout).unwrap();
        assert!(!out.contains("KAFKA_BROKERS_HERMETIC_PROBE"), "{out}");
        assert!(out.contains("HERMETIC_PROBE_OTHER=kept"), "{out}");
        assert!(out.contains("ONBOARD_GIVEN=yes"), "{out}");
    }
}
