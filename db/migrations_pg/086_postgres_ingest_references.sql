-- The references that ingestion writes are kept by the committer and
-- checked on delete, not declared as foreign keys (PostgreSQL only; SQLite
-- declares and checks them all). docs/ARCHITECTURE.md, "References the
-- ingest keeps", says why; in short:
--
-- On PostgreSQL a foreign key check of an inserted row reads its parent
-- row FOR KEY SHARE: a query of its own, and a lock written to the
-- parent's row (a WAL record, a dirtied page). A webhook's batch checked
-- about eleven of them per event, and dropping them raised durable ingest
-- at c64 by about a sixth (docs/PERFORMANCE.md, "Sixth pass").
--
-- What the checks guarded is kept otherwise:
--   - every id below is written by the committer in the ingest lock, from
--     a row it read or wrote in the same transaction (the account, end
--     user, link token and event of the delivery); pay_sync's account_ref
--     also by the pay fetch and reconciliation jobs, from the account row
--     they read. None of the parent tables' rows is ever deleted or
--     renumbered by Linkdesk;
--   - the whole test suite runs on SQLite too, which checks every one of
--     them on every insert;
--   - a DELETE or TRUNCATE of parent rows that are still referenced, or a
--     change of a parent's id, fails with the foreign key's error (SQLSTATE
--     23503), by the statement triggers below, which cost nothing to
--     inserts and updates (unlike a foreign key they take no lock on the
--     parent, so a delete racing an insert that names the deleted row is
--     not caught: Linkdesk runs neither);
--   - Store.CheckReferences finds rows whose reference names no row; the
--     PostgreSQL tests run it after concurrent ingestion by two instances
--     and after a kill -9, and migrate-db runs it after a copy.
-- db/references.go lists the same references (ingestRefs), and
-- TestSchemas_Match checks that every foreign key of the SQLite schema is
-- either declared here or in that list.
ALTER TABLE accounts DROP CONSTRAINT accounts_end_user_ref_fkey;
ALTER TABLE link_tokens_seen DROP CONSTRAINT link_tokens_seen_account_ref_fkey;
ALTER TABLE link_tokens_seen DROP CONSTRAINT link_tokens_seen_end_user_ref_fkey;
ALTER TABLE events DROP CONSTRAINT events_account_ref_fkey;
ALTER TABLE events DROP CONSTRAINT events_end_user_ref_fkey;
ALTER TABLE events DROP CONSTRAINT events_link_token_ref_fkey;
ALTER TABLE account_jobs DROP CONSTRAINT account_jobs_account_ref_fkey;
ALTER TABLE account_jobs DROP CONSTRAINT account_jobs_event_ref_fkey;
ALTER TABLE monitoring_status_history DROP CONSTRAINT monitoring_status_history_account_ref_fkey;
ALTER TABLE monitoring_status_history DROP CONSTRAINT monitoring_status_history_event_ref_fkey;
ALTER TABLE dd_switches DROP CONSTRAINT dd_switches_account_ref_fkey;
ALTER TABLE dd_switches DROP CONSTRAINT dd_switches_end_user_ref_fkey;
ALTER TABLE dd_switches DROP CONSTRAINT dd_switches_event_ref_fkey;
ALTER TABLE cohort_accounts DROP CONSTRAINT cohort_accounts_account_ref_fkey;
ALTER TABLE pay_sync DROP CONSTRAINT pay_sync_account_ref_fkey;
ALTER TABLE pay_pending DROP CONSTRAINT pay_pending_account_ref_fkey;
ALTER TABLE pay_pending DROP CONSTRAINT pay_pending_event_ref_fkey;
ALTER TABLE pay_deletions DROP CONSTRAINT pay_deletions_account_ref_fkey;
ALTER TABLE pay_deletions DROP CONSTRAINT pay_deletions_event_ref_fkey;

