-- job_paces: the start times a rate-capped job pool has handed out, shared
-- by every instance on the database (worker.Pool.Rate caps the deployment,
-- not each instance: Pinwheel's quota is the organisation's). next_at is
-- the first start not yet handed out, in db.TimeFormat, by the wall clock
-- of the instance that reserved last (db/job_pace.go).
CREATE TABLE job_paces (
    name    TEXT PRIMARY KEY,
    next_at TEXT NOT NULL
);
