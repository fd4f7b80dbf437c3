//! Child `onboard` processes that see only what their test gives them: none of the developer's
//! (or scripts/test.sh's) `KAFKA_BROKERS`, `DATABASE_URL`, `ONBOARD_*`, `SMTP_*`, `WEBHOOK_*` or `OTEL_*`,
//! so no test runs on a shared cluster's default topics, group or database by accident; and
//! the address such a process prints once it listens.

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

/// The base URL (`http://HOST:PORT`) in a line `onboard` prints once it listens: `onboard <role>
/// listening on http://ADDR` from a role, `API  http://ADDR/v1 …` in `onboard up`'s welcome.
pub fn listening_url(line: &str) -> Option<String> {
    let addr = match line.split_once(" listening on http://") {
        Some((_, rest)) => rest.trim(),
        None => line
            .trim()
            .strip_prefix("API")?
            .trim_start()
            .strip_prefix("http://")?,
    };
    let addr = addr.split(['/', ' ']).next()?;
    addr.rsplit_once(':')?.1.parse::<u16>().ok()?;
    Some(format!("http://{addr}"))
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

    #[test]
    fn the_listening_url_is_read_from_a_role_line_and_from_up_s_welcome() {
        assert_eq!(
            listening_url("onboard consumer listening on http://127.0.0.1:40123").as_deref(),
            Some("http://127.0.0.1:40123")
        );
        assert_eq!(
            listening_url("  API          http://127.0.0.1:8080/v1  (OpenAPI: …)").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            listening_url("metrics on http://127.0.0.1:9000/metrics"),
            None
        );
        assert_eq!(listening_url("  API          none"), None);
    }
}
