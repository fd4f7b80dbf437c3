//! How long a call waits for PostgreSQL's answer, and what becomes of a connection that got none.
//!
//! A server that crashes, or a network that drops its packets (a failover that moved the
//! server's address, a firewall that forgot the flow), closes no socket: a statement sent on such
//! a connection waits until TCP gives up, about 15 minutes with Linux's defaults, and forever
//! where something in between still acknowledges the packets. sqlx has no socket timeout, so:
//!
//! - every statement, `BEGIN` and `COMMIT` waits for its answer at most the session's
//!   `statement_timeout` (`session`) and [`GRACE`] more, so the server's own cancellation,
//!   which leaves the connection usable, comes first whenever the server is there; past that
//!   the call fails with `Unavailable`, which callers retry (a `COMMIT` without an answer may
//!   have committed: a retried step finds its idempotent answer, a redelivered event is a
//!   duplicate);
//! - the connection is given up instead of going back to the pool: sqlx checks a returned
//!   connection with a round trip that would wait just as long and hold a place of the pool
//!   meanwhile. After a call went unanswered, a returned connection is checked here first, at
//!   most [`CHECK_PATIENCE`], and closed if it does not answer, until no call has gone
//!   unanswered for [`SUSPICION`]: other connections to the same server are likely gone too,
//!   and a check costs a round trip, which a healthy pool is spared.
//!
//! The deadline is the process's (the longest any store asked for): a process opens one
//! PostgreSQL store; tests that open several see the most patient one's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Beyond the session's `statement_timeout`, for the cancellation to arrive.
const GRACE: Duration = Duration::from_secs(5);
/// How long a returned connection has to answer the check after a call went unanswered.
pub(super) const CHECK_PATIENCE: Duration = Duration::from_secs(2);
/// How long after the last unanswered call returned connections are still checked.
const SUSPICION: Duration = Duration::from_secs(15 * 60);

/// The deadline in milliseconds; 0 while none was asked for, `u64::MAX` for none at all.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(0);
/// When a call last went unanswered, in milliseconds since [`epoch`] plus one (0: never).
static LAST_MISS_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A store whose sessions have `statement_timeout` (`None`: off) asks for its deadline.
pub(super) fn ask(statement_timeout: Option<Duration>) {
    let wanted = statement_timeout.map_or(u64::MAX, |timeout| millis(timeout + GRACE));
    DEADLINE_MS.fetch_max(wanted, Ordering::Relaxed);
}

/// How long a call waits for an answer; `None`: as long as it takes.
pub(super) fn answer_deadline() -> Option<Duration> {
    match DEADLINE_MS.load(Ordering::Relaxed) {
        0 | u64::MAX => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// A call went unanswered: returned connections are checked from now on.
pub(super) fn missed() {
    LAST_MISS_MS.store(millis(epoch().elapsed()) + 1, Ordering::Relaxed);
}

/// Whether a call went unanswered within [`SUSPICION`].
pub(super) fn suspicious() -> bool {
    match LAST_MISS_MS.load(Ordering::Relaxed) {
        0 => false,
        at => millis(epoch().elapsed()) + 1 - at < millis(SUSPICION),
    }
}
