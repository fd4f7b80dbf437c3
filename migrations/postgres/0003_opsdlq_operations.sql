-- Operations (helper ops-dlq, issue 11): replays of dead-lettered records and stall alerts.
-- Mirrors migrations/sqlite/0002_opsdlq_operations.sql.

CREATE TABLE dead_letter_replays (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    record_id    text NOT NULL,
    origin_topic text NOT NULL,
    event_id     text,
    replayed_to  text NOT NULL,
    replayed_by  text NOT NULL,
    reason       text NOT NULL,
    forced       bigint NOT NULL,
    replayed_at  timestamptz NOT NULL
);
CREATE INDEX dead_letter_replays_by_record ON dead_letter_replays (record_id, seq);

CREATE TABLE stall_alerts (
    application_id uuid NOT NULL,
    status         text NOT NULL,
    since          timestamptz NOT NULL,
    alerted_at     timestamptz NOT NULL,
    PRIMARY KEY (application_id, status, since)
);

CREATE INDEX applications_by_status ON applications (status, updated_at);
