-- An account's latest job (last_job, last_job_outcome, last_job_at) is
-- written by the committer with the event's other account columns, one
-- write of the row per job event (db/project.go, mergeAccount): the
-- triggers that wrote it a second time after each account_jobs upsert go.
-- The rule is theirs: a job outcome not older than the stored one wins.
-- Instances of an older version that still ingest stop keeping it once
-- this runs: stop them before starting this version (README, "Upgrading
-- several instances").
DROP TRIGGER account_jobs_last_insert ON account_jobs;
DROP TRIGGER account_jobs_last_update ON account_jobs;
DROP FUNCTION account_jobs_last();
