-- Notifications carry their event's correlation id, so the delivery's log lines and spans join
-- the request that caused them. Rows queued before this migration take it from their event;
-- stall alerts (no event) keep NULL.
ALTER TABLE notifications ADD COLUMN correlation_id text;
UPDATE notifications n
SET correlation_id = e.envelope ->> 'correlationId'
FROM events e
WHERE e.event_id = n.event_id AND n.correlation_id IS NULL;
