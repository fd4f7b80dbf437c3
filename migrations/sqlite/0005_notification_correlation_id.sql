-- Notifications carry their event's correlation id, so the delivery's log lines and spans join
-- the request that caused them. Rows queued before this migration take it from their event;
-- stall alerts (no event) keep NULL.
ALTER TABLE notifications ADD COLUMN correlation_id TEXT;
UPDATE notifications
SET correlation_id = (SELECT json_extract(e.envelope, '$.correlationId')
                      FROM events e WHERE e.event_id = notifications.event_id)
WHERE correlation_id IS NULL;
