-- autodebit-store schema 4 (SQLite): webhook deliveries. One row per event and endpoint (the
-- endpoint named by its URL), made from the outbox by the relay; leased by the worker that sends
-- it, so several servers send each event once; every try kept in `webhook_attempts`.

CREATE TABLE webhook_deliveries (
    merchant_id TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    event_seq   INTEGER NOT NULL,
    subject     TEXT NOT NULL,
    state       TEXT NOT NULL,              -- pending, delivered, failed
    attempts    INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    lease_token TEXT,
    lease_until INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, endpoint, event_seq)
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (merchant_id, state, due_at);
CREATE INDEX webhook_deliveries_subject
    ON webhook_deliveries (merchant_id, endpoint, subject, state, event_seq);
CREATE INDEX events_at ON events (merchant_id, at);

CREATE TABLE webhook_attempts (
    merchant_id TEXT NOT NULL,
    endpoint    TEXT NOT NULL,
    event_seq   INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,                    -- the HTTP status; NULL when none came
    latency_ms  INTEGER NOT NULL,
    answer      TEXT NOT NULL,              -- the answer's first bytes, or what went wrong
    PRIMARY KEY (merchant_id, endpoint, event_seq, n)
) STRICT;
