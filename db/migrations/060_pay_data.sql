-- Paystubs and shifts, kept for the income and employment report (issue 16):
-- each one as Pinwheel sent it (the document's pre-signed URL left out), the
-- sync state per account and kind, the ids webhooks announced but no fetch
-- has brought yet, and the ids webhooks said were deleted. See
-- db/pay_sync.go. Plain SQL that PostgreSQL also accepts.

-- pay_items: one row per (account, kind, item id, content). A paystub whose
-- content changes (Pinwheel corrected it) gets a new row and the old one is
-- marked superseded, so that a decision bound to the old hash can still
-- show what it saw. Two different contents of one id in the same fetch are
-- both kept, neither superseded: the report flags them as duplicate ids.
-- The columns beside the body are what the report reads without decoding
-- it: amounts in cents (NULL when Pinwheel sent none), dates as
-- YYYY-MM-DD, and lines, the taxes and deductions arrays of the body alone
-- (JSON: the deductions summary reads them without the whole body). For a
-- shift, pay_date is its end date, period its start and end dates, gross
-- the sum of its earnings.
CREATE TABLE pay_items (
    id               INTEGER PRIMARY KEY,
    account_ref      INTEGER NOT NULL REFERENCES accounts (id),
    kind             TEXT NOT NULL CHECK (kind IN ('paystubs', 'shifts')),
    item_id          TEXT NOT NULL,
    pay_date         TEXT NOT NULL,
    period_start     TEXT,
    period_end       TEXT,
    currency         TEXT NOT NULL,
    gross            INTEGER,
    net              INTEGER,
    taxes            INTEGER,
    deductions       INTEGER,
    hours            REAL,
    overtime_hours   REAL,
    overtime_amount  INTEGER,
    rate             INTEGER,
    employer_name    TEXT,
    document_id      TEXT,
    body_sha256      TEXT NOT NULL,
    body             TEXT NOT NULL,
    lines            TEXT NOT NULL DEFAULT '{}',
    first_seen_at    TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    refreshed_at     TEXT,
    superseded_at    TEXT,
    deleted_at       TEXT,
    deleted_event_ref INTEGER REFERENCES events (id),
    UNIQUE (account_ref, kind, item_id, body_sha256)
);
-- The report reads an account's current items in pay-date order.
CREATE INDEX pay_items_current ON pay_items (account_ref, kind, pay_date, id) WHERE superseded_at IS NULL AND deleted_at IS NULL;
CREATE INDEX pay_items_item ON pay_items (account_ref, kind, item_id);

-- pay_sync: per account and kind, what the next fetch must read and how the
-- last went. version counts requests (webhooks asking for a fetch); a fetch
-- clears want_* only if no request came in while it ran (version unchanged),
-- so that nothing asked for is ever dropped. want_full asks for every item
-- (once per account: the first complete history); want_from/want_to for the
-- pay dates a paystubs.added named. status is the latest sync_status by the
-- job's own timestamp; the milestone columns hold the latest time each
-- *_synced event reported.
CREATE TABLE pay_sync (
    account_ref          INTEGER NOT NULL REFERENCES accounts (id),
    kind                 TEXT NOT NULL,
    version              INTEGER NOT NULL DEFAULT 0,
    want_full            INTEGER NOT NULL DEFAULT 0,
    want_from            TEXT,
    want_to              TEXT,
    status               TEXT,
    status_at            TEXT,
    seven_days_synced_at  TEXT,
    thirty_days_synced_at TEXT,
    ninety_days_synced_at TEXT,
    fully_synced_at      TEXT,
    full_fetched_at      TEXT,
    fetched_version      INTEGER NOT NULL DEFAULT 0,
    last_fetched_at      TEXT,
    last_refreshed_at    TEXT,
    last_fetch_items     INTEGER NOT NULL DEFAULT 0,
    last_fetch_skipped   INTEGER NOT NULL DEFAULT 0,
    updated_at           TEXT NOT NULL,
    PRIMARY KEY (account_ref, kind)
);

-- pay_pending: ids an added array announced that no fetch has stored yet.
-- missing_since is set when a fetch looked for the id and Pinwheel did not
-- return it; the next fetch looks again.
CREATE TABLE pay_pending (
    account_ref   INTEGER NOT NULL REFERENCES accounts (id),
    kind          TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    event_ref     INTEGER NOT NULL REFERENCES events (id),
    announced_at  TEXT NOT NULL,
    missing_since TEXT,
    PRIMARY KEY (account_ref, kind, item_id)
);

-- pay_deletions: ids a deleted array named. Whatever order webhooks and
-- fetches come in, a deleted id is never stored as current again.
CREATE TABLE pay_deletions (
    account_ref INTEGER NOT NULL REFERENCES accounts (id),
    kind        TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    event_ref   INTEGER NOT NULL REFERENCES events (id),
    deleted_at  TEXT NOT NULL,
    PRIMARY KEY (account_ref, kind, item_id)
);
