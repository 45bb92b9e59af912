-- Account health, part one: what the monitoring board (/monitoring) and the
-- alert rules read, kept in the transactions that change accounts, so that
-- neither ever scans events or accounts. See db/health.go.
-- Plain SQL that PostgreSQL also accepts (triggers aside, which PostgreSQL
-- writes as functions; LAG() is standard).

-- status_since: when the account's current monitoring status began (the
-- time of the fact that moved it there). monitoring_status_at moves with
-- every status fact, also one that confirms the same status (a fetch after
-- each update), so it cannot say how long an account has waited.
ALTER TABLE accounts ADD COLUMN status_since TEXT;
UPDATE accounts SET status_since = monitoring_status_at WHERE monitoring_status IS NOT NULL;
CREATE TRIGGER accounts_status_since_insert AFTER INSERT ON accounts
WHEN NEW.monitoring_status IS NOT NULL BEGIN
    UPDATE accounts SET status_since = NEW.monitoring_status_at WHERE id = NEW.id;
END;
CREATE TRIGGER accounts_status_since_update AFTER UPDATE OF monitoring_status ON accounts
WHEN OLD.monitoring_status IS NOT NEW.monitoring_status BEGIN
    UPDATE accounts SET status_since = NEW.monitoring_status_at WHERE id = NEW.id;
END;

-- Accounts that are not active, by how long they have waited: the board's
-- list and the platform rule. Partial: a healthy installation keeps almost
-- every account active, so these stay small, and an active account's
-- writes never touch them. Queries repeat the condition
-- (monitoring_status <> 'active') so that SQLite may use them.
CREATE INDEX accounts_waiting ON accounts (monitoring_status, status_since, id) WHERE monitoring_status <> 'active';
CREATE INDEX accounts_waiting_platform ON accounts (platform_id, monitoring_status, status_since, id) WHERE monitoring_status <> 'active';

-- platform_status_counts: accounts per platform and monitoring status ('' =
-- not known yet), the board's status × platform table.
CREATE TABLE platform_status_counts (
    platform_id       TEXT NOT NULL,
    monitoring_status TEXT NOT NULL,
    n                 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (platform_id, monitoring_status)
);
INSERT INTO platform_status_counts (platform_id, monitoring_status, n)
    SELECT COALESCE(platform_id, ''), COALESCE(monitoring_status, ''), COUNT(*) FROM accounts
    GROUP BY COALESCE(platform_id, ''), COALESCE(monitoring_status, '');
CREATE TRIGGER accounts_platform_status_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO platform_status_counts (platform_id, monitoring_status, n)
        VALUES (COALESCE(NEW.platform_id, ''), COALESCE(NEW.monitoring_status, ''), 1)
        ON CONFLICT (platform_id, monitoring_status) DO UPDATE SET n = platform_status_counts.n + 1;
END;
CREATE TRIGGER accounts_platform_status_update AFTER UPDATE OF platform_id, monitoring_status ON accounts
WHEN OLD.platform_id IS NOT NEW.platform_id OR OLD.monitoring_status IS NOT NEW.monitoring_status BEGIN
    UPDATE platform_status_counts SET n = n - 1
        WHERE platform_id = COALESCE(OLD.platform_id, '') AND monitoring_status = COALESCE(OLD.monitoring_status, '');
    INSERT INTO platform_status_counts (platform_id, monitoring_status, n)
        VALUES (COALESCE(NEW.platform_id, ''), COALESCE(NEW.monitoring_status, ''), 1)
        ON CONFLICT (platform_id, monitoring_status) DO UPDATE SET n = platform_status_counts.n + 1;
END;

-- status_transition_days: status changes per day (UTC, the day of the fact
-- that moved the status) from one status to another ('' = none yet), the
-- board's 30-day chart. Backfilled from the status history in time order
-- (the history keeps every fact; the order key of the accounts table ranks
-- API reads above webhooks, which the backfill does not replay).
CREATE TABLE status_transition_days (
    day         TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, from_status, to_status)
);
INSERT INTO status_transition_days (day, from_status, to_status, n)
    SELECT substr(at, 1, 10), prev, status, COUNT(*) FROM (
        SELECT at, status, LAG(status) OVER (PARTITION BY account_ref ORDER BY at, id) AS prev FROM monitoring_status_history
    ) h WHERE prev IS NOT NULL AND prev <> status
    GROUP BY substr(at, 1, 10), prev, status;
CREATE TRIGGER accounts_status_transition AFTER UPDATE OF monitoring_status ON accounts
WHEN OLD.monitoring_status IS NOT NEW.monitoring_status AND NEW.monitoring_status IS NOT NULL BEGIN
    INSERT INTO status_transition_days (day, from_status, to_status, n)
        VALUES (substr(COALESCE(NEW.monitoring_status_at, NEW.last_event_at), 1, 10), COALESCE(OLD.monitoring_status, ''), NEW.monitoring_status, 1)
        ON CONFLICT (day, from_status, to_status) DO UPDATE SET n = status_transition_days.n + 1;
END;

-- events.origin: NULL for a delivery Pinwheel sent; 'reconciled' for an
-- event Linkdesk wrote after reading the API because the webhook never came
-- (db/reconcile.go), shown as reconciled rather than received.
ALTER TABLE events ADD COLUMN origin TEXT CHECK (origin IN ('reconciled'));

-- Refused deliveries by reason and time: the signature-failure rule counts
-- a window of them (webhook_rejections is pruned to its newest rows).
CREATE INDEX webhook_rejections_reason_at ON webhook_rejections (reason, at);
