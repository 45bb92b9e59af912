-- PostgreSQL twin of migrations/020_staff_must_change_password.sql: the same tables, columns and indexes (what they mean is said there).
ALTER TABLE staff ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1));
