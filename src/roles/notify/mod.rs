//! The notify role (the seed's SNS fan-out): decides which e-mails and alerts an event causes,
//! and delivers the stored notifications through the notifier until each one succeeds.
//!
//! Consumers call [`notifications_for`] and write the result in the same transaction as the
//! event (`Store::record_event`), so a notification is never lost and, thanks to its
//! deterministic id, never created twice. The [`NotificationDispatcher`] then delivers them.

mod alerts;
mod dispatcher;
mod messages;
#[cfg(test)]
mod tests;

pub use alerts::{AlertBudget, AlertCounts, DEFAULT_ALERTS_PER_MINUTE};
pub use dispatcher::{
    parked_until, retry_delay, DispatchReport, DispatcherConfig, NotificationDispatcher,
    MAX_RETRY_DELAY,
};
pub use messages::notifications_for;
