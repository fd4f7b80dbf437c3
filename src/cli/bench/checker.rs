//! Checks one customer's WebSocket stream: every event arrives exactly once and in order.
//! The gateway numbers a customer's events 1, 2, 3…; the `welcome` frame says the last number
//! stored before the connection, so the next event must carry the one after it.

/// Why a stream is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("event {got} arrived twice (or after a later one)")]
    Duplicate { got: u64 },
    #[error("event {got} arrived while {expected} was due: {} missing or out of order", got - expected)]
    Gap { expected: u64, got: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChecker {
    last: u64,
    received: u64,
}

impl OrderChecker {
    /// A stream whose events up to `last_sequence` came before the connection.
    pub fn after(last_sequence: u64) -> Self {
        Self {
            last: last_sequence,
            received: 0,
        }
    }

    /// Accepts the event numbered `sequence`, or says why it breaks once-and-in-order.
    pub fn observe(&mut self, sequence: u64) -> Result<(), Violation> {
        let expected = self.last + 1;
        if sequence < expected {
            return Err(Violation::Duplicate { got: sequence });
        }
        if sequence > expected {
            return Err(Violation::Gap {
                expected,
                got: sequence,
            });
        }
        self.last = sequence;
        self.received += 1;
        Ok(())
    }

    /// Events still missing when `expected` should have arrived.
    pub fn missing(&self, expected: u64) -> u64 {
        expected.saturating_sub(self.received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_events_after_the_welcome_are_accepted() {
        let mut checker = OrderChecker::after(3);
        assert_eq!(checker.observe(4), Ok(()));
        assert_eq!(checker.observe(5), Ok(()));
        assert_eq!(checker.missing(2), 0);
        assert_eq!(checker.missing(5), 3);
    }

    #[test]
    fn a_repeated_or_old_event_is_a_duplicate() {
        let mut checker = OrderChecker::after(0);
        checker.observe(1).unwrap();
        assert_eq!(checker.observe(1), Err(Violation::Duplicate { got: 1 }));
        assert_eq!(
            OrderChecker::after(5).observe(2),
            Err(Violation::Duplicate { got: 2 })
        );
    }

    #[test]
    fn a_skipped_event_is_a_gap_and_is_not_counted() {
        let mut checker = OrderChecker::after(0);
        checker.observe(1).unwrap();
        assert_eq!(
            checker.observe(3),
            Err(Violation::Gap {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(checker.missing(3), 2);
    }
}
