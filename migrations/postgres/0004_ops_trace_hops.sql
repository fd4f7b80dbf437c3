-- What `onboard trace` shows about each hop of an event that version 1 did not keep
-- (issue 11): where the relay's record landed, when the consumer group committed it, and the
-- outcome of each push to a WebSocket connection. Mirrors the SQLite migration of this number.

-- Set with `sent_at` once the bus acknowledged the record.
ALTER TABLE outbox ADD COLUMN record_partition bigint;
ALTER TABLE outbox ADD COLUMN record_offset bigint;
CREATE INDEX outbox_by_customer ON outbox (customer_id, seq);

-- The record the consumer stored the event from (its position, and its timestamp: when the
-- relay's producer sent it), and when the group committed its offset (the first commit only:
-- a redelivery or a replay does not move it).
ALTER TABLE events ADD COLUMN record_partition bigint;
ALTER TABLE events ADD COLUMN record_offset bigint;
ALTER TABLE events ADD COLUMN record_timestamp timestamptz;
ALTER TABLE events ADD COLUMN committed_at timestamptz;

CREATE INDEX notifications_by_event ON notifications (event_id);

-- One row per event and connection (the newest push wins); bounded per event by the consumer.
CREATE TABLE event_pushes (
    event_id      uuid NOT NULL,
    connection_id uuid NOT NULL,
    node_id       text NOT NULL,
    outcome       text NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (event_id, connection_id)
);
