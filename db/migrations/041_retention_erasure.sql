-- The auditors' workspace (issue 12), part two: retention of raw data and
-- erasure of an end user's personal data. See db/retention.go and
-- db/erasure.go. Plain SQL that PostgreSQL also accepts.

-- A raw webhook body or a launch event's payload past its retention period
-- (or erased) is replaced by what identifies it (ids, types, times, the
-- outcome); body_removed says why ('retention' or 'erasure') and when.
ALTER TABLE events ADD COLUMN body_removed TEXT CHECK (body_removed IN ('retention', 'erasure'));
ALTER TABLE events ADD COLUMN body_removed_at TEXT;
ALTER TABLE launch_events ADD COLUMN payload_removed TEXT CHECK (payload_removed IN ('retention', 'erasure'));
ALTER TABLE launch_events ADD COLUMN payload_removed_at TEXT;
-- An erased data snapshot keeps its kind and times; its body becomes an
-- empty object and body_sha256 that object's hash.
ALTER TABLE data_snapshots ADD COLUMN erased_at TEXT;

-- erasures: the tombstones of erasure requests: whose data, why, who asked,
-- when, and what was removed (counts per kind, JSON). The rows themselves
-- hold no personal data.
CREATE TABLE erasures (
    id             INTEGER PRIMARY KEY,
    end_user_id    TEXT NOT NULL,
    reason         TEXT NOT NULL,
    requested_by   INTEGER REFERENCES staff (id),
    requested_email TEXT NOT NULL,
    at             TEXT NOT NULL,
    erased         TEXT NOT NULL
);
CREATE INDEX erasures_end_user ON erasures (end_user_id, id);
