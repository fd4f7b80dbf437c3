-- Onboard store schema, version 1 (SQLite). The PostgreSQL adapter mirrors it table for table.
--
-- Portability conventions (keep them when adding migrations):
--   * ids are TEXT: hyphenated lower-case UUID strings, customer ids as given;
--   * instants are TEXT in RFC 3339 UTC with exactly nine fractional digits and a `Z`
--     (`2030-01-01T00:00:00.000000000Z`): fixed width, so text order is time order and
--     comparisons such as `expires_at > ?` work on the text;
--   * calendar dates are TEXT `YYYY-MM-DD`;
--   * JSON documents (envelopes, reasons) are TEXT;
--   * integers are INTEGER (BIGINT in PostgreSQL); `seq` columns are identity columns.

-- ---- onboarding state (written by producers inside their transaction) -------------------

CREATE TABLE customers (
    customer_id   TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    phone_number  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    CONSTRAINT customers_email_unique UNIQUE (email)
);

CREATE TABLE applications (
    application_id TEXT PRIMARY KEY NOT NULL,
    customer_id    TEXT NOT NULL REFERENCES customers (customer_id),
    status         TEXT NOT NULL,
    policy_id      TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX applications_by_customer ON applications (customer_id, created_at);

CREATE TABLE documents (
    document_id     TEXT PRIMARY KEY NOT NULL,
    application_id  TEXT NOT NULL REFERENCES applications (application_id),
    document_type   TEXT NOT NULL,
    document_number TEXT NOT NULL,
    full_name       TEXT NOT NULL,
    expiry_date     TEXT NOT NULL,
    content_type    TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    stored_path     TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX documents_by_application ON documents (application_id, created_at);

-- Every KYC run is kept; the newest one is the application's result.
CREATE TABLE kyc_results (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (application_id),
    document_id    TEXT REFERENCES documents (document_id),
    decision       TEXT NOT NULL,
    reasons        TEXT NOT NULL,
    checked_at     TEXT NOT NULL
);
CREATE INDEX kyc_results_by_application ON kyc_results (application_id, checked_at);

CREATE TABLE policy_recommendations (
    application_id        TEXT PRIMARY KEY NOT NULL REFERENCES applications (application_id),
    policy_id             TEXT NOT NULL,
    product_name          TEXT NOT NULL,
    coverage_type         TEXT NOT NULL,
    monthly_premium_cents INTEGER NOT NULL,
    monthly_budget_cents  INTEGER,
    reasons               TEXT NOT NULL,
    created_at            TEXT NOT NULL
);

-- The first answer to a POST with an Idempotency-Key, per customer.
CREATE TABLE idempotency_keys (
    customer_id     TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);

-- ---- transactional outbox ----------------------------------------------------------------

-- Last sequence number handed out per customer; gap-free because it only moves inside the
-- producer's transaction, so a rollback also rolls the counter back.
CREATE TABLE customer_sequences (
    customer_id   TEXT PRIMARY KEY NOT NULL,
    last_sequence INTEGER NOT NULL
);

-- AUTOINCREMENT so a seq is never reused, even after the newest rows are deleted: the relay
-- publishes in seq order.
CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    topic       TEXT NOT NULL,
    envelope    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    sent_at     TEXT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;

-- ---- consumer side -------------------------------------------------------------------------
-- No foreign keys to the state tables: consumers may run against a store that never saw the
-- producer's rows, and an error event can precede any customer row.

CREATE TABLE events (
    event_id       TEXT PRIMARY KEY NOT NULL,
    customer_id    TEXT NOT NULL,
    sequence       INTEGER NOT NULL,
    application_id TEXT,
    topic          TEXT NOT NULL,
    occurred_at    TEXT NOT NULL,
    envelope       TEXT NOT NULL,
    stored_at      TEXT NOT NULL
);
CREATE INDEX events_by_customer ON events (customer_id, sequence);
CREATE INDEX events_by_application ON events (application_id, sequence);
CREATE INDEX events_by_time ON events (occurred_at);

-- The application as the consumers see it, folded from its events. Fields follow the event with
-- the highest sequence, so events arriving out of order across topics cannot move it backwards.
CREATE TABLE application_projections (
    application_id  TEXT PRIMARY KEY NOT NULL,
    customer_id     TEXT NOT NULL,
    last_event_id   TEXT NOT NULL,
    last_event_type TEXT NOT NULL,
    last_sequence   INTEGER NOT NULL,
    -- from `data.status` of the newest event that carried one; NULL until one did
    status          TEXT,
    status_sequence INTEGER NOT NULL,
    event_count     INTEGER NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    application_id TEXT,
    action         TEXT NOT NULL,
    at             TEXT NOT NULL
);
CREATE INDEX audit_log_by_customer ON audit_log (customer_id, seq);
CREATE INDEX audit_log_by_event ON audit_log (event_id);

CREATE TABLE notifications (
    id              TEXT PRIMARY KEY NOT NULL,
    event_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    delivered_at    TEXT
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE delivered_at IS NULL;

-- ---- WebSocket gateway ---------------------------------------------------------------------

CREATE TABLE websocket_connections (
    connection_id TEXT PRIMARY KEY NOT NULL,
    customer_id   TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    node_url      TEXT NOT NULL,
    source_ip     TEXT NOT NULL,
    connected_at  TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX websocket_connections_by_customer ON websocket_connections (customer_id, expires_at);
CREATE INDEX websocket_connections_by_expiry ON websocket_connections (expires_at);
