-- autodebit-store schema 1 (SQLite, STRICT tables). Integers are INTEGER (64-bit), times Unix milliseconds, money integer
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
    access_expires_at  INTEGER,
    refresh_token      TEXT,            -- sealed
    refresh_expires_at INTEGER,
    pending_auth_code  TEXT,            -- sealed
    user_login_id      TEXT,
    failure            TEXT,
    key_version        INTEGER NOT NULL,
    version            INTEGER NOT NULL CHECK (version >= 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX authorizations_access_token_index ON authorizations (access_token_index);
CREATE INDEX authorizations_key_version ON authorizations (key_version);

CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL REFERENCES authorizations (id) DEFERRABLE INITIALLY DEFERRED,
    reference        TEXT NOT NULL,
    description      TEXT NOT NULL,
    currency         TEXT NOT NULL,
    amount_minor     INTEGER NOT NULL CHECK (amount_minor >= 0),
    state            TEXT NOT NULL,
    refunded_minor   INTEGER NOT NULL CHECK (refunded_minor >= 0),
    version          INTEGER NOT NULL CHECK (version >= 0),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_authorization ON orders (authorization_id);

CREATE TABLE payment_attempts (
    id                 TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    payment_request_id TEXT NOT NULL UNIQUE,
    request_body       TEXT NOT NULL,   -- sealed: the exact `pay` body, which holds the access token
    currency           TEXT NOT NULL,
    amount_minor       INTEGER NOT NULL CHECK (amount_minor >= 0),
    state              TEXT NOT NULL,
    payment_id         TEXT,
    result_code        TEXT,
    inquiries          INTEGER NOT NULL CHECK (inquiries >= 0),
    late_success       INTEGER NOT NULL CHECK (late_success IN (0, 1)),
    cancel_started_at  INTEGER,
    expires_at         INTEGER NOT NULL,
    key_version        INTEGER NOT NULL,
    version            INTEGER NOT NULL CHECK (version >= 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX payment_attempts_order ON payment_attempts (order_id, created_at, id);
CREATE INDEX payment_attempts_key_version ON payment_attempts (key_version);

CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    refund_request_id TEXT NOT NULL UNIQUE,
    request_body      TEXT NOT NULL,    -- sealed: the exact `refund` body
    currency          TEXT NOT NULL,
    amount_minor      INTEGER NOT NULL CHECK (amount_minor >= 0),
    state             TEXT NOT NULL,
    refund_id         TEXT,
    result_code       TEXT,
    sends             INTEGER NOT NULL CHECK (sends >= 0),
    first_sent_at     INTEGER,
    inquiries         INTEGER NOT NULL CHECK (inquiries >= 0),
    key_version       INTEGER NOT NULL,
    version           INTEGER NOT NULL CHECK (version >= 0),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX refunds_order ON refunds (order_id, created_at, id);
CREATE INDEX refunds_key_version ON refunds (key_version);

-- Durable work. A job is free when `lease_until` is NULL or past; taking it sets the holder and the
-- expiry and counts the attempt.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    due_at       INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_holder TEXT,
    lease_until  INTEGER
) STRICT;
CREATE INDEX jobs_due ON jobs (due_at, id);
CREATE INDEX jobs_kind ON jobs (kind, subject);

-- The outbox: what the merchant's systems must hear about, in commit order of `seq`.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT,
    at      INTEGER NOT NULL
) STRICT;

-- Notifications as received, one row per deduplication key.
CREATE TABLE inbox (
    dedup_key   TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    headers     TEXT NOT NULL,          -- JSON array of [name, value]
    body        TEXT NOT NULL,          -- sealed: may hold an auth code or a token
    received_at INTEGER NOT NULL,
    key_version INTEGER NOT NULL
) STRICT;
CREATE INDEX inbox_key_version ON inbox (key_version);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
