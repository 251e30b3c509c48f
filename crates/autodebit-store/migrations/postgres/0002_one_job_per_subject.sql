-- autodebit-store schema 2 (PostgreSQL): the redesigned domain. One job per subject, leased by a
-- token per claim, set aside (dead letter) instead of blocking; attention items; access tokens
-- rotated away kept only as a blind index; the records' new fields. Existing rows are carried over
-- so that no work is stranded (DATA below). Kept equal to the SQLite text but for types.

-- Items a person must look at: at most one open item per subject and code.
CREATE TABLE attention_items (
    id           TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    code         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    tried        TEXT NOT NULL,
    actions      TEXT NOT NULL,         -- comma-separated action names
    opened_at    BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    resolved_at  BIGINT,
    resolution   TEXT,                  -- why it was closed
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX attention_items_open ON attention_items (subject_kind, subject_id, code)
    WHERE resolved_at IS NULL;
CREATE INDEX attention_items_listing ON attention_items (opened_at, id) WHERE resolved_at IS NULL;
CREATE INDEX attention_items_subject ON attention_items (subject_kind, subject_id);

-- Access tokens a refresh replaced, so a late TOKEN_CANCELED naming one finds its authorization:
-- only the blind index (HMAC-SHA-256 under `key_version`'s lookup key), never the token.
CREATE TABLE retired_access_tokens (
    token_index      TEXT PRIMARY KEY,
    authorization_id TEXT NOT NULL,
    key_version      BIGINT NOT NULL
);
CREATE INDEX retired_access_tokens_authorization ON retired_access_tokens (authorization_id);

-- Authorizations: Scan to Bind's QR code, the calls made for the step under way, a token Alipay
-- issued that we do not hold (sealed, under the row's key_version like its other sealed columns),
-- and when the consent stops being waited for.
ALTER TABLE authorizations ADD COLUMN qr_code TEXT;
ALTER TABLE authorizations ADD COLUMN tries BIGINT NOT NULL DEFAULT 0 CHECK (tries >= 0);
ALTER TABLE authorizations ADD COLUMN stray_token TEXT;              -- sealed
ALTER TABLE authorizations ADD COLUMN consent_expires_at BIGINT;

-- Attempts: why a cancel was asked for (unknown for cancels asked before this schema).
ALTER TABLE payment_attempts ADD COLUMN cancel_reason TEXT;

-- Refunds: why the refund exists, sends in a row that surely never left, whether any send may have
-- reached Alipay; Alipay's refundId under an unambiguous name.
ALTER TABLE refunds RENAME COLUMN refund_id TO alipay_refund_id;
ALTER TABLE refunds ADD COLUMN origin TEXT NOT NULL DEFAULT 'merchant';
ALTER TABLE refunds ADD COLUMN not_sent BIGINT NOT NULL DEFAULT 0 CHECK (not_sent >= 0);
ALTER TABLE refunds ADD COLUMN maybe_sent BIGINT NOT NULL DEFAULT 0 CHECK (maybe_sent IN (0, 1));

-- Jobs: a lease is a token per claim (not a worker name); a schedule that comes while a job is held
-- waits in `rerun_at`; a set-aside job keeps its row with why and when.
ALTER TABLE jobs RENAME COLUMN lease_holder TO lease_token;
ALTER TABLE jobs ADD COLUMN rerun_at BIGINT;
ALTER TABLE jobs ADD COLUMN dead_reason TEXT;
ALTER TABLE jobs ADD COLUMN dead_at BIGINT;

-- DATA. States that no longer exist move to the ones that carry on their work.
UPDATE payment_attempts SET state = 'confirming' WHERE state = 'needs_operator';
UPDATE refunds SET state = 'inquiring' WHERE state = 'needs_operator';
-- Conservatively, a refund that ever left (or may have) counts as maybe sent: it is never failed as
-- "not sent".
UPDATE refunds SET maybe_sent = 1
    WHERE state <> 'requested' OR sends > 0 OR first_sent_at IS NOT NULL;

-- One job per subject: the old kinds map to their subject's job; of several, the earliest due is
-- kept, holding the longest lease any of them held (a worker of the old version may still be
-- running it); attempts count from zero under the new dead-letter rule. Unknown kinds stay as they
-- are: the first claim sets them aside for a person.
UPDATE jobs SET kind = CASE kind
    WHEN 'send_payment' THEN 'payment'
    WHEN 'resolve_payment' THEN 'payment'
    WHEN 'cancel_payment' THEN 'payment'
    WHEN 'resolve_refund' THEN 'refund'
    WHEN 'refresh_token' THEN 'authorization'
    WHEN 'exchange_code' THEN 'authorization'
    WHEN 'revoke' THEN 'authorization'
    ELSE kind END;
UPDATE jobs SET
    lease_until = (SELECT max(o.lease_until) FROM jobs AS o
                   WHERE o.kind = jobs.kind AND o.subject = jobs.subject),
    attempts = 0;
UPDATE jobs SET lease_token = CASE WHEN lease_until IS NULL THEN NULL ELSE 'migrated' END;
DELETE FROM jobs WHERE EXISTS (
    SELECT 1 FROM jobs AS o
    WHERE o.kind = jobs.kind AND o.subject = jobs.subject
      AND (o.due_at < jobs.due_at OR (o.due_at = jobs.due_at AND o.id < jobs.id)));
DROP INDEX jobs_kind;
CREATE UNIQUE INDEX jobs_subject ON jobs (kind, subject);

-- Every subject with work left gets its job, due since it last changed: attempts and refunds not
-- final, authorizations in a state the authorization job moves on.
INSERT INTO jobs (kind, subject, due_at, attempts)
    SELECT 'payment', a.id, a.updated_at, 0 FROM payment_attempts AS a
    WHERE a.state NOT IN ('succeeded', 'failed', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.kind = 'payment' AND j.subject = a.id)
    ORDER BY a.id;
INSERT INTO jobs (kind, subject, due_at, attempts)
    SELECT 'refund', r.id, r.updated_at, 0 FROM refunds AS r
    WHERE r.state NOT IN ('succeeded', 'failed')
      AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.kind = 'refund' AND j.subject = r.id)
    ORDER BY r.id;
INSERT INTO jobs (kind, subject, due_at, attempts)
    SELECT 'authorization', z.id, z.updated_at, 0 FROM authorizations AS z
    WHERE z.state IN ('consulting', 'awaiting_user', 'exchanging', 'refreshing', 'active', 'revoking')
      AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.kind = 'authorization' AND j.subject = z.id)
    ORDER BY z.id;

-- Orders: one order per merchant reference. An order whose reference an older order already has
-- keeps its row under `<reference>#<order id>`, with an attention item saying so.
INSERT INTO attention_items
    (id, subject_kind, subject_id, code, reason, tried, actions, opened_at, updated_at)
    SELECT 'atn_migrated_reference_' || o.id, 'order', o.id, 'duplicate_reference',
           'order ' || o.id || ' had the reference of an older order; it is now ' ||
           o.reference || '#' || o.id,
           'schema 2 makes order references unique', 'resolve', o.updated_at, o.updated_at
    FROM orders AS o
    WHERE EXISTS (SELECT 1 FROM orders AS e WHERE e.reference = o.reference
                  AND (e.created_at < o.created_at OR (e.created_at = o.created_at AND e.id < o.id)));
UPDATE orders SET reference = reference || '#' || id
    WHERE EXISTS (SELECT 1 FROM orders AS e WHERE e.reference = orders.reference
                  AND (e.created_at < orders.created_at
                       OR (e.created_at = orders.created_at AND e.id < orders.id)));
CREATE UNIQUE INDEX orders_reference ON orders (reference);
