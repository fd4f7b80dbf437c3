//! Per-connection event order: delivers a customer's events in `sequence` order without
//! duplicates, holding back an event until the ones before it arrived (or a gap timed out).
//! An event whose gap was given up on is still delivered when it arrives, late and once.
//!
//! Kafka orders records only within a partition of one topic, while a customer's events span
//! six topics consumed independently; this buffer restores the customer's order.

use crate::domain::event::Envelope;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The most sequence numbers a connection remembers as skipped (the highest are kept): a
/// customer's gap is a few events in flight, not thousands.
const MAX_SKIPPED: usize = 256;

/// The delivery cursor of one connection.
#[derive(Debug, Default)]
pub struct EventOrder {
    /// Every event with `sequence <= cursor` was delivered (or skipped after a gap timeout).
    cursor: u64,
    /// Events above the cursor, waiting for the ones before them.
    pending: BTreeMap<u64, Arc<Envelope>>,
    /// Sequence numbers at or below the cursor that were skipped after a gap timed out and
    /// have not arrived since.
    skipped: BTreeSet<u64>,
    /// Skipped events that arrived, to be delivered next.
    late: Vec<Arc<Envelope>>,
}

impl EventOrder {
    pub fn starting_after(cursor: u64) -> Self {
        Self {
            cursor,
            ..Self::default()
        }
    }

    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Restarts from `cursor` (a resume, which replays the stored events after it); waiting
    /// events above it are kept, skipped ones are forgotten.
    pub fn reset(&mut self, cursor: u64) {
        self.cursor = cursor;
        self.pending.retain(|seq, _| *seq > cursor);
        self.skipped.clear();
        self.late.clear();
    }

    /// Accepts an event; returns `false` for one already delivered.
    pub fn offer(&mut self, event: Arc<Envelope>) -> bool {
        if event.sequence <= self.cursor {
            if !self.skipped.remove(&event.sequence) {
                return false;
            }
            self.late.push(event);
            return true;
        }
        self.pending.insert(event.sequence, event);
        true
    }

    /// The events now deliverable: skipped ones that arrived late, then the next ones in order
    /// (advancing the cursor past them).
    pub fn ready(&mut self) -> Vec<Arc<Envelope>> {
        let mut out = std::mem::take(&mut self.late);
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

    /// Gives up on the missing sequence numbers: everything waiting is delivered in order, and
    /// the missing ones are remembered, to be delivered if they still arrive.
    pub fn skip_gap(&mut self) -> Vec<Arc<Envelope>> {
        let out: Vec<Arc<Envelope>> = std::mem::take(&mut self.pending).into_values().collect();
        let Some(last) = out.last().map(|event| event.sequence) else {
            return out;
        };
        // The numbers between consecutive waiting events (and below the first, down to the
        // cursor), highest first, at most MAX_SKIPPED of them.
        let floors = out.iter().rev().skip(1).map(|event| event.sequence);
        let gaps = floors.chain([self.cursor]).scan(last, |ceiling, floor| {
            Some((floor + 1..std::mem::replace(ceiling, floor)).rev())
        });
        self.skipped.extend(gaps.flatten().take(MAX_SKIPPED));
        while self.skipped.len() > MAX_SKIPPED {
            self.skipped.pop_first();
        }
        self.cursor = last;
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
    fn a_skipped_event_that_arrives_late_is_delivered_once() {
        let mut order = EventOrder::starting_after(1);
        order.offer(event(4));
        assert_eq!(seqs(order.skip_gap()), vec![4]);
        assert!(order.offer(event(3)), "3 was skipped, not delivered");
        assert_eq!(seqs(order.ready()), vec![3]);
        assert!(!order.offer(event(3)), "a second copy is a duplicate");
        assert!(order.ready().is_empty());
        assert!(!order.offer(event(4)), "4 was delivered");
        assert!(order.offer(event(2)));
        assert!(order.offer(event(5)), "the next one is in order again");
        assert_eq!(seqs(order.ready()), vec![2, 5]);
        assert!(!order.has_gap());
    }

    #[test]
    fn every_number_missing_between_waiting_events_is_remembered() {
        let mut order = EventOrder::starting_after(0);
        order.offer(event(3));
        order.offer(event(6));
        assert_eq!(seqs(order.skip_gap()), vec![3, 6]);
        for late in [5, 1, 4, 2] {
            assert!(order.offer(event(late)), "{late} was skipped");
        }
        assert_eq!(seqs(order.ready()), vec![5, 1, 4, 2]);
        assert!(!order.offer(event(3)), "3 was delivered");
    }

    #[test]
    fn a_resume_forgets_skipped_events_its_replay_covers() {
        let mut order = EventOrder::starting_after(0);
        order.offer(event(3));
        order.skip_gap();
        order.reset(3);
        assert!(!order.offer(event(1)), "the client has everything up to 3");
        assert!(!order.offer(event(2)));
    }

    #[test]
    fn a_huge_gap_remembers_only_the_latest_skipped_numbers() {
        let mut order = EventOrder::starting_after(0);
        order.offer(event(10_000));
        order.skip_gap();
        assert_eq!(order.skipped.len(), MAX_SKIPPED);
        assert!(order.offer(event(9_999)));
        assert!(!order.offer(event(1)));
    }

    #[test]
    fn reset_moves_the_cursor_for_a_resume() {
        let mut order = EventOrder::starting_after(5);
        order.reset(2);
        order.offer(event(3));
        assert_eq!(seqs(order.ready()), vec![3]);
    }
}
