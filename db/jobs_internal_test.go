package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestClaimReadsOnlyItsKinds: a pool's claim and its next-due probe read
// the jobs of its own kinds (jobs_kind_due), never the backlog of others
// (before migration 081 every idle pool, woken by every ingest batch,
// walked thousands of queued fetches to find none of its kind: the
// largest share of PostgreSQL's time under webhook load); several kinds
// still come out oldest first. On both backends.
func TestClaimReadsOnlyItsKinds(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, "claim.db")
	base := time.Now().UTC().Add(-time.Hour)
	at := func(m int) string { return FormatTime(base.Add(time.Duration(m) * time.Minute)) }
	// A backlog of 3,000 due fetches, and a few jobs of two other kinds.
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO jobs (kind, payload, state, run_at, attempts, created_at, updated_at)
SELECT 'fetch.income', '{}', 'queued', ?, 0, ?, ? FROM n`, at(0), at(0), at(0)); err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct {
		kind string
		m    int
	}{{"audit.a", 3}, {"audit.b", 2}, {"audit.a", 1}, {"audit.b", 30}} {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO jobs (kind, payload, state, run_at, attempts, created_at, updated_at)
VALUES (?, '{}', 'queued', ?, 0, ?, ?)`, j.kind, at(j.m), at(0), at(0)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Backend() == "postgres" {
		if _, err := s.w.ExecContext(ctx, `ANALYZE jobs`); err != nil {
			t.Fatal(err)
		}
	}
	plan := func(q string, args []any) string { return planText(t, s, q, args...) }
	now := FormatTime(time.Now().UTC())
	for _, kinds := range [][]string{{"audit.a"}, {"audit.a", "audit.b"}} {
		q, args := s.d.claimJobs(kinds, 16, now, now)
		p := plan(q, args)
		if !strings.Contains(p, "jobs_kind_due") || strings.Contains(p, "Seq Scan on jobs") || strings.Contains(p, "SCAN jobs") {
			t.Errorf("claim of %v does not read its kinds' index range:\n%s", kinds, p)
		}
		if len(kinds) == 1 && (strings.Contains(p, "TEMP B-TREE") || strings.Contains(p, "Sort")) {
			t.Errorf("claim of %v sorts:\n%s", kinds, p)
		}
		if p := plan(nextJobAtSQL(len(kinds)), anySlice(kinds)); !strings.Contains(p, "jobs_kind_due") || strings.Contains(p, "TEMP B-TREE") ||
			strings.Contains(p, "Sort") || strings.Contains(p, "SCAN jobs") || strings.Contains(p, "Seq Scan on jobs") {
			t.Errorf("next due of %v:\n%s", kinds, p)
		}
	}
	// The fetch pool's seven kinds under its own backlog: no full scan.
	q, args := s.d.claimJobs(FetchJobKinds, 16, now, now)
	if p := plan(q, args); !strings.Contains(p, "jobs_kind_due") || strings.Contains(p, "Seq Scan on jobs") || strings.Contains(p, "SCAN jobs") {
		t.Errorf("fetch claim:\n%s", p)
	}

	if due, ok, err := s.NextJobAt(ctx, []string{"audit.b", "audit.a"}); err != nil || !ok || FormatTime(due) != at(1) {
		t.Errorf("next due of the audit kinds: %v %v %v, want %s", due, ok, err, at(1))
	}
	if _, ok, err := s.NextJobAt(ctx, []string{"nobody"}); err != nil || ok {
		t.Errorf("next due of a kind without jobs: %v %v", ok, err)
	}
	jobs, err := s.ClaimJobs(ctx, []string{"audit.a", "audit.b"}, 2, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.Kind)
	}
	// Oldest due first across kinds: audit.a at minute 1 and audit.b at 2
	// (ids in enqueue order: b then a).
	if strings.Join(got, ",") != "audit.b,audit.a" || jobs[0].Attempts != 1 {
		t.Errorf("claimed %v, want the audit.b of minute 2 and the audit.a of minute 1", jobs)
	}
	jobs, err = s.ClaimJobs(ctx, FetchJobKinds, 5, time.Minute)
	if err != nil || len(jobs) != 5 {
		t.Fatalf("fetch claim: %d %v", len(jobs), err)
	}
}
