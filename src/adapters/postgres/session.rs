//! What every Onboard session asks of the PostgreSQL server at connect time, so that a client
//! that vanished stops holding what it held.
//!
//! A process that exits closes its sockets, and the server ends its sessions at once. A host
//! that crashes or drops off the network closes nothing: the server keeps the session, its
//! open transaction's row locks and, for the active relay, the advisory lock of the relay lease,
//! until its TCP keepalive gives up, after more than two hours with Linux's defaults. Meanwhile
//! that customer's steps wait on the locks and no other relay can take the lease, so nothing is
//! published. Two settings bound that:
//! - TCP keepalives from the server after 10 s of silence, every 5 s, 3 unanswered probes: a
//!   vanished client's session ends within about 25 s (Unix-socket sessions ignore them);
//! - `idle_in_transaction_session_timeout` of 60 s: a session whose client is there but stopped
//!   in the middle of a transaction (frozen, or a bug) loses it, and with it its locks. No
//!   Onboard transaction waits for anything but its own statements.
//! - `statement_timeout` of 30 s: a statement of Onboard's that runs that long is waiting for a
//!   lock or for a server in trouble, and is cancelled with an error the caller retries. The client waits that long and a grace more for any answer ([`super::deadline`]):
//!   a server that vanished from under an open connection is noticed then, not after TCP gave
//!   up. Migrations run without it.
//!
//! A setting the `DATABASE_URL` already gives (its `options` parameter, `-c name=value`) is left
//! as given. They travel in the startup packet's `options`, which a PgBouncer in between must
//! be told to ignore (`ignore_startup_parameters = options`; its own keepalive and
//! idle-transaction settings then apply).

use sqlx::postgres::PgConnectOptions;
use std::time::Duration;

/// The settings and their values (seconds for the keepalives, milliseconds for the timeouts).
const SESSION_SETTINGS: [(&str, &str); 5] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
    ("idle_in_transaction_session_timeout", "60000"),
    (STATEMENT_TIMEOUT, "30000"),
];

const STATEMENT_TIMEOUT: &str = "statement_timeout";

/// `options` with each of [`SESSION_SETTINGS`] the URL does not set itself.
pub(super) fn with_session_settings(options: PgConnectOptions) -> PgConnectOptions {
    let given = options.get_options().unwrap_or_default().to_owned();
    let missing: Vec<(&str, &str)> = SESSION_SETTINGS
        .into_iter()
        .filter(|(name, _)| !sets(&given, name))
        .collect();
    options.options(missing)
}

/// The `statement_timeout` sessions opened with `options` have: `None` when it is off (0). A
/// value whose unit PostgreSQL knows but this does not read counts as off, so the client never
/// gives up on a statement the server still runs.
pub(super) fn statement_timeout(options: &PgConnectOptions) -> Option<Duration> {
    let given = options.get_options().unwrap_or_default();
    let value = setting(given, STATEMENT_TIMEOUT)?;
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let amount: u64 = digits.trim().parse().ok()?;
    let millis = match value[digits.len()..].trim() {
        "" | "ms" => amount,
        "s" => amount.checked_mul(1_000)?,
        "min" => amount.checked_mul(60_000)?,
        "h" => amount.checked_mul(3_600_000)?,
        "d" => amount.checked_mul(86_400_000)?,
        _ => return None,
    };
    (millis > 0).then(|| Duration::from_millis(millis))
}

/// Whether a startup `options` string (`-c name=value -c …`, or `--name=value`) sets `name`.
fn sets(given: &str, name: &str) -> bool {
    setting(given, name).is_some()
}

/// The value a startup `options` string gives `name` (the last one, as the server reads them).
fn setting<'a>(given: &'a str, name: &str) -> Option<&'a str> {
    given
        .split_whitespace()
        .filter(|word| *word != "-c")
        .map(|word| word.trim_start_matches("-c").trim_start_matches("--"))
        .filter_map(|word| word.split_once('='))
        .rev()
        .find(|(key, _)| key.replace('-', "_").eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn options_of(url: &str) -> String {
        let options = PgConnectOptions::from_str(url).unwrap();
        with_session_settings(options)
            .get_options()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn every_setting_is_added_to_a_url_without_options() {
        assert_eq!(
            options_of("postgres://u:p@db/onboard"),
            "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 \
             -c idle_in_transaction_session_timeout=60000 -c statement_timeout=30000"
        );
    }

    #[test]
    fn a_setting_the_url_gives_is_kept_and_the_others_are_added() {
        let options = options_of(
            "postgres://u:p@db/onboard?options=-c%20idle_in_transaction_session_timeout%3D500%20--tcp-keepalives-idle%3D30",
        );
        assert_eq!(
            options,
            "-c idle_in_transaction_session_timeout=500 --tcp-keepalives-idle=30 \
             -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 -c statement_timeout=30000"
        );
    }

    fn timeout_of(url: &str) -> Option<Duration> {
        statement_timeout(&with_session_settings(
            PgConnectOptions::from_str(url).unwrap(),
        ))
    }

    #[test]
    fn the_statement_timeout_is_the_default_or_the_urls_own_in_its_unit() {
        let url = "postgres://u:p@db/onboard";
        assert_eq!(timeout_of(url), Some(Duration::from_secs(30)));
        let with = |options: &str| timeout_of(&format!("{url}?options={options}"));
        assert_eq!(
            with("-c%20statement_timeout%3D1500"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            with("--statement-timeout%3D2min"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(with("-c%20statement_timeout%3D0"), None, "0 turns it off");
        assert_eq!(
            with("-c%20statement_timeout%3D3us"),
            None,
            "a unit not read here"
        );
    }
}
