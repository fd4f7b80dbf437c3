-- Notifications carry the type and application of the event that caused them, so a notifier can
-- label its messages (the SNS `event_type` and `application_id` attributes) without reading the
-- event. Rows written before this migration take them from their event, stored in the same
-- transaction as the notification.
ALTER TABLE notifications ADD COLUMN event_type text;
ALTER TABLE notifications ADD COLUMN application_id uuid;
UPDATE notifications n
SET event_type = e.topic, application_id = e.application_id
FROM events e
WHERE e.event_id = n.event_id AND n.event_type IS NULL;
