-- Account health, part three: reconnect links sent in bulk from the
-- monitoring board, and reconciliations with Pinwheel's API. See
-- db/reconnect.go and db/reconcile.go. Plain SQL that PostgreSQL also
-- accepts (triggers aside).

-- reconnect_batches: one "Send reconnect links" action. filter is the
-- board's filter (JSON) or the explicit selection; jobs the jobs each link
-- asks for. The members are chosen when the batch is created; the job
-- (worker.Reconnects) then creates their launch links in chunks, so
-- created + skipped grows to total. returned counts members whose account
-- came back to active after their link was made (kept by the trigger
-- below).
CREATE TABLE reconnect_batches (
    id          INTEGER PRIMARY KEY,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    created_by  INTEGER NOT NULL REFERENCES staff (id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    finished_at TEXT,
    filter      TEXT NOT NULL,
    jobs        TEXT NOT NULL,
    language    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    total       INTEGER NOT NULL,
    created     INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    returned    INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX reconnect_batches_state ON reconnect_batches (state, updated_at);

-- reconnect_members: the accounts of a batch in the order they waited
-- (seq). link_ref is set when the member's link is made (linked_at is its
-- creation time); skipped says why no link was made. returned_at is when
-- the account's status became active after linked_at.
CREATE TABLE reconnect_members (
    batch_id       INTEGER NOT NULL REFERENCES reconnect_batches (id),
    seq            INTEGER NOT NULL,
    account_ref    INTEGER NOT NULL REFERENCES accounts (id),
    status_at_send TEXT NOT NULL,
    waiting_since  TEXT,
    link_ref       INTEGER REFERENCES link_tokens (id),
    linked_at      TEXT,
    skipped        TEXT,
    returned_at    TEXT,
    PRIMARY KEY (batch_id, seq)
);
CREATE INDEX reconnect_members_account ON reconnect_members (account_ref, batch_id);

CREATE TRIGGER accounts_reconnect_returned AFTER UPDATE OF monitoring_status ON accounts
WHEN NEW.monitoring_status = 'active' AND OLD.monitoring_status IS NOT 'active' BEGIN
    UPDATE reconnect_batches SET returned = returned + 1 WHERE id IN (
        SELECT batch_id FROM reconnect_members
        WHERE account_ref = NEW.id AND returned_at IS NULL AND link_ref IS NOT NULL AND linked_at <= COALESCE(NEW.monitoring_status_at, NEW.last_event_at));
    UPDATE reconnect_members SET returned_at = COALESCE(NEW.monitoring_status_at, NEW.last_event_at)
        WHERE account_ref = NEW.id AND returned_at IS NULL AND link_ref IS NOT NULL AND linked_at <= COALESCE(NEW.monitoring_status_at, NEW.last_event_at);
END;

-- reconcile_runs: one reconciliation of one account with Pinwheel's API
-- (worker.Reconciles), asked for from the account page or in bulk for an
-- alert's subjects (alert_id). result is JSON (db.ReconcileResult): what
-- was filled in. A run Pinwheel refused is 'refused' with its reason and
-- changed nothing. One run per account may be pending at a time.
CREATE TABLE reconcile_runs (
    id           INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL,
    alert_id     INTEGER REFERENCES alerts (id),
    requested_by INTEGER NOT NULL REFERENCES staff (id),
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'refused', 'failed')),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    finished_at  TEXT,
    result       TEXT,
    error        TEXT
);
CREATE INDEX reconcile_runs_account ON reconcile_runs (account_id, id);
CREATE INDEX reconcile_runs_alert ON reconcile_runs (alert_id, id) WHERE alert_id IS NOT NULL;
CREATE UNIQUE INDEX reconcile_runs_pending ON reconcile_runs (account_id) WHERE state IN ('queued', 'running');
