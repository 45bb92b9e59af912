package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSearchMigration_QueuesTheReindex: a database with customer records
// from before 070_search_index.sql gets a search.reindex job when opened;
// a new database does not.
func TestSearchMigration_QueuesTheReindex(t *testing.T) {
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", sqliteDSN(path, sqliteWriter))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	names, err := migrationNames()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		if base >= "070" {
			break
		}
		body, _ := migrationsFS.ReadFile(name)
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		raw.Exec(`INSERT INTO schema_migrations VALUES (?, '2026-01-01T00:00:00.000000Z')`, base)
	}
	const at = "2026-11-26T12:00:00.000000Z"
	if _, err := raw.Exec(`INSERT INTO customers VALUES ('eu-1', 'Liam García', '1990-01-02', '1234', '', '` + at + `', '` + at + `')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	s, err := Open(ctx, path, Options{PasswordCost: 4, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobs, err := s.Jobs(ctx, []string{JobSearchReindex}, "all")
	if err != nil || len(jobs) != 1 || jobs[0].State != JobQueued {
		t.Fatalf("reindex jobs %+v %v", jobs, err)
	}
	if !jobs[0].RunAt.Equal(ParseTime(FormatTime(jobs[0].RunAt))) || jobs[0].RunAt.IsZero() {
		t.Errorf("run_at %v does not read back", jobs[0].RunAt)
	}
	for done := false; !done; {
		if done, err = s.ReindexSearch(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := s.Search(ctx, "garcia")
	if err != nil || len(hits) != 1 || hits[0].ID != "eu-1" {
		t.Errorf("after the reindex: %+v %v", hits, err)
	}

	fresh, err := Open(ctx, filepath.Join(t.TempDir(), "new.db"), Options{PasswordCost: 4, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if jobs, err := fresh.Jobs(ctx, []string{JobSearchReindex}, "all"); err != nil || len(jobs) != 0 {
		t.Errorf("a new database queued %+v %v", jobs, err)
	}
}
