-- PostgreSQL twin of migrations/050_health_board.sql: the same tables, columns and indexes (what they mean is said there).
ALTER TABLE accounts ADD COLUMN status_since TEXT COLLATE "C";
UPDATE accounts SET status_since = monitoring_status_at WHERE monitoring_status IS NOT NULL;
-- SQLite's AFTER triggers update the row again; here a BEFORE trigger sets
-- the column on the row being written.
CREATE FUNCTION accounts_status_since() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.monitoring_status IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.monitoring_status IS DISTINCT FROM NEW.monitoring_status) THEN
        NEW.status_since := NEW.monitoring_status_at;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER accounts_status_since_insert BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_status_since();
CREATE TRIGGER accounts_status_since_update BEFORE UPDATE OF monitoring_status ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_status_since();

CREATE INDEX accounts_waiting ON accounts (monitoring_status, status_since, id) WHERE monitoring_status <> 'active';
CREATE INDEX accounts_waiting_platform ON accounts (platform_id, monitoring_status, status_since, id) WHERE monitoring_status <> 'active';

CREATE TABLE platform_status_counts (
    platform_id       TEXT COLLATE "C" NOT NULL,
    monitoring_status TEXT COLLATE "C" NOT NULL,
    n                 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (platform_id, monitoring_status)
);
INSERT INTO platform_status_counts (platform_id, monitoring_status, n)
    SELECT COALESCE(platform_id, ''), COALESCE(monitoring_status, ''), COUNT(*) FROM accounts
    GROUP BY COALESCE(platform_id, ''), COALESCE(monitoring_status, '');
CREATE FUNCTION accounts_platform_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.platform_id IS NOT DISTINCT FROM NEW.platform_id AND OLD.monitoring_status IS NOT DISTINCT FROM NEW.monitoring_status THEN
            RETURN NULL;
        END IF;
        UPDATE platform_status_counts SET n = n - 1
            WHERE platform_id = COALESCE(OLD.platform_id, '') AND monitoring_status = COALESCE(OLD.monitoring_status, '');
    END IF;
    INSERT INTO platform_status_counts (platform_id, monitoring_status, n)
        VALUES (COALESCE(NEW.platform_id, ''), COALESCE(NEW.monitoring_status, ''), 1)
        ON CONFLICT (platform_id, monitoring_status) DO UPDATE SET n = platform_status_counts.n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_platform_status_insert AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_platform_status();
CREATE TRIGGER accounts_platform_status_update AFTER UPDATE OF platform_id, monitoring_status ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_platform_status();

CREATE TABLE status_transition_days (
    day         TEXT COLLATE "C" NOT NULL,
    from_status TEXT COLLATE "C" NOT NULL,
    to_status   TEXT COLLATE "C" NOT NULL,
    n           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, from_status, to_status)
);
INSERT INTO status_transition_days (day, from_status, to_status, n)
    SELECT substr(at, 1, 10), prev, status, COUNT(*) FROM (
        SELECT at, status, LAG(status) OVER (PARTITION BY account_ref ORDER BY at, id) AS prev FROM monitoring_status_history
    ) h WHERE prev IS NOT NULL AND prev <> status
    GROUP BY substr(at, 1, 10), prev, status;
CREATE FUNCTION accounts_status_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_transition_days (day, from_status, to_status, n)
        VALUES (substr(COALESCE(NEW.monitoring_status_at, NEW.last_event_at), 1, 10), COALESCE(OLD.monitoring_status, ''), NEW.monitoring_status, 1)
        ON CONFLICT (day, from_status, to_status) DO UPDATE SET n = status_transition_days.n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_status_transition AFTER UPDATE OF monitoring_status ON accounts FOR EACH ROW
    WHEN (OLD.monitoring_status IS DISTINCT FROM NEW.monitoring_status AND NEW.monitoring_status IS NOT NULL)
    EXECUTE FUNCTION accounts_status_transition();

ALTER TABLE events ADD COLUMN origin TEXT COLLATE "C" CHECK (origin IN ('reconciled'));

CREATE INDEX webhook_rejections_reason_at ON webhook_rejections (reason, at);
