//! Tests against a local AWS: moto in server mode (`scripts/moto.sh start`, then
//! `eval "$(scripts/moto.sh env)"`), reached through the SDK's own `AWS_ENDPOINT_URL`.

use std::io::Write;

/// Set to `1` (scripts/test.sh does) to make AWS tests fail instead of skipping when no
/// emulator is configured.
pub const REQUIRE_ENV: &str = "ONBOARD_REQUIRE_AWS";

/// The emulator's URL (`AWS_ENDPOINT_URL`), or `None` (after saying so on stderr, uncaptured)
/// when it is not set. Panics when it is not set but [`REQUIRE_ENV`] is `1`: a test must never
/// reach real AWS by accident.
pub fn endpoint_from_env(test: &str) -> Option<String> {
    use crate::config::env::test_switch;
    match test_switch("AWS_ENDPOINT_URL") {
        Some(url) => Some(url),
        None if test_switch(REQUIRE_ENV).is_some_and(|v| v == "1") => panic!(
            "{test}: AWS_ENDPOINT_URL is not set but {REQUIRE_ENV}=1; start moto with \
             `scripts/moto.sh start` and `eval \"$(scripts/moto.sh env)\"`"
        ),
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: AWS_ENDPOINT_URL is not set (scripts/moto.sh start; \
                 eval \"$(scripts/moto.sh env)\")"
            );
            None
        }
    }
}

/// A name nobody else uses in the shared emulator: process id, a counter and a random part.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!(
        "{prefix}-{}-{n}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
