-- autodebit-store schema 3 (SQLite, STRICT tables): merchants (tenants), the indexes the lists
-- read by, and the HTTP API's idempotency records. Every business table gains `merchant_id`; the
-- rows already there belong to merchant `default`. What was unique for the whole database
-- because it is the merchant's own name for something (an order reference, an idempotency key, a
-- notification's deduplication key, the one job or open attention item per subject) becomes unique
-- per merchant; what is unique because Alipay or a random source made it (ids, authState,
-- paymentRequestId, refundRequestId, the access-token blind index) stays unique database-wide.
-- Kept equal to the PostgreSQL text but for types, collations and how constraints change.

ALTER TABLE authorizations ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE orders ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE payment_attempts ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE refunds ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE jobs ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE events ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE attention_items ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE retired_access_tokens ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';

-- Lists: newest first by (created_at, id), per merchant, by customer, by authorization.
CREATE INDEX authorizations_listing ON authorizations (merchant_id, created_at, id);
CREATE INDEX authorizations_customer ON authorizations (merchant_id, customer_id, created_at, id);
CREATE INDEX orders_listing ON orders (merchant_id, created_at, id);
CREATE INDEX orders_authorization_listing
    ON orders (merchant_id, authorization_id, created_at, id);
CREATE INDEX payment_attempts_listing ON payment_attempts (merchant_id, created_at, id);
CREATE INDEX refunds_listing ON refunds (merchant_id, created_at, id);
CREATE INDEX events_merchant ON events (merchant_id, seq);

-- One order per merchant reference.
DROP INDEX orders_reference;
CREATE UNIQUE INDEX orders_reference ON orders (merchant_id, reference);

-- One job per (merchant, kind, subject); claims read a merchant's due jobs in due order.
DROP INDEX jobs_subject;
CREATE UNIQUE INDEX jobs_subject ON jobs (merchant_id, kind, subject);
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (merchant_id, due_at, id);

-- One open attention item per (merchant, subject, code).
DROP INDEX attention_items_open;
CREATE UNIQUE INDEX attention_items_open
    ON attention_items (merchant_id, subject_kind, subject_id, code) WHERE resolved_at IS NULL;
DROP INDEX attention_items_listing;
CREATE INDEX attention_items_listing
    ON attention_items (merchant_id, opened_at, id) WHERE resolved_at IS NULL;
DROP INDEX attention_items_subject;
CREATE INDEX attention_items_subject ON attention_items (merchant_id, subject_kind, subject_id);

-- The inbox and the idempotency keys are keyed by the merchant and their key: SQLite cannot
-- change a primary key in place, so both tables are rebuilt (no foreign key names either).
CREATE TABLE inbox_v3 (
    merchant_id TEXT NOT NULL DEFAULT 'default',
    dedup_key   TEXT NOT NULL,
    path        TEXT NOT NULL,
    headers     TEXT NOT NULL,          -- JSON array of [name, value]
    body        TEXT NOT NULL,          -- sealed: may hold an auth code or a token
    received_at INTEGER NOT NULL,
    key_version INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, dedup_key)
) STRICT;
INSERT INTO inbox_v3 (merchant_id, dedup_key, path, headers, body, received_at, key_version)
    SELECT 'default', dedup_key, path, headers, body, received_at, key_version FROM inbox;
DROP TABLE inbox;
ALTER TABLE inbox_v3 RENAME TO inbox;
CREATE INDEX inbox_key_version ON inbox (key_version);
CREATE INDEX inbox_listing ON inbox (merchant_id, received_at, dedup_key);

CREATE TABLE idempotency_keys_v3 (
    merchant_id TEXT NOT NULL DEFAULT 'default',
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
) STRICT;
INSERT INTO idempotency_keys_v3 (merchant_id, key, fingerprint, resource, created_at)
    SELECT 'default', key, fingerprint, resource, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v3 RENAME TO idempotency_keys;

-- The HTTP API's Idempotency-Key records: the first request with a key holds it (status NULL, in
-- flight, until `held_until`), then keeps the response it got so a retry replays it.
CREATE TABLE api_requests (
    merchant_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER CHECK (status IS NULL OR status BETWEEN 100 AND 999),
    body        TEXT,
    held_until  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key),
    CHECK ((status IS NULL) = (body IS NULL))
) STRICT;
CREATE INDEX api_requests_finished ON api_requests (merchant_id, created_at)
    WHERE status IS NOT NULL;
CREATE INDEX api_requests_held ON api_requests (merchant_id, held_until) WHERE status IS NULL;
