-- autodebit-store schema 7 (PostgreSQL): agent tokens. The `agent-token` an ISV sends when calling
-- Alipay on behalf of a merchant, as Alipay's ISV authorization notification handed it over: one
-- per merchant, the newest authorisation kept (notifications can arrive out of order), the token
-- sealed with the token keys.

CREATE TABLE agent_tokens (
    merchant_id    TEXT NOT NULL PRIMARY KEY,
    auth_client_id TEXT NOT NULL,           -- the authorising merchant's Alipay client id
    token          TEXT NOT NULL,           -- sealed
    key_version    BIGINT NOT NULL,         -- the key sealing `token`
    auth_time      BIGINT NOT NULL,         -- `authTime`, epoch ms
    expires_at     TEXT,                    -- `accessTokenExpiryTime` verbatim (format unknown)
    received_at    BIGINT NOT NULL
);
