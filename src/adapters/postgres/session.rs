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
//!
//! A setting the `DATABASE_URL` already gives (its `options` parameter, `-c name=value`) is left
//! as given. They travel in the startup packet's `options`, which a PgBouncer in between must
//! be told to ignore (`ignore_startup_parameters = options`; its own keepalive and
//! idle-transaction settings then apply).

use sqlx::postgres::PgConnectOptions;

/// The settings and their values (seconds for the keepalives, milliseconds for the timeout).
const SESSION_SETTINGS: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
    ("idle_in_transaction_session_timeout", "60000"),
];

/// `options` with each of [`SESSION_SETTINGS`] the URL does not set itself.
pub(super) fn with_session_settings(options: PgConnectOptions) -> PgConnectOptions {
    let given = options.get_options().unwrap_or_default().to_owned();
    let missing: Vec<(&str, &str)> = SESSION_SETTINGS
        .into_iter()
        .filter(|(name, _)| !sets(&given, name))
        .collect();
    options.options(missing)
}

/// Whether a startup `options` string (`-c name=value -c …`, or `--name=value`) sets `name`.
fn sets(given: &str, name: &str) -> bool {
    given
        .split_whitespace()
        .filter(|word| *word != "-c")
        .map(|word| word.trim_start_matches("-c").trim_start_matches("--"))
        .filter_map(|word| word.split_once('='))
        .any(|(key, _)| key.replace('-', "_").eq_ignore_ascii_case(name))
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
             -c idle_in_transaction_session_timeout=60000"
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
             -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
        );
    }
}
