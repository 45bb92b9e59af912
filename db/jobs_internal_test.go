package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/dbtest"
)

// TestJobsMigration_MovesTheFetchQueue builds a database as it was before
// 013_jobs.sql, with fetches in every state, then opens it: every fetch
// must come out as a job, due ones still due, leased ones still leased.
func TestJobsMigration_MovesTheFetchQueue(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", sqliteDSN(path, sqliteWriter))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	names, err := sqliteDialect.migrationNames()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		if base >= "013" {
			break
		}
		body, _ := migrationsFS.ReadFile(name)
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		raw.Exec(`INSERT INTO schema_migrations VALUES (?, '2026-01-01T00:00:00.000000Z')`, base)
	}
	const at = "2026-11-26T12:00:00.000000Z"
	for _, q := range []string{
		`INSERT INTO accounts (id, account_id, first_seen_at, last_event_at) VALUES (1, 'acc-"1"', '` + at + `', '` + at + `')`,
		`INSERT INTO events (id, event_id, event, received_at, last_received_at, projection, body) VALUES (7, 'ev-7', 'identity.added', '` + at + `', '` + at + `', 'projected', '{}')`,
		`INSERT INTO fetch_queue (kind, account_ref, event_ref, state, run_at, attempts, created_at, updated_at) VALUES
			('identity', 1, 7, 'queued', '` + at + `', 0, '` + at + `', '` + at + `'),
			('income', 1, 7, 'running', '2026-11-26T12:02:00.000000Z', 1, '` + at + `', '` + at + `'),
			('employment', 1, 7, 'done', '` + at + `', 1, '` + at + `', '` + at + `'),
			('direct_deposit_allocations', 1, 7, 'failed', '` + at + `', 8, '` + at + `', '` + at + `')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	s, err := Open(ctx, path, Options{PasswordCost: 4, Now: func() time.Time { return time.Date(2026, 11, 26, 12, 1, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs, err := s.AccountFetches(ctx, `acc-"1"`)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, j := range jobs {
		if j.AccountID != `acc-"1"` || j.EventID != "ev-7" {
			t.Errorf("payload of %s = %s", j.Kind, j.Payload)
		}
		states[j.Data] = j.State
	}
	if len(jobs) != 4 || states[FetchIdentity] != JobQueued || states[FetchIncome] != JobRunning || states[FetchEmployment] != JobDone ||
		states[FetchDDAllocations] != JobFailed {
		t.Fatalf("moved jobs = %+v", jobs)
	}
	// The queued one is due; the leased one only when its lease ends.
	claimed, err := s.ClaimJobs(ctx, FetchJobKinds, 10, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].Kind != FetchJobKind(FetchIdentity) {
		t.Fatalf("claim after the upgrade: %+v, %v", claimed, err)
	}
	st, err := s.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var running int64
	for _, k := range st {
		running += k.ByState[JobRunning]
	}
	if running != 2 {
		t.Errorf("stats after the upgrade = %+v", st)
	}
}

// TestClaimWalksTheDueIndex: the claim reads jobs_due in order and stops
// at its limit, whatever the backlog; it must never sort the due jobs.
func TestClaimWalksTheDueIndex(t *testing.T) {
	s, err := Open(context.Background(), dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	plan := strings.Join(explain(t, s, s.d.claimJobsSQL(4), "l", "n", "n", "a", "b", "c", "d", 16), "\n")
	if !strings.Contains(plan, "USING INDEX jobs_due") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("claim plan:\n%s", plan)
	}
	plan = strings.Join(explain(t, s, `SELECT run_at FROM jobs WHERE state IN ('queued', 'running') AND kind IN (?, ?) ORDER BY run_at, id LIMIT 1`, "a", "b"), "\n")
	if !strings.Contains(plan, "USING INDEX jobs_due") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("next due plan:\n%s", plan)
	}
}
