-- autodebit-store schema 6 (postgres): customs declarations (China customs only). One row per
-- `declarationRequestId`, kept for every send and re-send; the exact `declare` body is sealed (it
-- holds the buyer's certificate number). `accepted` and `record` are Alipay's last successful
-- `declare` answer and customs' last record, as JSON (customs' ids and status, no personal data).

CREATE TABLE customs_declarations (
    id                     TEXT PRIMARY KEY,
    merchant_id            TEXT NOT NULL,
    order_id               TEXT NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    declaration_request_id TEXT NOT NULL UNIQUE,
    request_body           TEXT NOT NULL,    -- sealed: the exact `declare` body
    currency               TEXT NOT NULL,
    amount_minor           BIGINT NOT NULL CHECK (amount_minor >= 0),
    customs_code           TEXT NOT NULL,
    state                  TEXT NOT NULL,    -- requested, sent, accepted, refused, unknown
    result_code            TEXT,
    result_message         TEXT,
    accepted               TEXT,
    record                 TEXT,
    sends                  BIGINT NOT NULL CHECK (sends >= 0),
    inquiries              BIGINT NOT NULL CHECK (inquiries >= 0),
    last_sent_at           BIGINT,
    round_started_at       BIGINT NOT NULL,
    key_version            BIGINT NOT NULL,
    version                BIGINT NOT NULL CHECK (version >= 0),
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX customs_declarations_order ON customs_declarations (order_id, created_at, id);
CREATE INDEX customs_declarations_key_version ON customs_declarations (key_version);
