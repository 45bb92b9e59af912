-- The auditors' workspace (issue 12), part one: the audit trail itself.
-- See db/audit.go (the keyed chain), db/audit_list.go (filters) and
-- db/audit_verify.go (verification).
--
-- audit_log is append-only in the database itself: UPDATE and DELETE are
-- refused by triggers, and an INSERT must continue the sequence (id = the
-- last id + 1), so the code cannot rewrite, remove or skip a row by
-- mistake. Someone with the file can drop the triggers; the keyed hash
-- chain and the anchor file outside the database catch that. Erasure never
-- needs to touch the trail: audit rows hold identifiers and field names,
-- never the personal values themselves.
--
-- SQLite triggers (PostgreSQL writes them as a trigger function that
-- raises); the rest is plain SQL.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');
END;
CREATE TRIGGER audit_log_in_sequence BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log) BEGIN
    SELECT RAISE(ABORT, 'audit_log rows must continue the sequence');
END;

-- The filters of /audit read one index range per value (an actor, an
-- action, a target), newest first, and merge them: no filter scans the
-- trail or sorts it, whatever its size. The time range becomes an id range
-- through audit_log_at (rows are appended in time order).
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor_email ON audit_log (actor_email, id);
CREATE INDEX audit_log_actor_action ON audit_log (actor_email, action, id);
CREATE INDEX audit_log_target_action ON audit_log (target_type, target_id, action, id);
CREATE INDEX audit_log_target_type ON audit_log (target_type, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- audit_action_counts: rows per action, kept by a trigger in the appending
-- transaction: the exact count of an unfiltered or action-only view, and
-- the list of actions that occur.
CREATE TABLE audit_action_counts (
    action TEXT PRIMARY KEY,
    n      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO audit_action_counts (action, n) SELECT action, COUNT(*) FROM audit_log GROUP BY action;
CREATE TRIGGER audit_log_count AFTER INSERT ON audit_log BEGIN
    INSERT INTO audit_action_counts (action, n) VALUES (NEW.action, 1)
        ON CONFLICT (action) DO UPDATE SET n = audit_action_counts.n + 1;
END;

-- audit_verifications: every check of the chain run by Linkdesk ("Verify
-- now" on /audit, the daily job), newest last: how many rows, the head it
-- reached, whether the anchor file agreed, the first bad row. /audit shows
-- the latest; the metrics read it.
CREATE TABLE audit_verifications (
    id           INTEGER PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('manual', 'daily')),
    actor_id     INTEGER REFERENCES staff (id),
    actor_email  TEXT NOT NULL,
    rows_checked INTEGER NOT NULL,
    head_seq     INTEGER NOT NULL,
    head_hash    TEXT NOT NULL,
    head_at      TEXT NOT NULL,
    anchor       TEXT NOT NULL,
    ok           INTEGER NOT NULL CHECK (ok IN (0, 1)),
    bad_seq      INTEGER,
    reason       TEXT NOT NULL
);

-- Time-boxed access: after access_until (UTC) the staff member can no
-- longer sign in, and open sessions end. NULL: no end date.
ALTER TABLE staff ADD COLUMN access_until TEXT;
