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

// SetAccountDriveFactor changes the accounts plan threshold for a test
// and returns the function that restores it: -1 always walks.
func SetAccountDriveFactor(n int64) (restore func()) {
	old := accountDriveFactor
	accountDriveFactor = n
	return func() { accountDriveFactor = old }
}

// SetDriveFactor changes the end-user plan threshold for a test and
// returns the function that restores it: -1 always walks, 1<<40 always
// starts from the accounts.
func SetDriveFactor(n int64) (restore func()) {
	old := driveFactor
	driveFactor = n
	return func() { driveFactor = old }
}

// explain returns the EXPLAIN QUERY PLAN lines of a query.
func explain(t *testing.T, s *Store, query string, args ...any) []string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return out
}

// planText is the plan of a query on the Store's backend, one line per
// node: EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL.
func planText(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	if s.Backend() != "postgres" {
		return strings.Join(explain(t, s, query, args...), "\n")
	}
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// TestListQueriesUseTheirIndexes asserts on EXPLAIN QUERY PLAN that no list
// query scans the events table or sorts events, and that each filter uses
// the index meant for it. Without ANALYZE statistics SQLite's plans do not
// depend on the data, so an empty database shows the plans of a seeded one.
func TestListQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	no := false

	check := func(t *testing.T, plan []string, wantIndex string) {
		t.Helper()
		joined := strings.Join(plan, "\n")
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN e ") || line == "SCAN e" || strings.HasPrefix(line, "SCAN events") {
				t.Errorf("plan scans events:\n%s", joined)
			}
			if strings.Contains(line, "TEMP B-TREE FOR ORDER BY") {
				t.Errorf("plan sorts:\n%s", joined)
			}
		}
		if !strings.Contains(joined, wantIndex) {
			t.Errorf("plan does not use %s:\n%s", wantIndex, joined)
		}
	}

	accounts := []struct {
		name  string
		q     AccountQuery
		plan  accountPlan
		index string
	}{
		{"all", AccountQuery{}, accountPlan{}, "accounts_activity"},
		{"status, walk", AccountQuery{Status: "active"}, accountPlan{}, "SEARCH a USING INDEX accounts_activity"},
		{"platform, walk", AccountQuery{Platform: "p1"}, accountPlan{}, "SEARCH a USING INDEX accounts_activity"},
		{"status and platform, walk", AccountQuery{Status: "active", Platform: "p1"}, accountPlan{}, "SEARCH a USING INDEX accounts_activity"},
		{"disconnected", AccountQuery{Connected: &no}, accountPlan{}, "accounts_disconnected_activity"},
		{"last job failed", AccountQuery{LastOutcome: "error"}, accountPlan{}, "accounts_last_job_rare"},
		{"quiet", AccountQuery{QuietDays: 30}, accountPlan{}, "accounts_activity"},
		{"page 2", AccountQuery{After: Cursor{At: FormatTime(now), ID: 9}}, accountPlan{}, "accounts_activity"},
		{"oldest first", AccountQuery{Oldest: true}, accountPlan{}, "accounts_activity"},
		{"oldest first, page 2", AccountQuery{Oldest: true, After: Cursor{At: FormatTime(now), ID: 9}}, accountPlan{}, "accounts_activity"},
		{"oldest first, status, walk", AccountQuery{Oldest: true, Status: "active"}, accountPlan{}, "SEARCH a USING INDEX accounts_activity"},
	}
	for _, c := range accounts {
		t.Run("accounts/"+c.name, func(t *testing.T) {
			c.q.Limit = 50
			query, args := accountsSQL(c.q, now, c.plan)
			check(t, explain(t, s, query, args...), c.index)
		})
	}
	// A rare status or platform starts from its own index and sorts its few
	// accounts (a sort of accounts, never of events).
	for _, c := range []struct {
		name  string
		q     AccountQuery
		plan  accountPlan
		index string
	}{
		{"status", AccountQuery{Status: "degraded"}, accountPlan{byStatus: true}, "SEARCH a USING INDEX accounts_status (monitoring_status=?)"},
		{"platform", AccountQuery{Platform: "p1", Status: "active"}, accountPlan{byPlatform: true}, "SEARCH a USING INDEX accounts_platform (platform_id=?)"},
	} {
		t.Run("accounts/drive "+c.name, func(t *testing.T) {
			c.q.Limit = 50
			query, args := accountsSQL(c.q, now, c.plan)
			if plan := strings.Join(explain(t, s, query, args...), "\n"); !strings.Contains(plan, c.index) {
				t.Errorf("plan does not start from %s:\n%s", c.index, plan)
			}
		})
	}

	events := []struct {
		name  string
		q     EventQuery
		index string
	}{
		{"all", EventQuery{}, "INTEGER PRIMARY KEY"},
		{"type", EventQuery{Type: "identity.added"}, "events_event"},
		{"outcome error", EventQuery{Outcome: "error"}, "events_outcome_rare"},
		{"outcome success", EventQuery{Outcome: "success"}, "INTEGER PRIMARY KEY"},
		{"duplicates", EventQuery{Status: StatusDuplicate}, "events_duplicates"},
		{"time range", EventQuery{From: now.Add(-time.Hour), To: now}, "INTEGER PRIMARY KEY"},
		{"page 1000", EventQuery{Before: 950000}, "INTEGER PRIMARY KEY"},
	}
	for _, c := range events {
		t.Run("events/"+c.name, func(t *testing.T) {
			where, args, ok, err := s.eventWhere(ctx, s.r, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if !ok { // the empty database has no id range: use the terms a range gives
				where = []string{"e.id >= ?", "e.received_at >= ?", "e.received_at < ?", "e.id < ?"}
				args = []any{1, FormatTime(c.q.From), FormatTime(c.q.To), 1000}
			}
			check(t, explain(t, s, eventRowsSQL(where), append(args, 50)...), c.index)
			check(t, explain(t, s, exportSQL(where, true), append(args, 50)...), c.index)
			// Oldest first walks the same index the other way.
			asc := append(where[:len(where):len(where)], "e.id > ?")
			check(t, explain(t, s, eventRowsSQLOrder(asc, "ASC"), append(args, 0, 50)...), c.index)
		})
	}
	// Account, end user and link token filters name a ref (an id).
	for _, c := range []struct{ col, index string }{
		{"e.account_ref", "events_account"}, {"e.end_user_ref", "events_end_user"}, {"e.link_token_ref", "events_link_token"},
	} {
		t.Run("events/"+c.col, func(t *testing.T) {
			check(t, explain(t, s, eventRowsSQL([]string{c.col + " = ?", "e.event = ?", "e.id < ?"}), 1, "x", 99, 50), c.index)
		})
	}

	for _, col := range []string{"account_ref", "end_user_ref"} {
		t.Run("timeline/"+col, func(t *testing.T) {
			check(t, explain(t, s, timelineEventsSQL(col, "id < ?", "DESC"), 1, 99, 51), "events_"+strings.TrimSuffix(col, "_ref"))
			check(t, explain(t, s, timelineEventsSQL(col, "id > ?", "ASC"), 1, 99, 51), "events_"+strings.TrimSuffix(col, "_ref"))
		})
	}

	endUsers := []struct {
		name  string
		q     EndUserQuery
		drive int64
		index string
	}{
		{"all", EndUserQuery{}, 3000, "end_users_activity"},
		{"oldest first", EndUserQuery{Oldest: true}, 3000, "end_users_activity"},
		{"active since", EndUserQuery{ActiveSince: now.Add(-24 * time.Hour)}, 3000, "end_users_activity"},
		{"status, walk", EndUserQuery{Status: "active"}, -1, "EXISTS USING INDEX accounts_end_user"},
		{"platform, walk", EndUserQuery{Platform: "p1"}, -1, "EXISTS USING INDEX accounts_end_user"},
	}
	for _, c := range endUsers {
		t.Run("end users/"+c.name, func(t *testing.T) {
			defer SetDriveFactor(c.drive)()
			c.q.Limit = 50
			err := s.rtx(ctx, func(tx *sql.Tx) error {
				query, args, _, err := s.endUserSQL(ctx, tx, c.q, endUserColumns, 0)
				if err != nil {
					return err
				}
				check(t, explain(t, s, query, args...), c.index)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// The drive plan starts from the matching accounts and sorts the few
	// users they name (a sort, but of users, never events).
	t.Run("end users/status, drive", func(t *testing.T) {
		defer SetDriveFactor(1 << 40)()
		err := s.rtx(ctx, func(tx *sql.Tx) error {
			query, args, _, err := s.endUserSQL(ctx, tx, EndUserQuery{Status: "unavailable", Limit: 50}, endUserColumns, 0)
			if err != nil {
				return err
			}
			plan := strings.Join(explain(t, s, query, args...), "\n")
			if !strings.Contains(plan, "SEARCH a USING INDEX accounts_status") {
				t.Errorf("drive plan does not start from the accounts of that status:\n%s", plan)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestEndUserPlan_LongerQueriesDriveSooner: the walk-or-drive choice
// weighs the rows a query wants. Among 100,829 end users with 971
// accounts of a status, a page of 50 walks the users (it finds 50 after
// about 5,000 probes), but the count line's query of up to 1,001 rows would
// walk every user to find fewer than 971: it starts from the accounts.
func TestEndUserPlan_LongerQueriesDriveSooner(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		`INSERT INTO status_counts (monitoring_status, n) VALUES ('unavailable', 971)`,
		`INSERT INTO totals (name, n) VALUES ('end_users', 100829) ON CONFLICT (name) DO UPDATE SET n = excluded.n`,
	} {
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		limit int
		drive bool
	}{{50, false}, {1000, true}} {
		err := s.rtx(ctx, func(tx *sql.Tx) error {
			query, _, _, err := s.endUserSQL(ctx, tx, EndUserQuery{Status: "unavailable", Limit: c.limit}, "u.id", 0)
			if err != nil {
				return err
			}
			if drive := strings.Contains(query, "SELECT DISTINCT a.end_user_ref"); drive != c.drive {
				t.Errorf("limit %d: starts from the accounts %v, want %v:\n%s", c.limit, drive, c.drive, query)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// SetCountWalk changes how many end users a walking count reads at most,
// and returns the function that restores it.
func SetCountWalk(n int) (restore func()) {
	old := countWalk
	countWalk = n
	return func() { countWalk = old }
}
