-- Operations (helper ops-dlq, issue 11): replays of dead-lettered records and stall alerts.
-- Conventions of 0001_initial.sql; the PostgreSQL migration of the same number mirrors it.

-- One audit row per replay of a dead-lettered record: who, when, why, which record.
CREATE TABLE dead_letter_replays (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- `<dead-letter topic>:<partition>:<offset>`
    record_id    TEXT NOT NULL,
    origin_topic TEXT NOT NULL,
    -- the record's `event-id` header as carried (a poison record may have none)
    event_id     TEXT,
    -- `<topic>:<partition>:<offset>` of the copy put back
    replayed_to  TEXT NOT NULL,
    replayed_by  TEXT NOT NULL,
    reason       TEXT NOT NULL,
    forced       INTEGER NOT NULL,
    replayed_at  TEXT NOT NULL
);
CREATE INDEX dead_letter_replays_by_record ON dead_letter_replays (record_id, seq);

-- One row per stall alerted: the key makes a second monitor's claim of the same stall a no-op.
CREATE TABLE stall_alerts (
    application_id TEXT NOT NULL,
    status         TEXT NOT NULL,
    since          TEXT NOT NULL,
    alerted_at     TEXT NOT NULL,
    PRIMARY KEY (application_id, status, since)
);

-- The stall monitor's query: applications of one status, oldest change first.
CREATE INDEX applications_by_status ON applications (status, updated_at);
