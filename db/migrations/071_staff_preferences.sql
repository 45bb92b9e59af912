-- Each staff member's own preferences, apart from the staff row (which
-- sign-in and roles own): for now the time zone pages show times in. A
-- staff member without a row sees UTC. Plain SQL that PostgreSQL also
-- accepts.
CREATE TABLE staff_preferences (
    staff_id   INTEGER PRIMARY KEY REFERENCES staff (id),
    time_zone  TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
