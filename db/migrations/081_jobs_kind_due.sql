-- Due jobs by kind: a pool claims and probes the jobs of its own kinds in
-- this index's order, so that a backlog of other kinds (thousands of
-- queued fetches) costs it nothing (db/jobs.go, claimJobs). jobs_due stays
-- for the queue's next due job of any kind.
CREATE INDEX jobs_kind_due ON jobs (kind, run_at, id) WHERE state IN ('queued', 'running');
