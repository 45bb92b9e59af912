-- job_state_deltas: changes to job_state_counts not yet folded into it.
-- Readers add them up with the counts (jobStateCounts, jobs.go), so the
-- figures are exact at any moment.
--
-- On SQLite the table stays empty: one writer, and the jobs_count triggers
-- of 013 keep updating job_state_counts in the transactions that move jobs.
-- On PostgreSQL (the twin) those triggers append a row here instead: a
-- counter row updated by every job insert and state change is a row every
-- writer queues for until the holder commits (the ingest committer behind
-- a job runner, one runner behind another), and two runners moving jobs
-- between states in opposite directions (claim: queued → running; retry:
-- running → queued) locked the two rows in opposite orders and deadlocked.
-- Appended rows lock nothing that another transaction waits for. A job
-- runner folds them into job_state_counts now and then
-- (Store.foldJobStateCounts), one folder at a time.
CREATE TABLE job_state_deltas (
    id    INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,
    state TEXT NOT NULL,
    n     INTEGER NOT NULL
);
