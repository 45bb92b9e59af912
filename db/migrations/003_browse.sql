-- Find and read: the indexes and small projections that keep every list,
-- filter and count of the browse pages (dashboard, /accounts, /end-users,
-- /events, timelines, search) an index range, never a scan of events.
-- See db/browse.go. Plain SQL that PostgreSQL also accepts (triggers aside,
-- which PostgreSQL writes as functions).

-- Lists sort by latest activity, newest first, with keyset cursors on
-- (time, id). Activity times only grow, so a row that gets a new event
-- moves to the front and is never shown twice in one pass.
CREATE INDEX end_users_activity ON end_users (last_seen_at, id);
CREATE INDEX accounts_activity ON accounts (last_event_at, id);
CREATE INDEX accounts_status_activity ON accounts (monitoring_status, last_event_at, id);
CREATE INDEX accounts_platform_activity ON accounts (platform_id, last_event_at, id);
-- Disconnected accounts are the rare value of connected: a partial index.
CREATE INDEX accounts_disconnected_activity ON accounts (last_event_at, id) WHERE connected = 0;

-- The outcome of an account's most recent job (any job name), kept by the
-- triggers below from account_jobs, so that "last job failed" is a filter.
ALTER TABLE accounts ADD COLUMN last_job TEXT;
ALTER TABLE accounts ADD COLUMN last_job_outcome TEXT;
ALTER TABLE accounts ADD COLUMN last_job_at TEXT;
UPDATE accounts SET (last_job, last_job_outcome, last_job_at) = (
    SELECT j.job, j.outcome, j.at FROM account_jobs j WHERE j.account_ref = accounts.id ORDER BY j.at DESC, j.job LIMIT 1);
CREATE INDEX accounts_last_job_rare ON accounts (last_job_outcome, last_event_at, id) WHERE last_job_outcome IN ('error', 'pending');

-- Events: rare statuses and outcomes get partial indexes (a query names the
-- same condition, so the planner may use them); the common values walk the
-- primary key, where 50 matches come quickly.
CREATE INDEX events_duplicates ON events (id) WHERE delivery_count > 1;
CREATE INDEX events_outcome_rare ON events (outcome, id) WHERE outcome IN ('error', 'pending');

-- Failed fetches, for the dashboard's queue health.
CREATE INDEX fetch_queue_failed ON fetch_queue (updated_at, id) WHERE state = 'failed';

-- account_facet_counts: accounts per platform, per connected and per last
-- job outcome ('' = not known), the counts beside the filters of
-- /accounts. Monitoring statuses are counted by ingestion (status_counts).
-- label is the platform's name. Kept by triggers in the ingest transaction.
CREATE TABLE account_facet_counts (
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    n     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (facet, value)
);
INSERT INTO account_facet_counts (facet, value, label, n)
    SELECT 'platform', COALESCE(platform_id, ''), COALESCE(MAX(platform_name), ''), COUNT(*) FROM accounts GROUP BY COALESCE(platform_id, '');
INSERT INTO account_facet_counts (facet, value, label, n)
    SELECT 'connected', COALESCE(CAST(connected AS TEXT), ''), '', COUNT(*) FROM accounts GROUP BY COALESCE(CAST(connected AS TEXT), '');
INSERT INTO account_facet_counts (facet, value, label, n)
    SELECT 'last_job_outcome', COALESCE(last_job_outcome, ''), '', COUNT(*) FROM accounts GROUP BY COALESCE(last_job_outcome, '');

CREATE TRIGGER account_jobs_last_insert AFTER INSERT ON account_jobs BEGIN
    UPDATE accounts SET last_job = NEW.job, last_job_outcome = NEW.outcome, last_job_at = NEW.at
    WHERE id = NEW.account_ref AND (last_job_at IS NULL OR NEW.at >= last_job_at);
