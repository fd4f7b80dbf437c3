//! The operator alerts' budget: every `workflow-errors` event is still recorded, but operators
//! are e-mailed at most a few times a minute; a failure beyond the budget is counted
//! ([`telemetry::OPERATOR_ALERTS`], the operator overview) and the next alert that goes out says
//! how many went without one, so a flood of bad requests becomes one digest line, not a flood
//! of mail.
//!
//! An alert is decided once: a record processed again (a retried transaction, a batch split
//! into single records) gets its first decision back instead of spending the budget again,
//! which used to let a few retries of one failure use up the budget and silence its own alert.

use crate::ports::store::{Notification, NotificationKind};
use crate::telemetry;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Operator alerts e-mailed per minute when the configuration does not say.
pub const DEFAULT_ALERTS_PER_MINUTE: u32 = 3;

/// How many alerts went out and how many were held back, for the operator overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertCounts {
    pub per_minute: u32,
    pub sent: u64,
    pub suppressed: u64,
}

/// One process's alert budget: `per_minute` alerts at once, then one every `60 / per_minute` s.
pub struct AlertBudget {
    limiter: DefaultDirectRateLimiter,
    per_minute: u32,
    sent: AtomicU64,
    suppressed: AtomicU64,
    /// Held back since the last alert that went out.
    pending: AtomicU64,
    decided: Mutex<Decided>,
}

/// Alerts decided lately, by notification id (one per event): the body that went out, or
/// `None` when the alert was held back.
#[derive(Default)]
struct Decided {
    by_id: HashMap<String, Option<String>>,
    order: VecDeque<String>,
}

/// How many decisions are remembered; far more than one consumer's records in flight.
const REMEMBERED_DECISIONS: usize = 4096;

impl Decided {
    fn remember(&mut self, id: &str, body: Option<String>) {
        if self.order.len() >= REMEMBERED_DECISIONS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
        self.order.push_back(id.to_owned());
        self.by_id.insert(id.to_owned(), body);
    }
}

impl AlertBudget {
    pub fn new(per_minute: u32) -> Arc<Self> {
        let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            limiter: RateLimiter::direct(Quota::per_minute(rate)),
            per_minute: rate.get(),
            sent: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            decided: Mutex::new(Decided::default()),
        })
    }

    /// Keeps the operator alerts among `notifications` that fit the budget (adding to the
    /// first one how many went without an alert since the last) and drops the others.
    pub fn admit(&self, notifications: &mut Vec<Notification>) {
        let mut decided = self
            .decided
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        notifications.retain_mut(|notification| {
            if notification.kind != NotificationKind::OperatorAlert {
                return true;
            }
            if let Some(before) = decided.by_id.get(&notification.id) {
                return match before {
                    Some(body) => {
                        notification.body.clone_from(body);
                        true
                    }
                    None => false,
                };
            }
            let admitted = self.decide(notification);
            decided.remember(
                &notification.id,
                admitted.then(|| notification.body.clone()),
            );
            admitted
        });
    }

    /// The first decision on an alert: within the budget (its body then counts the ones held
    /// back before it) or held back.
    fn decide(&self, notification: &mut Notification) -> bool {
        if self.limiter.check().is_err() {
            self.pending.fetch_add(1, Ordering::Relaxed);
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(telemetry::OPERATOR_ALERTS, "outcome" => "suppressed").increment(1);
            return false;
        }
        let held_back = self.pending.swap(0, Ordering::Relaxed);
        if held_back > 0 {
            notification.body.push_str(&format!(
                "\n{held_back} more workflow failure(s) since the previous alert were recorded \
                 on workflow-errors without an alert of their own (at most {} alerts a \
                 minute); see the operator page.\n",
                self.per_minute
            ));
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(telemetry::OPERATOR_ALERTS, "outcome" => "sent").increment(1);
        true
    }

    pub fn counts(&self) -> AlertCounts {
        AlertCounts {
            per_minute: self.per_minute,
            sent: self.sent.load(Ordering::Relaxed),
            suppressed: self.suppressed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn alert(n: usize) -> Notification {
        Notification {
            id: format!("event-{n}.operator-alert"),
            event_id: crate::domain::ids::EventId::new(),
            kind: NotificationKind::OperatorAlert,
            event_type: crate::domain::event::Topic::WorkflowErrors,
            application_id: None,
            correlation_id: None,
            recipient: "ops@example.com".into(),
            subject: "[onboard] failed".into(),
            body: "A workflow step failed.\n".into(),
            created_at: Utc::now(),
            attempts: 0,
        }
    }

    #[test]
    fn a_burst_of_failures_sends_the_budget_and_the_next_alert_counts_the_rest() {
        let budget = AlertBudget::new(3);
        let mut sent = Vec::new();
        for n in 0..40 {
            let mut one = vec![alert(n)];
            budget.admit(&mut one);
            sent.extend(one);
        }
        assert_eq!(sent.len(), 3);
        assert_eq!(
            budget.counts(),
            AlertCounts {
                per_minute: 3,
                sent: 3,
                suppressed: 37
            }
        );
        assert!(sent
            .iter()
            .all(|n| !n.body.contains("more workflow failure")));
    }

    #[test]
    fn an_alert_processed_again_keeps_its_first_decision_and_spends_nothing() {
        let budget = AlertBudget::new(2);
        let admit = |n: usize| {
            let mut one = vec![alert(n)];
            budget.admit(&mut one);
            one.pop()
        };
        // The first failure's record is retried five times (a conflicting transaction): one
        // alert, one unit of the budget.
        let first: Vec<_> = (0..5).map(|_| admit(0)).collect();
        assert!(first.iter().all(Option::is_some));
        // So the second failure still fits; the third does not, however often it is retried.
        assert!(admit(1).is_some());
        assert!((0..3).all(|_| admit(2).is_none()));
        // The fourth goes out once the budget allows, saying one went without an alert, and
        // says so again, identically, when its record is processed again.
        let budget_with_room = AlertBudget::new(60);
        budget_with_room.pending.store(1, Ordering::Relaxed);
        let mut fourth = vec![alert(3)];
        budget_with_room.admit(&mut fourth);
        let mut again = vec![alert(3)];
        budget_with_room.admit(&mut again);
        assert!(fourth[0].body.contains("1 more workflow failure"));
        assert_eq!(again[0].body, fourth[0].body);
        assert_eq!(
            budget.counts(),
            AlertCounts {
                per_minute: 2,
                sent: 2,
                suppressed: 1
            }
        );
    }
}
