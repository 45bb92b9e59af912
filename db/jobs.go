package db

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The job queue: durable rows that background work claims with a lease,
// retries with backoff and resumes after a restart (the table and its rules
// are in migrations/013_jobs.sql). Use cases enqueue inside their own
// transaction (enqueueJob), so a job exists exactly when the change that
// asked for it committed; worker.Runner claims and finishes them.
//
// The claim is the one statement a PostgreSQL backend runs differently
// (SELECT … FOR UPDATE SKIP LOCKED instead of relying on SQLite's single
// writer): it lives in claimJobs, with that difference in the dialect's
// claimLock.

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobStates lists the states in their order of progress.
var JobStates = []string{JobQueued, JobRunning, JobDone, JobFailed}

// NewJob is a job to enqueue.
type NewJob struct {
	// Kind names the work; worker.Runner dispatches on it.
	Kind string
	// Payload is the job's input, stored as JSON (a json.RawMessage or
	// []byte is stored as is).
	Payload any
	// DedupeKey, when set, keeps one queued job per (Kind, DedupeKey):
	// enqueueing again replaces the queued job's payload and keeps its
	// place.
	DedupeKey string
	// RunAt is when it may run first; zero means now.
	RunAt time.Time
}

// Job is one row of the queue.
type Job struct {
	ID        int64
	Kind      string
	Payload   json.RawMessage
	DedupeKey string
	State     string
	// RunAt is when the job next falls due: for a queued job when it may
	// run, for a running one when its lease ends.
	RunAt time.Time
	// Attempts counts claims, the running one included.
	Attempts   int
	LastError  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// Decode reads the job's payload into v.
func (j Job) Decode(v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return fmt.Errorf("db: job %d (%s) payload: %w", j.ID, j.Kind, err)
	}
	return nil
}

// sqlJobEnqueue inserts a job; a queued job of the same kind and dedupe key
// absorbs it instead (a NULL key never conflicts). The ingest path prepares
// it once (stmts.go); enqueueJob runs it in any transaction.
const sqlJobEnqueue = `INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, created_at, updated_at)
VALUES (?, ?, ?, 'queued', ?, 0, ?, ?)
ON CONFLICT (kind, dedupe_key) WHERE state = 'queued' DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at
RETURNING id`

// jobEnqueueArgs are the arguments of sqlJobEnqueue for j at now.
func jobEnqueueArgs(j NewJob, now time.Time) ([]any, error) {
	if j.Kind == "" {
		return nil, errors.New("db: enqueue: job without a kind")
	}
	var payload []byte
	switch p := j.Payload.(type) {
	case json.RawMessage:
		payload = p
	case []byte:
		payload = p
	case nil:
		payload = []byte("{}")
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("db: enqueue %s: %w", j.Kind, err)
		}
		payload = b
	}
	if !json.Valid(payload) {
		return nil, fmt.Errorf("db: enqueue %s: payload is not JSON", j.Kind)
	}
	runAt := j.RunAt
	if runAt.IsZero() {
		runAt = now
	}
	at := FormatTime(now)
	return []any{j.Kind, string(payload), nullStr(j.DedupeKey), FormatTime(runAt), at, at}, nil
}

// enqueueJob adds j inside tx, so that the job exists exactly when the
// change that asked for it commits. It returns the job's id (the queued
// job's, when one absorbed it).
func (s *Store) enqueueJob(ctx context.Context, tx *sql.Tx, j NewJob) (int64, error) {
	args, err := jobEnqueueArgs(j, s.now())
	if err != nil {
		return 0, err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, sqlJobEnqueue, args...).Scan(&id); err != nil {
		return 0, fmt.Errorf("db: enqueue %s: %w", j.Kind, err)
	}
	return id, s.changed(ctx, tx, TopicJobs)
}

// EnqueueJob adds one job in its own transaction (a use case that changes
// something else enqueues with enqueueJob in its transaction instead).
func (s *Store) EnqueueJob(ctx context.Context, j NewJob) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = s.enqueueJob(ctx, tx, j)
		return err
	})
	return id, err
}

