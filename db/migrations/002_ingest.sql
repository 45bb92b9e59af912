-- Webhook ingestion: the events Pinwheel sends (stored exactly once), their
-- projections into end users, accounts, link tokens and deposit switches,
-- counters for the dashboard, refused deliveries, and the durable queue of
-- data fetches with the snapshots they store. See db/ingest.go.
--
-- Keys. Pinwheel identifies everything by random UUIDs. Indexing events by
-- those directly would put every insert on a random page of a large index,
-- and checkpoints would then write pages scattered over the whole file
-- (STACK.md measured a 40% drop at 1M events). So every entity gets an
-- INTEGER surrogate id, assigned in order of first appearance, and events
-- point at entities through it: activity concerns mostly recent entities,
-- whose ids are the largest, so the (ref, id) indexes of events grow at
-- their right edge. The one per-event index on a random value is the UNIQUE
-- index on event_id, which exactly-once delivery needs.
--
-- Times are TEXT in db.TimeFormat (fixed-width UTC), so text order is time
-- order. Plain SQL that PostgreSQL also accepts (partial indexes included).

CREATE TABLE end_users (
    id            INTEGER PRIMARY KEY,
    end_user_id   TEXT NOT NULL UNIQUE,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    account_count INTEGER NOT NULL DEFAULT 0,
    event_count   INTEGER NOT NULL DEFAULT 0
);

-- accounts: one row per account_id seen in any event. A row created by a job
-- event that overtook account.added has NULL platform and created_at until
-- account.added arrives. The monitoring status (and connected) carry the
-- order key of the fact that set them: status_rank 1 = the initial status of
-- account.added, 2 = an account.monitoring_status.updated; status_at = the
-- time of that fact. A fact replaces the current one only when its
-- (rank, at) is not smaller, so deliveries may arrive in any order.
CREATE TABLE accounts (
    id                   INTEGER PRIMARY KEY,
    account_id           TEXT NOT NULL UNIQUE,
    end_user_ref         INTEGER REFERENCES end_users (id),
    platform_id          TEXT,
    platform_name        TEXT,
    platform_type        TEXT,
    link_token_id        TEXT,
    created_at           TEXT,
    connected            INTEGER CHECK (connected IN (0, 1)),
    monitoring_status    TEXT,
    monitoring_status_at TEXT,
    status_rank          INTEGER NOT NULL DEFAULT 0,
    first_seen_at        TEXT NOT NULL,
    last_event_at        TEXT NOT NULL,
    event_count          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX accounts_end_user ON accounts (end_user_ref, id);
CREATE INDEX accounts_status ON accounts (monitoring_status, id);
CREATE INDEX accounts_platform ON accounts (platform_id, id);

-- link_tokens_seen: tokens named by events (link_token_id of account.added
-- and job payloads). Linkdesk's own minted tokens live elsewhere and join on
-- link_token_id. The token's events are events.link_token_ref.
CREATE TABLE link_tokens_seen (
    id              INTEGER PRIMARY KEY,
    link_token_id   TEXT NOT NULL UNIQUE,
    account_ref     INTEGER REFERENCES accounts (id),
    end_user_ref    INTEGER REFERENCES end_users (id),
    first_seen_at   TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    event_count     INTEGER NOT NULL DEFAULT 0,
    success_count   INTEGER NOT NULL DEFAULT 0,
    error_count     INTEGER NOT NULL DEFAULT 0,
    pending_count   INTEGER NOT NULL DEFAULT 0,
    last_job        TEXT,
    last_outcome    TEXT,
    last_outcome_at TEXT,
    last_error_type TEXT,
    last_error_code TEXT
);

-- events: every accepted delivery, once per event_id. id is the receive
-- order and the keyset of every event list. occurred_at is the payload's own
-- time (created_at of account.added, timestamp of job events, the
-- X-Timestamp for account.monitoring_status.updated, which carries none);
-- projection is 'projected', 'unknown' (an event name Linkdesk does not
-- know: stored and shown, never projected) or 'failed' (a payload field of
-- the wrong type: stored with the error, not projected).
CREATE TABLE events (
    id               INTEGER PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    event            TEXT NOT NULL,
    account_ref      INTEGER REFERENCES accounts (id),
    end_user_ref     INTEGER REFERENCES end_users (id),
    link_token_ref   INTEGER REFERENCES link_tokens_seen (id),
    outcome          TEXT,
    occurred_at      TEXT,
    sent_at          TEXT,
    received_at      TEXT NOT NULL,
    last_received_at TEXT NOT NULL,
    delivery_count   INTEGER NOT NULL DEFAULT 1,
    projection       TEXT NOT NULL CHECK (projection IN ('projected', 'unknown', 'failed')),
    projection_error TEXT,
    webhook_id       TEXT,
    api_version      TEXT,
    signature        TEXT,
    body             TEXT NOT NULL
);
CREATE INDEX events_account ON events (account_ref, id);
CREATE INDEX events_end_user ON events (end_user_ref, id);
CREATE INDEX events_link_token ON events (link_token_ref, id);
CREATE INDEX events_event ON events (event, id);

-- account_jobs: per account and job name the latest outcome by the job's
-- own timestamp.
CREATE TABLE account_jobs (
    account_ref   INTEGER NOT NULL REFERENCES accounts (id),
    job           TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    at            TEXT NOT NULL,
    error_type    TEXT,
    error_code    TEXT,
    link_token_id TEXT,
    event_ref     INTEGER NOT NULL REFERENCES events (id),
    PRIMARY KEY (account_ref, job)
);

-- monitoring_status_history: every status an event reported, with the same
-- order key as accounts; a timeline sorts by (status_rank, at, id).
CREATE TABLE monitoring_status_history (
    id          INTEGER PRIMARY KEY,
    account_ref INTEGER NOT NULL REFERENCES accounts (id),
    event_ref   INTEGER NOT NULL REFERENCES events (id),
    status      TEXT NOT NULL,
    connected   INTEGER,
    status_rank INTEGER NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX monitoring_status_history_account ON monitoring_status_history (account_ref, status_rank, at, id);

-- dd_switches: one row per direct_deposit_switch.added event.
CREATE TABLE dd_switches (
    id               INTEGER PRIMARY KEY,
    event_ref        INTEGER NOT NULL UNIQUE REFERENCES events (id),
    account_ref      INTEGER REFERENCES accounts (id),
    end_user_ref     INTEGER REFERENCES end_users (id),
    link_token_id    TEXT,
    at               TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    error_type       TEXT,
    error_code       TEXT,
    action           TEXT,
    allocation_type  TEXT,
    allocation_value REAL,
    target_name      TEXT,
    target_type      TEXT,
    target_last4     TEXT,
    card_name        TEXT
);
CREATE INDEX dd_switches_account ON dd_switches (account_ref, at);

-- Counters the dashboard reads instead of scanning events, bumped in the
-- ingest transaction. hour is the receive time truncated to the hour.
CREATE TABLE event_counts (
    hour       TEXT NOT NULL,
    event      TEXT NOT NULL,
    accepted   INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, event)
);
CREATE TABLE job_outcome_counts (
    hour    TEXT NOT NULL,
    job     TEXT NOT NULL,
    outcome TEXT NOT NULL,
    n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, job, outcome)
);
CREATE TABLE rejection_counts (
    hour   TEXT NOT NULL,
    reason TEXT NOT NULL,
    n      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, reason)
);
-- status_counts: accounts by current monitoring status ('' = not known yet).
CREATE TABLE status_counts (
    monitoring_status TEXT PRIMARY KEY,
    n                 INTEGER NOT NULL DEFAULT 0
);
-- totals: events, deliveries, duplicates, end_users, accounts, link_tokens,
-- rejections, rejections_unrecorded.
CREATE TABLE totals (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL DEFAULT 0
);