END;
CREATE TRIGGER account_jobs_last_update AFTER UPDATE ON account_jobs BEGIN
    UPDATE accounts SET last_job = NEW.job, last_job_outcome = NEW.outcome, last_job_at = NEW.at
    WHERE id = NEW.account_ref AND (last_job_at IS NULL OR NEW.at >= last_job_at);
END;

CREATE TRIGGER accounts_facets_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO account_facet_counts (facet, value, label, n) VALUES ('platform', COALESCE(NEW.platform_id, ''), COALESCE(NEW.platform_name, ''), 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + 1,
        label = CASE WHEN excluded.label <> '' THEN excluded.label ELSE account_facet_counts.label END;
    INSERT INTO account_facet_counts (facet, value, n) VALUES ('connected', COALESCE(CAST(NEW.connected AS TEXT), ''), 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + 1;
    INSERT INTO account_facet_counts (facet, value, n) VALUES ('last_job_outcome', COALESCE(NEW.last_job_outcome, ''), 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + 1;
END;
CREATE TRIGGER accounts_facets_platform AFTER UPDATE OF platform_id, platform_name ON accounts
WHEN OLD.platform_id IS NOT NEW.platform_id OR (NEW.platform_name IS NOT NULL AND OLD.platform_name IS NOT NEW.platform_name) BEGIN
    UPDATE account_facet_counts SET n = n - 1 WHERE facet = 'platform' AND value = COALESCE(OLD.platform_id, '');
    INSERT INTO account_facet_counts (facet, value, label, n) VALUES ('platform', COALESCE(NEW.platform_id, ''), COALESCE(NEW.platform_name, ''), 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + 1,
        label = CASE WHEN excluded.label <> '' THEN excluded.label ELSE account_facet_counts.label END;
END;
CREATE TRIGGER accounts_facets_connected AFTER UPDATE OF connected ON accounts
WHEN OLD.connected IS NOT NEW.connected BEGIN
    UPDATE account_facet_counts SET n = n - 1 WHERE facet = 'connected' AND value = COALESCE(CAST(OLD.connected AS TEXT), '');
    INSERT INTO account_facet_counts (facet, value, n) VALUES ('connected', COALESCE(CAST(NEW.connected AS TEXT), ''), 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + 1;
END;
CREATE TRIGGER accounts_facets_last_job AFTER UPDATE OF last_job_outcome ON accounts
WHEN OLD.last_job_outcome IS NOT NEW.last_job_outcome BEGIN
    UPDATE account_facet_counts SET n = n - 1 WHERE facet = 'last_job_outcome' AND value = COALESCE(OLD.last_job_outcome, '');
    INSERT INTO account_facet_counts (facet, value, n) VALUES ('last_job_outcome', COALESCE(NEW.last_job_outcome, ''), 1)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + 1;
END;

-- fetch_queue_state_counts: rows of fetch_queue per state, for the
-- dashboard's queue health (a backlog can hold many rows; counting them
-- would be a scan). Kept by triggers in the transactions that move rows.
CREATE TABLE fetch_queue_state_counts (
    state TEXT PRIMARY KEY,
    n     INTEGER NOT NULL DEFAULT 0
);
INSERT INTO fetch_queue_state_counts (state, n) SELECT state, COUNT(*) FROM fetch_queue GROUP BY state;
CREATE TRIGGER fetch_queue_count_insert AFTER INSERT ON fetch_queue BEGIN
    INSERT INTO fetch_queue_state_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = fetch_queue_state_counts.n + 1;
END;
CREATE TRIGGER fetch_queue_count_update AFTER UPDATE OF state ON fetch_queue
WHEN OLD.state IS NOT NEW.state BEGIN
    UPDATE fetch_queue_state_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO fetch_queue_state_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = fetch_queue_state_counts.n + 1;
END;
CREATE TRIGGER fetch_queue_count_delete AFTER DELETE ON fetch_queue BEGIN
    UPDATE fetch_queue_state_counts SET n = n - 1 WHERE state = OLD.state;
END;