// claimJobs is the statement (and its arguments) that leases up to n due
// jobs of the given kinds until leaseEnd: queued ones whose run_at has come
// and running ones whose lease ran out, oldest due first. Its cost follows
// the jobs it claims, not the backlog of other kinds, and needs no
// statistics to stay so (migration 081's jobs_kind_due): one kind is one
// range of that index read in order; several take at most n from each
// kind's range and then the oldest n of those. The dialect's claimLock
// makes concurrent claims skip each other's rows (PostgreSQL; it may hold
// up to n rows of each kind until the claim commits); on SQLite the single
// writer makes the UPDATE … RETURNING the whole claim.
func (d dialect) claimJobs(kinds []string, n int, leaseEnd, now string) (string, []any) {
	const due = `SELECT id, run_at FROM jobs WHERE state IN ('queued', 'running') AND run_at <= ? AND kind = ? ORDER BY run_at, id LIMIT ?`
	args := []any{leaseEnd, now}
	var pick string
	if len(kinds) == 1 {
		pick = `SELECT id FROM (` + due + d.claimLock + `) AS k0`
		args = append(args, now, kinds[0], n)
	} else {
		branches := make([]string, len(kinds))
		for i, k := range kinds {
			branches[i] = fmt.Sprintf(`SELECT id, run_at FROM (%s%s) AS k%d`, due, d.claimLock, i)
			args = append(args, now, k, n)
		}
		pick = `SELECT id FROM (` + strings.Join(branches, "\n  UNION ALL ") + `) AS due ORDER BY run_at, id LIMIT ?`
		args = append(args, n)
	}
	where := `id IN (` + pick + `)`
	if d.claimLock != "" {
		// PostgreSQL: the picked ids as one array, computed first, so the
		// UPDATE finds its rows by primary key; as a subquery joined to
		// jobs the planner may hash it against a scan of the whole table.
		where = `id = ANY(ARRAY(` + pick + `))`
	}
	return replan + `UPDATE jobs SET state = 'running', attempts = attempts + 1, run_at = ?, updated_at = ?
WHERE ` + where + `
RETURNING ` + jobColumns, args
}

// jobColumns are the columns scanJob reads, in its order.
const jobColumns = `id, kind, payload, COALESCE(dedupe_key, ''), state, run_at, attempts, COALESCE(last_error, ''), created_at, updated_at, COALESCE(finished_at, '')`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var payload, runAt, created, updated, finished string
	if err := sc.Scan(&j.ID, &j.Kind, &payload, &j.DedupeKey, &j.State, &runAt, &j.Attempts, &j.LastError, &created, &updated, &finished); err != nil {
		return Job{}, err
	}
	j.Payload = json.RawMessage(payload)
	j.RunAt, j.CreatedAt, j.UpdatedAt, j.FinishedAt = ParseTime(runAt), ParseTime(created), ParseTime(updated), ParseTime(finished)
	return j, nil
}

