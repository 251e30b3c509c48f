-- autodebit-store schema 3 (PostgreSQL): merchants (tenants), the indexes the lists read by, and
-- the HTTP API's idempotency records. Every business table gains `merchant_id`; the rows already
-- there belong to merchant `default`. What was unique for the whole database because it is the
-- merchant's own name for something (an order reference, an idempotency key, a notification's
-- deduplication key, the one job or open attention item per subject) becomes unique per merchant;
-- what is unique because Alipay or a random source made it (ids, authState, paymentRequestId,
-- refundRequestId, the access-token blind index) stays unique database-wide. Kept equal to the
-- SQLite text but for types, collations and how constraints change. Lists order ids byte-wise
-- (`COLLATE "C"`), as SQLite does, and their indexes say so.

ALTER TABLE authorizations ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE orders ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE payment_attempts ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE refunds ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE jobs ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE events ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE attention_items ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE retired_access_tokens ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE inbox ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';
ALTER TABLE idempotency_keys ADD COLUMN merchant_id TEXT NOT NULL DEFAULT 'default';

-- Lists: newest first by (created_at, id), per merchant, by customer, by authorization.
CREATE INDEX authorizations_listing ON authorizations (merchant_id, created_at, id COLLATE "C");
CREATE INDEX authorizations_customer
    ON authorizations (merchant_id, customer_id, created_at, id COLLATE "C");
CREATE INDEX orders_listing ON orders (merchant_id, created_at, id COLLATE "C");
CREATE INDEX orders_authorization_listing
    ON orders (merchant_id, authorization_id, created_at, id COLLATE "C");
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

-- The inbox and the idempotency keys are keyed by the merchant and their key (the SQLite text
-- rebuilds both tables instead).
ALTER TABLE inbox DROP CONSTRAINT inbox_pkey;
ALTER TABLE inbox ADD PRIMARY KEY (merchant_id, dedup_key);
CREATE INDEX inbox_listing ON inbox (merchant_id, received_at, dedup_key);

ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (merchant_id, key);

-- The HTTP API's Idempotency-Key records: the first request with a key holds it (status NULL, in
-- flight, until `held_until`), then keeps the response it got so a retry replays it.
CREATE TABLE api_requests (
    merchant_id TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      BIGINT CHECK (status IS NULL OR status BETWEEN 100 AND 999),
    body        TEXT,
    held_until  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, key),
    CHECK ((status IS NULL) = (body IS NULL))
);
CREATE INDEX api_requests_finished ON api_requests (merchant_id, created_at)
    WHERE status IS NOT NULL;
CREATE INDEX api_requests_held ON api_requests (merchant_id, held_until) WHERE status IS NULL;
