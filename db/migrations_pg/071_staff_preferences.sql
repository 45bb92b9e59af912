-- PostgreSQL twin of migrations/071_staff_preferences.sql: each staff member's own preferences (the time zone).
CREATE TABLE staff_preferences (
    staff_id   BIGINT PRIMARY KEY REFERENCES staff (id),
    time_zone  TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);
