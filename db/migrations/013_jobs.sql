-- One durable job queue for every background task: the data fetches after
-- webhooks (until now in fetch_queue), and next campaign launches,
-- remediation batches, alert checks and notification deliveries. See
-- db/jobs.go (the Store side) and worker/runner.go (the runner).
--
-- state: queued -> running -> done | failed, or back to queued with a later
-- run_at after a failure. run_at is when the row next falls due: for a
-- queued row the time it may run (now, or after a backoff), for a running
-- row the end of its lease (locked until then), so that a worker that died
-- (kill -9, power cut) leaves rows that the next claim takes again. One
-- ordered index thus answers "what is due", whether waiting or abandoned.
-- attempts counts claims; finishing a job requires the attempt it claimed,
-- so a worker whose lease was taken over cannot overwrite the outcome.
--
-- payload is the kind's JSON document. dedupe_key, where a kind sets one,
-- allows one queued row per (kind, key): enqueueing again replaces the
-- queued row's payload instead of adding a row. A running row does not
-- count, so work that arrives while a job runs is queued again. Rows are
-- kept after they finish (history; the dashboard's failures).
--
-- Plain SQL that PostgreSQL also accepts, triggers and json_object (written
-- json_build_object there) aside.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    dedupe_key  TEXT,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    run_at      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state IN ('queued', 'running');
CREATE UNIQUE INDEX jobs_dedupe ON jobs (kind, dedupe_key) WHERE state = 'queued';
CREATE INDEX jobs_key ON jobs (dedupe_key, id) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_failed ON jobs (updated_at, id) WHERE state = 'failed';

-- Every fetch_queue row moves over, history included: a fetch of kind K
-- becomes a job of kind 'fetch.K' whose payload names the account and the
-- event, deduplicated per account.
INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, last_error, created_at, updated_at, finished_at)
SELECT 'fetch.' || q.kind, json_object('account_id', a.account_id, 'event_id', e.event_id), a.account_id, q.state, q.run_at,
       q.attempts, q.last_error, q.created_at, q.updated_at, CASE WHEN q.state IN ('done', 'failed') THEN q.updated_at END
FROM fetch_queue q JOIN accounts a ON a.id = q.account_ref JOIN events e ON e.id = q.event_ref
ORDER BY q.id;

-- job_state_counts: rows of jobs per kind and state, for the dashboard and
-- the metrics (a backlog can hold many rows; counting them would be a
-- scan). Kept by triggers in the transactions that move rows.
CREATE TABLE job_state_counts (
    kind  TEXT NOT NULL,
    state TEXT NOT NULL,
    n     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, state)
);
INSERT INTO job_state_counts (kind, state, n) SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_state_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1)
        ON CONFLICT (kind, state) DO UPDATE SET n = job_state_counts.n + 1;
END;
CREATE TRIGGER jobs_count_update AFTER UPDATE OF state ON jobs
WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE job_state_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
    INSERT INTO job_state_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1)
        ON CONFLICT (kind, state) DO UPDATE SET n = job_state_counts.n + 1;
END;
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_state_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
END;

DROP TABLE fetch_queue_state_counts;
DROP TABLE fetch_queue;
