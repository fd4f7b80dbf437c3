-- The dispatcher claims due notifications in next-attempt order (a new notification's next
-- attempt is its creation). Ordering the due index the same way, with the id as tie-breaker,
-- lets a claim read its batch off the front of the index: before, it read every due row and
-- sorted them, so under a backlog each claim of 100 cost as much as the backlog was long,
-- while holding the write lock.
DROP INDEX notifications_due;
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE delivered_at IS NULL;
