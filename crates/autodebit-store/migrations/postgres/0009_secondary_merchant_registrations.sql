-- autodebit-store schema 9 (postgres): secondary-merchant registrations (`registration`, deprecated
-- by Alipay for online payments since August 2022). One row per `registrationRequestId`, sent until
-- Alipay answers, then followed until the wallets' review ends; the exact `registration` body is
-- sealed (it holds the secondary merchant's registration numbers and contacts). `review` and
-- `wallets` are the overall and each wallet's review result as last read, as JSON (statuses and
-- reject reasons, no personal data); `wallets` is `[]` when none was read.

CREATE TABLE secondary_merchant_registrations (
    id                      TEXT PRIMARY KEY,
    merchant_id             TEXT NOT NULL,
    reference_merchant_id   TEXT NOT NULL,    -- `merchantInfo.referenceMerchantId`
    registration_request_id TEXT NOT NULL UNIQUE,
    request_body            TEXT NOT NULL,    -- sealed: the exact `registration` body
    key_version             BIGINT NOT NULL,
    state                   TEXT NOT NULL,    -- requested, sent, accepted, refused, unknown
    result_code             TEXT,
    result_message          TEXT,
    review                  TEXT,
    wallets                 TEXT NOT NULL,
    sends                   BIGINT NOT NULL CHECK (sends >= 0),
    inquiries               BIGINT NOT NULL CHECK (inquiries >= 0),
    round_started_at        BIGINT NOT NULL,
    version                 BIGINT NOT NULL CHECK (version >= 0),
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX secondary_merchant_registrations_listing
    ON secondary_merchant_registrations (merchant_id, created_at, id COLLATE "C");
CREATE INDEX secondary_merchant_registrations_reference
    ON secondary_merchant_registrations (merchant_id, reference_merchant_id, created_at, id COLLATE "C");
CREATE INDEX secondary_merchant_registrations_key_version
    ON secondary_merchant_registrations (key_version);
