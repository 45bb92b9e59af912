-- PostgreSQL twin of migrations/087_job_paces.sql (what it means is said there).
CREATE TABLE job_paces (
    name    TEXT COLLATE "C" PRIMARY KEY,
    next_at TEXT COLLATE "C" NOT NULL
);
