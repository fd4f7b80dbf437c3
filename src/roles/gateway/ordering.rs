//! Per-connection event order: delivers a customer's events in `sequence` order without
//! duplicates, holding back an event until the ones before it arrived (or a gap timed out).
//!
//! Kafka orders records only within a partition of one topic, while a customer's events span
//! six topics consumed independently; this buffer restores the customer's order.

use crate::domain::event::Envelope;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The delivery cursor of one connection.
#[derive(Debug, Default)]
pub struct EventOrder {
    /// Every event with `sequence <= cursor` was delivered (or skipped after a gap timeout).
    cursor: u64,
    /// Events above the cursor, waiting for the ones before them.
    pending: BTreeMap<u64, Arc<Envelope>>,
}

impl EventOrder {
    pub fn starting_after(cursor: u64) -> Self {
        Self {
            cursor,
            pending: BTreeMap::new(),
        }
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Restarts from `cursor` (a resume); waiting events above it are kept.
    pub fn reset(&mut self, cursor: u64) {
        self.cursor = cursor;
        self.pending.retain(|seq, _| *seq > cursor);
    }

    /// Accepts an event; returns `false` for one already delivered.
    pub fn offer(&mut self, event: Arc<Envelope>) -> bool {
        if event.sequence <= self.cursor {
            return false;
        }
        self.pending.insert(event.sequence, event);
        true
    }

    /// The events now deliverable, in order; advances the cursor past them.
    pub fn ready(&mut self) -> Vec<Arc<Envelope>> {
        let mut out = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.cursor + 1 {
                break;
            }
            self.cursor += 1;
            out.push(entry.remove());
        }
        out
    }

    /// Whether events wait behind a missing sequence number.
    pub fn has_gap(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Gives up on the missing sequence numbers: everything waiting is delivered in order.
    pub fn skip_gap(&mut self) -> Vec<Arc<Envelope>> {
        let out: Vec<Arc<Envelope>> = std::mem::take(&mut self.pending).into_values().collect();
        if let Some(last) = out.last() {
            self.cursor = last.sequence;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{EventDraft, Topic};
    use crate::domain::ids::CustomerId;

    fn event(seq: u64) -> Arc<Envelope> {
        let draft = EventDraft::new(
            Topic::UserInfoSubmitted,
            CustomerId::parse("c").unwrap(),
            None,
            "c",
            serde_json::json!({}),
        );
        Arc::new(draft.into_envelope(seq))
    }

    fn seqs(events: Vec<Arc<Envelope>>) -> Vec<u64> {
        events.iter().map(|e| e.sequence).collect()
    }

    #[test]
    fn events_arriving_out_of_order_are_delivered_in_order() {
        let mut order = EventOrder::starting_after(0);
        assert!(order.offer(event(2)));
        assert!(order.ready().is_empty());
        assert!(order.has_gap());
        assert!(order.offer(event(1)));
        assert_eq!(seqs(order.ready()), vec![1, 2]);
        assert!(!order.has_gap());
    }

    #[test]
    fn duplicates_are_dropped() {
        let mut order = EventOrder::starting_after(0);
        order.offer(event(1));
        assert_eq!(seqs(order.ready()), vec![1]);
        assert!(!order.offer(event(1)));
        assert!(order.ready().is_empty());
    }

    #[test]
    fn a_gap_that_never_fills_can_be_skipped() {
        let mut order = EventOrder::starting_after(3);
        order.offer(event(6));
        order.offer(event(5));
        assert!(order.ready().is_empty());
        assert_eq!(seqs(order.skip_gap()), vec![5, 6]);
        assert_eq!(order.cursor(), 6);
    }

    #[test]
    fn reset_moves_the_cursor_for_a_resume() {
        let mut order = EventOrder::starting_after(5);
        order.reset(2);
        order.offer(event(3));
        assert_eq!(seqs(order.ready()), vec![3]);
    }
}
