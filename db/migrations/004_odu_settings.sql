-- On Demand Updates, part one: the organisation's deposit accounts, customer
-- records (our copy of who each end user is), pending CSV imports of them,
-- and identity verdicts (customer record vs the identity Pinwheel returned).
-- Plain SQL that PostgreSQL also accepts.

-- deposit_accounts are the targets of a direct deposit switch. Rows are never
-- deleted: tokens minted for an account keep pointing at it after it is
-- archived. account_number_enc is AES-256-GCM ciphertext (see db/crypto.go);
-- only the last four digits are kept in clear, for display.
CREATE TABLE deposit_accounts (
    id                 INTEGER PRIMARY KEY,
    name               TEXT NOT NULL,
    account_type       TEXT NOT NULL CHECK (account_type IN ('checking', 'savings')),
    routing_number     TEXT NOT NULL,
    account_number_enc TEXT NOT NULL,
    account_last4      TEXT NOT NULL,
    active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_by         INTEGER REFERENCES staff (id),
    created_at         TEXT NOT NULL,
    archived_at        TEXT
);
-- Two active accounts may not share a name: staff pick them by name.
CREATE UNIQUE INDEX deposit_accounts_active_name ON deposit_accounts (lower(name)) WHERE active = 1;

-- customers is the organisation's own record of each end user, keyed by the
-- end_user_id given to Pinwheel. date_of_birth is YYYY-MM-DD.
CREATE TABLE customers (
    end_user_id   TEXT PRIMARY KEY,
    full_name     TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    ssn_last4     TEXT NOT NULL,
    email         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- customer_imports holds an uploaded CSV between its preview and its
-- confirmation (an hour at most), so that the two steps may land on
-- different processes. rows and bad_rows are JSON arrays.
CREATE TABLE customer_imports (
    id           TEXT PRIMARY KEY,
    filename     TEXT NOT NULL,
    created_by   INTEGER REFERENCES staff (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    good_count   INTEGER NOT NULL,
    bad_count    INTEGER NOT NULL,
    rows         TEXT NOT NULL,
    bad_rows     TEXT NOT NULL,
    notes        TEXT NOT NULL,
    confirmed_at TEXT,
    result       TEXT
);
CREATE INDEX customer_imports_expires ON customer_imports (expires_at);

-- identity_verdicts is the latest comparison of an account's identity data
-- with the customer record of its end user. The identity fields compared are
-- kept here (id_*), so that a customer edit can recompute the verdict
-- without reading the ingestion tables.
CREATE TABLE identity_verdicts (
    account_id            TEXT PRIMARY KEY,
    end_user_id           TEXT NOT NULL,
    result                TEXT NOT NULL CHECK (result IN ('match', 'partial', 'mismatch', 'no_customer_record')),
    name_score            REAL NOT NULL,
    fields                TEXT NOT NULL,
    id_full_name          TEXT NOT NULL,
    id_dob                TEXT NOT NULL,
    id_last4              TEXT NOT NULL,
    identity_snapshot_ref TEXT,
    computed_at           TEXT NOT NULL
);
CREATE INDEX identity_verdicts_end_user ON identity_verdicts (end_user_id);