-- webhook_rejections: refused deliveries, for staff. headers holds the
-- headers that matter (never cookies or API secrets); body is kept only when
-- the signature was valid. Old rows are pruned (db.IngestOptions.KeepRejections);
-- rejection_counts keeps the totals.
CREATE TABLE webhook_rejections (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      INTEGER NOT NULL,
    remote_addr TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body_size   INTEGER NOT NULL,
    body_sha256 TEXT NOT NULL,
    body        BLOB
);
CREATE INDEX webhook_rejections_reason ON webhook_rejections (reason, id);

-- fetch_queue: data fetches after identity/employment/income/allocation
-- events and successful switches. state queued -> running -> done | failed
-- (or back to queued with a later run_at after a failure). For a running row
-- run_at is the lease expiry: a worker that died leaves it to be claimed
-- again. At most one queued row per (account, kind): a newer event only
-- moves its event_ref.
CREATE TABLE fetch_queue (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    account_ref  INTEGER NOT NULL REFERENCES accounts (id),
    event_ref    INTEGER NOT NULL REFERENCES events (id),
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    run_at       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    snapshot_ref INTEGER,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX fetch_queue_due ON fetch_queue (run_at, id) WHERE state IN ('queued', 'running');
CREATE UNIQUE INDEX fetch_queue_one_queued ON fetch_queue (account_ref, kind) WHERE state = 'queued';
CREATE INDEX fetch_queue_account ON fetch_queue (account_ref, id);

-- data_snapshots: what a fetch returned, every time (Pinwheel serves only
-- the latest; campaigns compare allocations before and after).
CREATE TABLE data_snapshots (
    id               INTEGER PRIMARY KEY,
    account_ref      INTEGER NOT NULL REFERENCES accounts (id),
    kind             TEXT NOT NULL,
    fetched_at       TEXT NOT NULL,
    refreshed_at     TEXT,
    source_event_ref INTEGER REFERENCES events (id),
    body_sha256      TEXT NOT NULL,
    body             TEXT NOT NULL
);
CREATE INDEX data_snapshots_account ON data_snapshots (account_ref, kind, id);
