-- Notifications carry the type and application of the event that caused them, so a notifier can
-- label its messages (the SNS `event_type` and `application_id` attributes) without reading the
-- event. Rows written before this migration take them from their event, stored in the same
-- transaction as the notification.
ALTER TABLE notifications ADD COLUMN event_type TEXT;
ALTER TABLE notifications ADD COLUMN application_id TEXT;
UPDATE notifications
SET event_type     = (SELECT e.topic FROM events e WHERE e.event_id = notifications.event_id),
    application_id = (SELECT e.application_id FROM events e WHERE e.event_id = notifications.event_id)
WHERE event_type IS NULL;
