-- autodebit-store schema 5 (PostgreSQL): webhook endpoints. Every endpoint a merchant's events go to,
-- those from the configuration file (named `we_` and a digest of their URL, their secrets in the
-- file) and those made through the API (their secrets sealed here); whether each is enabled, and
-- since when it has failed every try (an endpoint failing for days is disabled, with an event).
-- Deliveries name their endpoint by this id from now on (the rows of schema 4, named by URL, are
-- renamed when the configuration's endpoints are first recorded).

CREATE TABLE webhook_endpoints (
    merchant_id     TEXT NOT NULL,
    id              TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    source          TEXT NOT NULL,          -- config, api
    secrets         TEXT,                   -- api: sealed JSON; config: NULL (in the file)
    state           TEXT NOT NULL,          -- enabled, disabled, removed
    disabled_reason TEXT,
    failing_since   BIGINT,                 -- the first failed try since the last delivered one
    key_version     BIGINT,                 -- the key sealing `secrets` (NULL: none sealed)
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, id)
);

-- A replayed answer may hold what is shown once (an endpoint's secret): answers are kept sealed
-- from now on, under this key version (NULL: kept before schema 5, as it was).
ALTER TABLE api_requests ADD COLUMN key_version BIGINT;
