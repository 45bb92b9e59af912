-- PostgreSQL twin of migrations/008_browse_lighter.sql: the same tables, columns and indexes (what they mean is said there).
DROP INDEX accounts_status_activity;
DROP INDEX accounts_platform_activity;
DROP INDEX accounts_activity;
CREATE INDEX accounts_activity ON accounts (last_event_at, id, monitoring_status, platform_id, connected);