// ClaimJobs leases up to n due jobs of the given kinds for lease, counting
// an attempt on each. A claimed job stays running until FinishJobs records
// its outcome; if nobody does before the lease ends, the next claim takes
// it again.
func (s *Store) ClaimJobs(ctx context.Context, kinds []string, n int, lease time.Duration) ([]Job, error) {
	if len(kinds) == 0 || n <= 0 {
		return nil, nil
	}
	now := s.now().UTC()
	query, args := s.d.claimJobs(kinds, n, FormatTime(now.Add(lease)), FormatTime(now))
	var out []Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("db: claim jobs: %w", err)
	}
	if len(out) > 0 {
		s.foldJobStateDeltas(ctx)
	}
	// RETURNING promises no order: hand them out in the order enqueued.
	slices.SortFunc(out, func(a, b Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// JobEffect is a write that completes a job, stored by FinishJobs in the
// transaction that marks the job done (a fetched snapshot, a campaign's
// results), so that a job is never done without its result. It is applied
// only while the finisher still holds the job's lease. Only db defines
// effects: each is a use case of the aggregate it writes (SnapshotFetched
// in fetches.go).
type JobEffect interface {
	applyJob(ctx context.Context, s *Store, tx *sql.Tx, j Job) error
}

// JobOutcome is how one claimed job ended.
type JobOutcome struct {
	Job Job
	// Err is the failure; nil means done.
	Err error
	// RetryAt, after a failure, is when to run again; zero gives up (state
	// failed).
	RetryAt time.Time
	// Interrupted puts the job back at once without counting the attempt:
	// the worker stopped (shutdown), the job did not fail.
	Interrupted bool
	// Effect, on success, is written in the same transaction; nil for none.
	Effect JobEffect
}

// FinishJobs records the outcomes of claimed jobs in one transaction: a
// success marks the job done and applies its effect; a failure records the
// error and queues the job again for RetryAt, or marks it failed for good.
// A job whose lease was taken over meanwhile (another claim counted a newer
// attempt) is left alone. A failed job that would be queued again while a
// newer job of the same kind and dedupe key is queued is closed as failed
// instead: the newer one covers it.
func (s *Store) FinishJobs(ctx context.Context, results []JobOutcome) error {
	now := FormatTime(s.now())
	// Rows in one order (the jobs' ids) whoever finishes: two finishers
	// never wait for each other in a cycle.
	results = slices.Clone(results)
	slices.SortStableFunc(results, func(a, b JobOutcome) int { return cmp.Compare(a.Job.ID, b.Job.ID) })
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range results {
			if err := s.finishJob(ctx, tx, r, now); err != nil {
				return fmt.Errorf("job %d (%s): %w", r.Job.ID, r.Job.Kind, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: finish jobs: %w", err)
	}
	s.foldJobStateDeltas(ctx)
	return nil
}

// foldEvery is how often a Store folds job_state_deltas at most.
const foldEvery = time.Second

// foldJobStateDeltas moves the rows of job_state_deltas into
// job_state_counts (PostgreSQL; migrations_pg/080) in a short transaction
// of its own, at most once per foldEvery per Store and by one Store at a
// time (the others skip: a try-lock), so that the counter rows are only
// ever written by one transaction at once. The sum stays the same at every
// moment: the deltas that transaction removes are the ones it adds, and a
// reader's statement sees it committed or not at all. A failure is left
// for the next fold; the deltas wait meanwhile, and the figures stay exact.
func (s *Store) foldJobStateDeltas(ctx context.Context) {
	if s.d.foldJobStates == "" {
		return
	}
	now := time.Now().UnixNano()
	last := s.foldedAt.Load()
	if now-last < int64(foldEvery) || !s.foldedAt.CompareAndSwap(last, now) {
		return
	}
	_ = s.tx(ctx, func(tx *sql.Tx) error {
		var mine bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':job_state_fold', 0))`).Scan(&mine); err != nil || !mine {
			return err
		}
		_, err := tx.ExecContext(ctx, s.d.foldJobStates)
		return err
	})
}

// finishJob records one outcome inside tx.
func (s *Store) finishJob(ctx context.Context, tx *sql.Tx, r JobOutcome, now string) error {
	j := r.Job
	const mine = ` WHERE id = ? AND state = 'running' AND attempts = ?`
	switch {
	case r.Interrupted:
		_, err := tx.ExecContext(ctx, replan+`UPDATE jobs SET state = 'queued', run_at = ?, attempts = attempts - 1, updated_at = ?`+mine+`
  AND NOT EXISTS (SELECT 1 FROM jobs q WHERE q.kind = jobs.kind AND q.dedupe_key = jobs.dedupe_key AND q.state = 'queued')`,
			now, now, j.ID, j.Attempts)
		if err != nil {
			return err
		}
		// With a newer one queued, the interrupted one is simply dropped.
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', last_error = 'interrupted; a newer job is queued', updated_at = ?, finished_at = ?`+mine,
			now, now, j.ID, j.Attempts)
		return err

	case r.Err == nil:
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'done', last_error = NULL, updated_at = ?, finished_at = ?`+mine, now, now, j.ID, j.Attempts)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 || r.Effect == nil {
			return nil // the lease was lost: the new holder will store its own result
		}
		if err := r.Effect.applyJob(ctx, s, tx, j); err != nil {
			return err
		}
		return s.changed(ctx, tx, TopicData)
	}

	msg := truncate(strings.ToValidUTF8(r.Err.Error(), "?"), 1000)
	if !r.RetryAt.IsZero() {
		res, err := tx.ExecContext(ctx, replan+`UPDATE jobs SET state = 'queued', run_at = ?, last_error = ?, updated_at = ?`+mine+`
  AND NOT EXISTS (SELECT 1 FROM jobs q WHERE q.kind = jobs.kind AND q.dedupe_key = jobs.dedupe_key AND q.state = 'queued')`,
			FormatTime(r.RetryAt), msg, now, j.ID, j.Attempts)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		msg += " (a newer job is queued)"
	}
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', last_error = ?, updated_at = ?, finished_at = ?`+mine, msg, now, now, j.ID, j.Attempts)
	return err
}

// NextJobAt returns when the earliest queued or leased job of the given
// kinds falls due; ok is false when there is none. Each kind is one probe
// of jobs_kind_due, whatever the backlog of other kinds.
func (s *Store) NextJobAt(ctx context.Context, kinds []string) (t time.Time, ok bool, err error) {
	if len(kinds) == 0 {
		return time.Time{}, false, nil
	}
	var at sql.NullString
	if err := s.r.QueryRowContext(ctx, nextJobAtSQL(len(kinds)), anySlice(kinds)...).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("db: next job: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return ParseTime(at.String), true, nil
}

// nextJobAtSQL is NextJobAt's query for n kinds.
func nextJobAtSQL(n int) string {
	probes := make([]string, n)
	for i := range probes {
		probes[i] = `SELECT (SELECT run_at FROM jobs WHERE state IN ('queued', 'running') AND kind = ? ORDER BY run_at, id LIMIT 1) AS r`
	}
	return `SELECT MIN(r) FROM (` + strings.Join(probes, " UNION ALL ") + `) due`
}

// JobKindStats describes the jobs of one kind, for metrics and the
// dashboard.
type JobKindStats struct {
	Kind string
	// ByState counts jobs per state (JobQueued …).
	ByState map[string]int64
	// Oldest is when the oldest queued or running job was enqueued (zero
	// when none).
	Oldest time.Time
	// NextDue is the earliest run_at of a queued or running job (zero when
	// none): in the past means work is waiting.
	NextDue time.Time
}

// Depth is the number of queued and running jobs.
func (k JobKindStats) Depth() int64 { return k.ByState[JobQueued] + k.ByState[JobRunning] }

// JobStats returns, for every kind that has jobs, the state counts (kept
// by triggers), the oldest pending job and the next due time. The last two
// read the pending jobs (one pass over the jobs_due index): for metrics,
// not for pages.
func (s *Store) JobStats(ctx context.Context) ([]JobKindStats, error) {
	// Runners fold as they go; a scrape also does, so that the deltas a
	// stopped runner leaves (enqueues keep coming) stay few.
	s.foldJobStateDeltas(ctx)
	var out []JobKindStats
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = jobStateCounts(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT kind, MIN(created_at), MIN(run_at) FROM jobs WHERE state IN ('queued', 'running') GROUP BY kind`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kind, oldest, due string
			if err := rows.Scan(&kind, &oldest, &due); err != nil {
				return err
			}
			for i := range out {
				if out[i].Kind == kind {
					out[i].Oldest, out[i].NextDue = ParseTime(oldest), ParseTime(due)
				}
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("db: job stats: %w", err)
	}
	return out, nil
}

// sqlJobStateCounts reads the jobs per kind and state: job_state_counts
// plus the changes not yet folded into it (migrations/080).
const sqlJobStateCounts = `SELECT kind, state, CAST(SUM(n) AS BIGINT) FROM (
  SELECT kind, state, n FROM job_state_counts UNION ALL SELECT kind, state, n FROM job_state_deltas) c
GROUP BY kind, state HAVING SUM(n) > 0 ORDER BY kind, state`

// jobStateCounts reads the jobs per kind and state (sqlJobStateCounts).
func jobStateCounts(ctx context.Context, tx *sql.Tx) ([]JobKindStats, error) {
	rows, err := tx.QueryContext(ctx, sqlJobStateCounts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobKindStats
	for rows.Next() {
		var kind, state string
		var n int64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].Kind != kind {
			out = append(out, JobKindStats{Kind: kind, ByState: map[string]int64{}})
		}
		out[len(out)-1].ByState[state] = n
	}
	return out, rows.Err()
}

// Jobs lists the jobs of the given kinds with a dedupe key, newest first.
func (s *Store) Jobs(ctx context.Context, kinds []string, dedupeKey string) ([]Job, error) {
	if len(kinds) == 0 {
		return nil, nil
	}
	args := []any{dedupeKey}
	for _, k := range kinds {
		args = append(args, k)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE dedupe_key = ? AND kind IN (`+placeholders(len(kinds))+`) ORDER BY id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("db: jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// jobFailures returns the latest jobs of the given kinds that gave up (all
// kinds when none are given), newest first.
func jobFailures(ctx context.Context, tx *sql.Tx, limit int, kinds []string) ([]Job, error) {
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE state = 'failed'`
	var args []any
	if len(kinds) > 0 {
		q += ` AND kind IN (` + placeholders(len(kinds)) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY updated_at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// FailQueuedJobs marks every queued job of the given kinds failed with
// reason, without running them (`linkdesk seed` invents accounts Pinwheel
// does not know, so their fetches could only fail).
func (s *Store) FailQueuedJobs(ctx context.Context, reason string, kinds ...string) (int64, error) {
	if len(kinds) == 0 {
		return 0, nil
	}
	now := FormatTime(s.now())
	args := []any{reason, now, now}
	for _, k := range kinds {
		args = append(args, k)
	}
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'failed', last_error = ?, updated_at = ?, finished_at = ?
WHERE state = 'queued' AND kind IN (`+placeholders(len(kinds))+`)`, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: fail queued jobs: %w", err)
	}
	return n, nil
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
