-- Lighter browse indexes. 003 kept three indexes of accounts by activity
-- (all, per monitoring status, per platform); last_event_at moves on every
-- event, so each event rewrote an entry in all three, and the per-platform
-- one scattered those writes over every platform's range (measured: a
-- quarter of the WAL frames of ingestion came from 003, see
-- docs/PERFORMANCE.md). One covering index replaces them: a status or
-- platform filter either walks it, testing the covered columns before
-- reading a row, or, for a rare value, starts from ingestion's own
-- (monitoring_status, id) and (platform_id, id) indexes and sorts the few
-- matches (db/browse.go chooses by the counters).
DROP INDEX accounts_status_activity;
DROP INDEX accounts_platform_activity;
DROP INDEX accounts_activity;
CREATE INDEX accounts_activity ON accounts (last_event_at, id, monitoring_status, platform_id, connected);
