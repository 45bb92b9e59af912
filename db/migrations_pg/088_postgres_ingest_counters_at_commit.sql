-- The counters that triggers keep from the accounts table (the facets of
-- 003, the platform and status counts and the daily status transitions of
-- 050) are now updated when the transaction commits (constraint triggers,
-- DEFERRABLE INITIALLY DEFERRED) instead of at each row's change.
--
-- Ingest batches of several instances run at the same time and take the
-- "ingest" lock only for their last part: the counters, the notifications
-- and the commit (db/ingest.go, "Several writers"). A counter row changed by a trigger at the row's change would
-- stay locked from the middle of a batch to its commit, so every other
-- batch touching the same platform or status would wait for it, and two
-- batches changing two counters in opposite orders would deadlock. At
-- commit, after the lock, one batch at a time changes them.
--
-- The functions are unchanged: a deferred row trigger still sees the OLD
-- and NEW of each change, fired in the order of the changes. SQLite has
-- one writer and keeps its triggers as they are.
DROP TRIGGER accounts_facets_insert ON accounts;
DROP TRIGGER accounts_facets_update ON accounts;
DROP TRIGGER accounts_platform_status_insert ON accounts;
DROP TRIGGER accounts_platform_status_update ON accounts;
DROP TRIGGER accounts_status_transition ON accounts;

CREATE CONSTRAINT TRIGGER accounts_facets_insert AFTER INSERT ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION accounts_facets_insert();
CREATE CONSTRAINT TRIGGER accounts_facets_update AFTER UPDATE OF platform_id, platform_name, connected, last_job_outcome ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION accounts_facets_update();
CREATE CONSTRAINT TRIGGER accounts_platform_status_insert AFTER INSERT ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION accounts_platform_status();
CREATE CONSTRAINT TRIGGER accounts_platform_status_update AFTER UPDATE OF platform_id, monitoring_status ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION accounts_platform_status();
CREATE CONSTRAINT TRIGGER accounts_status_transition AFTER UPDATE OF monitoring_status ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.monitoring_status IS DISTINCT FROM NEW.monitoring_status AND NEW.monitoring_status IS NOT NULL)
    EXECUTE FUNCTION accounts_status_transition();

-- The totals of end users, accounts and link tokens seen: a batch used to
-- count the rows above the largest ids it started from, which holds only
-- while batches run one at a time (another batch's new rows lie there
-- too, and a row it created and this batch then updated looks new). Each
-- inserted row now counts itself, at commit like the counters above (an
-- upsert that updates fires no INSERT trigger). SQLite's committer still
-- counts them (db/ingest.go, newIDs).
CREATE FUNCTION ingest_row_total() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO totals (name, n) VALUES (TG_ARGV[0], 1) ON CONFLICT (name) DO UPDATE SET n = totals.n + 1;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER end_users_total AFTER INSERT ON end_users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ingest_row_total('end_users');
CREATE CONSTRAINT TRIGGER accounts_total AFTER INSERT ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ingest_row_total('accounts');
CREATE CONSTRAINT TRIGGER link_tokens_seen_total AFTER INSERT ON link_tokens_seen
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ingest_row_total('link_tokens');

-- The newest event id a reader of new events may treat as final: of all
-- events, or of one account's or end user's (col names the column, ref its
-- value). db/events_horizon.go says why and how. The three reads run in
-- this order, each in a snapshot of its own (a VOLATILE function in READ
-- COMMITTED): the sequence, the announcements of the batches still
-- running, then the newest visible id.
CREATE FUNCTION linkdesk_events_top(col TEXT DEFAULT NULL, ref BIGINT DEFAULT NULL) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v BIGINT;
    c BIGINT;
    m BIGINT;
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO v FROM events_id_seq;
    SELECT MIN(v - (((v - objid::bigint) % 2147483648) + 2147483648) % 2147483648) - 1 INTO c
    FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 2 AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid::bigint = (hashtext(current_schema()) & 2147483647);
    IF col = 'account_ref' THEN
        SELECT MAX(id) INTO m FROM events WHERE account_ref = ref;
    ELSIF col = 'end_user_ref' THEN
        SELECT MAX(id) INTO m FROM events WHERE end_user_ref = ref;
    ELSIF col IS NULL THEN
        SELECT MAX(id) INTO m FROM events;
    ELSE
        RAISE EXCEPTION 'linkdesk_events_top: unknown column %', col;
    END IF;
    RETURN LEAST(v, COALESCE(c, v), COALESCE(m, 0));
END $$;
