-- PostgreSQL twin of migrations/003_browse.sql: the same tables, columns and indexes (what they mean is said there),
-- except fetch_queue_state_counts (see 002).

CREATE INDEX end_users_activity ON end_users (last_seen_at, id);
CREATE INDEX accounts_activity ON accounts (last_event_at, id);
CREATE INDEX accounts_status_activity ON accounts (monitoring_status, last_event_at, id);
CREATE INDEX accounts_platform_activity ON accounts (platform_id, last_event_at, id);
CREATE INDEX accounts_disconnected_activity ON accounts (last_event_at, id) WHERE connected = 0;

ALTER TABLE accounts ADD COLUMN last_job TEXT COLLATE "C";
ALTER TABLE accounts ADD COLUMN last_job_outcome TEXT COLLATE "C";
ALTER TABLE accounts ADD COLUMN last_job_at TEXT COLLATE "C";
UPDATE accounts SET (last_job, last_job_outcome, last_job_at) = (
    SELECT j.job, j.outcome, j.at FROM account_jobs j WHERE j.account_ref = accounts.id ORDER BY j.at DESC, j.job LIMIT 1);
CREATE INDEX accounts_last_job_rare ON accounts (last_job_outcome, last_event_at, id) WHERE last_job_outcome IN ('error', 'pending');

CREATE INDEX events_duplicates ON events (id) WHERE delivery_count > 1;
CREATE INDEX events_outcome_rare ON events (outcome, id) WHERE outcome IN ('error', 'pending');

CREATE TABLE account_facet_counts (
    facet TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    label TEXT COLLATE "C" NOT NULL DEFAULT '',
    n     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (facet, value)
);
INSERT INTO account_facet_counts (facet, value, label, n)
    SELECT 'platform', COALESCE(platform_id, ''), COALESCE(MAX(platform_name), ''), COUNT(*) FROM accounts GROUP BY COALESCE(platform_id, '');
INSERT INTO account_facet_counts (facet, value, label, n)
    SELECT 'connected', COALESCE(CAST(connected AS TEXT), ''), '', COUNT(*) FROM accounts GROUP BY COALESCE(CAST(connected AS TEXT), '');
INSERT INTO account_facet_counts (facet, value, label, n)
    SELECT 'last_job_outcome', COALESCE(last_job_outcome, ''), '', COUNT(*) FROM accounts GROUP BY COALESCE(last_job_outcome, '');

-- SQLite's triggers, written as PostgreSQL trigger functions.
CREATE FUNCTION account_jobs_last() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE accounts SET last_job = NEW.job, last_job_outcome = NEW.outcome, last_job_at = NEW.at
    WHERE id = NEW.account_ref AND (last_job_at IS NULL OR NEW.at >= last_job_at);
    RETURN NULL;
END $$;
CREATE TRIGGER account_jobs_last_insert AFTER INSERT ON account_jobs FOR EACH ROW EXECUTE FUNCTION account_jobs_last();
CREATE TRIGGER account_jobs_last_update AFTER UPDATE ON account_jobs FOR EACH ROW EXECUTE FUNCTION account_jobs_last();

-- account_facet_bump adds d to the count of (facet, value), keeping the
-- label when the new one is empty.
CREATE FUNCTION account_facet_bump(f TEXT, v TEXT, l TEXT, d BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO account_facet_counts (facet, value, label, n) VALUES (f, v, l, d)
        ON CONFLICT (facet, value) DO UPDATE SET n = account_facet_counts.n + excluded.n,
        label = CASE WHEN excluded.label <> '' THEN excluded.label ELSE account_facet_counts.label END;
$$;
CREATE FUNCTION account_facet_drop(f TEXT, v TEXT) RETURNS void LANGUAGE sql AS $$
    UPDATE account_facet_counts SET n = n - 1 WHERE facet = f AND value = v;
$$;
CREATE FUNCTION accounts_facets_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM account_facet_bump('platform', COALESCE(NEW.platform_id, ''), COALESCE(NEW.platform_name, ''), 1);
    PERFORM account_facet_bump('connected', COALESCE(CAST(NEW.connected AS TEXT), ''), '', 1);
    PERFORM account_facet_bump('last_job_outcome', COALESCE(NEW.last_job_outcome, ''), '', 1);
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_facets_insert AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_facets_insert();
CREATE FUNCTION accounts_facets_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.platform_id IS DISTINCT FROM NEW.platform_id OR (NEW.platform_name IS NOT NULL AND OLD.platform_name IS DISTINCT FROM NEW.platform_name) THEN
        PERFORM account_facet_drop('platform', COALESCE(OLD.platform_id, ''));
        PERFORM account_facet_bump('platform', COALESCE(NEW.platform_id, ''), COALESCE(NEW.platform_name, ''), 1);
    END IF;
    IF OLD.connected IS DISTINCT FROM NEW.connected THEN
        PERFORM account_facet_drop('connected', COALESCE(CAST(OLD.connected AS TEXT), ''));
        PERFORM account_facet_bump('connected', COALESCE(CAST(NEW.connected AS TEXT), ''), '', 1);
    END IF;
    IF OLD.last_job_outcome IS DISTINCT FROM NEW.last_job_outcome THEN
        PERFORM account_facet_drop('last_job_outcome', COALESCE(OLD.last_job_outcome, ''));
        PERFORM account_facet_bump('last_job_outcome', COALESCE(NEW.last_job_outcome, ''), '', 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_facets_update AFTER UPDATE OF platform_id, platform_name, connected, last_job_outcome ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_facets_update();
