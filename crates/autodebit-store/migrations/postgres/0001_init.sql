-- autodebit-store schema 1 (PostgreSQL). Integers are BIGINT, times Unix milliseconds, money integer
-- minor units with its ISO 4217 code beside it. Columns marked "sealed" hold AES-256-GCM ciphertext
-- (`v<key version>.<base64>`), never plaintext; `key_version` is the key that sealed the row.

CREATE TABLE authorizations (
    id                 TEXT PRIMARY KEY,
    customer_id        TEXT NOT NULL,
    wallet             TEXT NOT NULL,
    terminal_type      TEXT NOT NULL,
    os_type            TEXT,
    return_url         TEXT NOT NULL,
    auth_state         TEXT NOT NULL UNIQUE,
    auth_url           TEXT,
    state              TEXT NOT NULL,
    access_token       TEXT,            -- sealed
    access_token_index TEXT,            -- blind index (HMAC-SHA-256), for TOKEN_CANCELED
    access_expires_at  BIGINT,
    refresh_token      TEXT,            -- sealed
    refresh_expires_at BIGINT,
    pending_auth_code  TEXT,            -- sealed
    user_login_id      TEXT,
    failure            TEXT,
    key_version        BIGINT NOT NULL,
    version            BIGINT NOT NULL CHECK (version >= 0),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX authorizations_access_token_index ON authorizations (access_token_index);
CREATE INDEX authorizations_key_version ON authorizations (key_version);

CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL REFERENCES authorizations (id) DEFERRABLE INITIALLY DEFERRED,
    reference        TEXT NOT NULL,
    description      TEXT NOT NULL,
    currency         TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL CHECK (amount_minor >= 0),
    state            TEXT NOT NULL,
    refunded_minor   BIGINT NOT NULL CHECK (refunded_minor >= 0),
    version          BIGINT NOT NULL CHECK (version >= 0),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX orders_authorization ON orders (authorization_id);

CREATE TABLE payment_attempts (
    id                 TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    payment_request_id TEXT NOT NULL UNIQUE,
    request_body       TEXT NOT NULL,   -- sealed: the exact `pay` body, which holds the access token
    currency           TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor >= 0),
    state              TEXT NOT NULL,
    payment_id         TEXT,
    result_code        TEXT,
    inquiries          BIGINT NOT NULL CHECK (inquiries >= 0),
    late_success       BIGINT NOT NULL CHECK (late_success IN (0, 1)),
    cancel_started_at  BIGINT,
    expires_at         BIGINT NOT NULL,
    key_version        BIGINT NOT NULL,
    version            BIGINT NOT NULL CHECK (version >= 0),
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX payment_attempts_order ON payment_attempts (order_id, created_at, id);
CREATE INDEX payment_attempts_key_version ON payment_attempts (key_version);

CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    refund_request_id TEXT NOT NULL UNIQUE,
    request_body      TEXT NOT NULL,    -- sealed: the exact `refund` body
    currency          TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL CHECK (amount_minor >= 0),
    state             TEXT NOT NULL,
    refund_id         TEXT,
    result_code       TEXT,
    sends             BIGINT NOT NULL CHECK (sends >= 0),
    first_sent_at     BIGINT,
    inquiries         BIGINT NOT NULL CHECK (inquiries >= 0),
    key_version       BIGINT NOT NULL,
    version           BIGINT NOT NULL CHECK (version >= 0),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id, created_at, id);
CREATE INDEX refunds_key_version ON refunds (key_version);

-- Durable work. A job is free when `lease_until` is NULL or past; taking it sets the holder and the
-- expiry and counts the attempt.
CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    due_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_holder TEXT,
    lease_until  BIGINT
);
CREATE INDEX jobs_due ON jobs (due_at, id);
CREATE INDEX jobs_kind ON jobs (kind, subject);

-- The outbox: what the merchant's systems must hear about, in commit order of `seq`.
CREATE TABLE events (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT,
    at      BIGINT NOT NULL
);

-- Notifications as received, one row per deduplication key.
CREATE TABLE inbox (
    dedup_key   TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    headers     TEXT NOT NULL,          -- JSON array of [name, value]
    body        TEXT NOT NULL,          -- sealed: may hold an auth code or a token
    received_at BIGINT NOT NULL,
    key_version BIGINT NOT NULL
);
CREATE INDEX inbox_key_version ON inbox (key_version);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
