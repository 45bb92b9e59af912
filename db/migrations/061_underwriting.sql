-- Underwriting decisions (issue 16): what an operator decided on an
-- account's or an end user's income report, bound to the exact data the
-- report was built from. Plain SQL that PostgreSQL also accepts.

-- underwriting_decisions: one row per decision, never changed. scope is
-- the report it was made on (one account, or an end user's accounts);
-- basis_sha256 is the fingerprint of the bound data (the report showed it
-- and the form carried it back); summary holds the report's figures at
-- that moment, as JSON.
CREATE TABLE underwriting_decisions (
    id           INTEGER PRIMARY KEY,
    scope        TEXT NOT NULL CHECK (scope IN ('account', 'end_user')),
    subject_id   TEXT NOT NULL,
    end_user_id  TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('approved', 'declined', 'more_information')),
    note         TEXT NOT NULL,
    staff_id     INTEGER REFERENCES staff (id),
    staff_email  TEXT NOT NULL,
    basis_sha256 TEXT NOT NULL,
    summary      TEXT NOT NULL,
    decided_at   TEXT NOT NULL
);
CREATE INDEX underwriting_decisions_subject ON underwriting_decisions (scope, subject_id, id);
CREATE INDEX underwriting_decisions_end_user ON underwriting_decisions (end_user_id, id);

-- underwriting_decision_items: the data a decision was bound to: the
-- snapshots (kind employment or income, ref the snapshot id) and the
-- paystubs and shifts (ref Pinwheel's id), each with its SHA-256.
CREATE TABLE underwriting_decision_items (
    decision_id INTEGER NOT NULL REFERENCES underwriting_decisions (id),
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    PRIMARY KEY (decision_id, account_id, kind, ref, sha256)
);
CREATE INDEX underwriting_decision_items_account ON underwriting_decision_items (account_id, decision_id);
