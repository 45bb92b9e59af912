-- PostgreSQL twin of migrations/006_staff_sessions.sql: the same tables, columns and indexes (what they mean is said there).
ALTER TABLE staff ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;
