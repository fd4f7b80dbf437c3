-- Onboard store schema, version 1 (PostgreSQL). Mirrors migrations/sqlite/0001_initial.sql table
-- for table, column for column; only the types differ:
--   * UUID ids are `uuid`; customer ids (any external id) stay `text`;
--   * instants are `timestamptz` (microsecond precision: a nanosecond remainder is dropped);
--   * calendar dates are `date`;
--   * JSON documents (envelopes, reasons) are `jsonb`, so operators can query them;
--   * `seq` columns are identity columns, never reused.
-- Keep new migrations in step with the SQLite ones.

-- ---- onboarding state (written by producers inside their transaction) -------------------

CREATE TABLE customers (
    customer_id   text PRIMARY KEY,
    email         text NOT NULL,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    date_of_birth date NOT NULL,
    phone_number  text NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT customers_email_unique UNIQUE (email)
);

CREATE TABLE applications (
    application_id uuid PRIMARY KEY,
    customer_id    text NOT NULL REFERENCES customers (customer_id),
    status         text NOT NULL,
    policy_id      text,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX applications_by_customer ON applications (customer_id, created_at);

CREATE TABLE documents (
    document_id     uuid PRIMARY KEY,
    application_id  uuid NOT NULL REFERENCES applications (application_id),
    document_type   text NOT NULL,
    document_number text NOT NULL,
    full_name       text NOT NULL,
    expiry_date     date NOT NULL,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    stored_path     text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX documents_by_application ON documents (application_id, created_at);

-- Every KYC run is kept; the newest one is the application's result.
CREATE TABLE kyc_results (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id uuid NOT NULL REFERENCES applications (application_id),
    document_id    uuid REFERENCES documents (document_id),
    decision       text NOT NULL,
    reasons        jsonb NOT NULL,
    checked_at     timestamptz NOT NULL
);
CREATE INDEX kyc_results_by_application ON kyc_results (application_id, checked_at);

CREATE TABLE policy_recommendations (
    application_id        uuid PRIMARY KEY REFERENCES applications (application_id),
    policy_id             text NOT NULL,
    product_name          text NOT NULL,
    coverage_type         text NOT NULL,
    monthly_premium_cents bigint NOT NULL,
    monthly_budget_cents  bigint,
    reasons               jsonb NOT NULL,
    created_at            timestamptz NOT NULL
);

-- The first answer to a POST with an Idempotency-Key, per customer. Two requests racing with the
-- same key both insert here; the primary key makes the second wait for the first and then fail.
CREATE TABLE idempotency_keys (
    customer_id     text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    status          integer NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);

-- ---- transactional outbox ----------------------------------------------------------------

-- Last sequence number handed out per customer; gap-free because it only moves inside the
-- producer's transaction. The row lock taken by the upsert serialises a customer's producers,
-- so a customer's outbox rows are committed in sequence order.
CREATE TABLE customer_sequences (
    customer_id   text PRIMARY KEY,
    last_sequence bigint NOT NULL
);

CREATE TABLE outbox (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    customer_id text NOT NULL,
    topic       text NOT NULL,
    envelope    jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    sent_at     timestamptz
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;

-- ---- consumer side -------------------------------------------------------------------------
-- No foreign keys to the state tables: consumers may run against a store that never saw the
-- producer's rows, and an error event can precede any customer row.

CREATE TABLE events (
    event_id       uuid PRIMARY KEY,
    customer_id    text NOT NULL,
    sequence       bigint NOT NULL,
    application_id uuid,
    topic          text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    envelope       jsonb NOT NULL,
    stored_at      timestamptz NOT NULL
);
CREATE INDEX events_by_customer ON events (customer_id, sequence);
CREATE INDEX events_by_application ON events (application_id, sequence);
CREATE INDEX events_by_time ON events (occurred_at);

-- The application as the consumers see it, folded from its events. Fields follow the event with
-- the highest sequence, so events arriving out of order across topics cannot move it backwards.
CREATE TABLE application_projections (
    application_id  uuid PRIMARY KEY,
    customer_id     text NOT NULL,
    last_event_id   uuid NOT NULL,
    last_event_type text NOT NULL,
    last_sequence   bigint NOT NULL,
    -- from `data.status` of the newest event that carried one; NULL until one did
    status          text,
    status_sequence bigint NOT NULL,
    event_count     bigint NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE audit_log (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL,
    customer_id    text NOT NULL,
    application_id uuid,
    action         text NOT NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX audit_log_by_customer ON audit_log (customer_id, seq);
CREATE INDEX audit_log_by_event ON audit_log (event_id);

CREATE TABLE notifications (
    id              text PRIMARY KEY,
    event_id        uuid NOT NULL,
    kind            text NOT NULL,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        bigint NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    delivered_at    timestamptz
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE delivered_at IS NULL;

-- ---- WebSocket gateway ---------------------------------------------------------------------

CREATE TABLE websocket_connections (
    connection_id uuid PRIMARY KEY,
    customer_id   text NOT NULL,
    node_id       text NOT NULL,
    node_url      text NOT NULL,
    source_ip     text NOT NULL,
    connected_at  timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX websocket_connections_by_customer ON websocket_connections (customer_id, expires_at);
CREATE INDEX websocket_connections_by_expiry ON websocket_connections (expires_at);