-- linkdesk_restrict_delete refuses a DELETE that leaves a row referring to
-- a deleted one, and a TRUNCATE that leaves a row referring to the
-- truncated table (truncating the referring tables in the same statement
-- is allowed, as with foreign keys). Its arguments are pairs: a referring
-- table (in the trigger's own schema) and its column. It runs once per
-- statement, after it: on the deleted rows (the transition table "gone"),
-- or after every table of a TRUNCATE is emptied; it raises what a foreign
-- key would.
CREATE FUNCTION linkdesk_restrict_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    i integer := 0;
    hit bigint;
BEGIN
    WHILE i < TG_NARGS LOOP
        IF TG_OP = 'TRUNCATE' THEN
            EXECUTE format('SELECT c.%1$I FROM %3$I.%2$I c WHERE c.%1$I IS NOT NULL LIMIT 1', TG_ARGV[i + 1], TG_ARGV[i], TG_TABLE_SCHEMA) INTO hit;
        ELSE
            EXECUTE format('SELECT c.%1$I FROM %3$I.%2$I c JOIN gone g ON g.id = c.%1$I LIMIT 1', TG_ARGV[i + 1], TG_ARGV[i], TG_TABLE_SCHEMA) INTO hit;
        END IF;
        IF hit IS NOT NULL THEN
            RAISE EXCEPTION '% on table "%" leaves rows of table "%" referring to it', lower(TG_OP), TG_TABLE_NAME, TG_ARGV[i]
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = format('Key (id)=(%s) is still referenced from table "%s" (%s).', hit, TG_ARGV[i], TG_ARGV[i + 1]);
        END IF;
        i := i + 2;
    END LOOP;
    RETURN NULL;
END
$$;

-- linkdesk_keep_ids refuses an UPDATE that sets the id of a referenced
-- table (Linkdesk never does): a statement trigger on UPDATE OF id runs
-- only for a statement that names id in its SET list.
CREATE FUNCTION linkdesk_keep_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the id of table "%" is not updated: rows of other tables refer to it', TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END
$$;

CREATE TRIGGER end_users_restrict_delete AFTER DELETE ON end_users
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('accounts', 'end_user_ref', 'link_tokens_seen', 'end_user_ref',
        'events', 'end_user_ref', 'dd_switches', 'end_user_ref');
CREATE TRIGGER accounts_restrict_delete AFTER DELETE ON accounts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('link_tokens_seen', 'account_ref', 'events', 'account_ref',
        'account_jobs', 'account_ref', 'monitoring_status_history', 'account_ref', 'dd_switches', 'account_ref',
        'cohort_accounts', 'account_ref', 'pay_sync', 'account_ref', 'pay_pending', 'account_ref',
        'pay_deletions', 'account_ref');
CREATE TRIGGER link_tokens_seen_restrict_delete AFTER DELETE ON link_tokens_seen
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('events', 'link_token_ref');
CREATE TRIGGER events_restrict_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('account_jobs', 'event_ref', 'monitoring_status_history', 'event_ref',
        'dd_switches', 'event_ref', 'pay_pending', 'event_ref', 'pay_deletions', 'event_ref');

CREATE TRIGGER end_users_restrict_truncate AFTER TRUNCATE ON end_users FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('accounts', 'end_user_ref', 'link_tokens_seen', 'end_user_ref',
        'events', 'end_user_ref', 'dd_switches', 'end_user_ref');
CREATE TRIGGER accounts_restrict_truncate AFTER TRUNCATE ON accounts FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('link_tokens_seen', 'account_ref', 'events', 'account_ref',
        'account_jobs', 'account_ref', 'monitoring_status_history', 'account_ref', 'dd_switches', 'account_ref',
        'cohort_accounts', 'account_ref', 'pay_sync', 'account_ref', 'pay_pending', 'account_ref',
        'pay_deletions', 'account_ref');
CREATE TRIGGER link_tokens_seen_restrict_truncate AFTER TRUNCATE ON link_tokens_seen FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('events', 'link_token_ref');
CREATE TRIGGER events_restrict_truncate AFTER TRUNCATE ON events FOR EACH STATEMENT
    EXECUTE FUNCTION linkdesk_restrict_delete('account_jobs', 'event_ref', 'monitoring_status_history', 'event_ref',
        'dd_switches', 'event_ref', 'pay_pending', 'event_ref', 'pay_deletions', 'event_ref');

CREATE TRIGGER end_users_keep_ids BEFORE UPDATE OF id ON end_users FOR EACH STATEMENT EXECUTE FUNCTION linkdesk_keep_ids();
CREATE TRIGGER accounts_keep_ids BEFORE UPDATE OF id ON accounts FOR EACH STATEMENT EXECUTE FUNCTION linkdesk_keep_ids();
CREATE TRIGGER link_tokens_seen_keep_ids BEFORE UPDATE OF id ON link_tokens_seen FOR EACH STATEMENT EXECUTE FUNCTION linkdesk_keep_ids();
CREATE TRIGGER events_keep_ids BEFORE UPDATE OF id ON events FOR EACH STATEMENT EXECUTE FUNCTION linkdesk_keep_ids();
