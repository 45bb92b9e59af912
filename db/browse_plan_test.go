package db

import (
	"context"
	"database/sql"
	"fmt"
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
		{"status, walk", EndUserQuery{Status: "active"}, -1, "SEARCH a USING COVERING INDEX accounts_end_user"},
		{"platform, walk", EndUserQuery{Platform: "p1"}, -1, "SEARCH a USING COVERING INDEX accounts_end_user"},
	}
	for _, c := range endUsers {
		t.Run("end users/"+c.name, func(t *testing.T) {
			defer SetDriveFactor(c.drive)()
			c.q.Limit = 50
			err := s.rtx(ctx, func(tx *sql.Tx) error {
				query, args, _, err := s.endUserSQL(ctx, tx, c.q, endUserColumns, 0, false)
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
			query, args, _, err := s.endUserSQL(ctx, tx, EndUserQuery{Status: "unavailable", Limit: 50}, endUserColumns, 0, false)
			if err != nil {
				return err
			}
			plan := strings.Join(explain(t, s, query, args...), "\n")
			if !strings.Contains(plan, "SEARCH a USING COVERING INDEX accounts_status") {
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
// weighs the rows a query wants. Among 100,829 end users with 5,000
// accounts of a status, a page of 50 walks the users (it finds 50 after
// about 1,000 probes), but the count line's query of up to 1,001 rows would
// walk about 20,000 users: it starts from the accounts.
func TestEndUserPlan_LongerQueriesDriveSooner(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, q := range []string{
		`INSERT INTO status_counts (monitoring_status, n) VALUES ('unavailable', 5000)`,
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
			query, _, _, err := s.endUserSQL(ctx, tx, EndUserQuery{Status: "unavailable", Limit: c.limit}, "u.id", 0, false)
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

// TestEndUserFilterPlans checks, on either backend and with planner
// statistics, the plans of the end-user list filtered by status: the walk
// reads end users newest first and probes each one's accounts (PostgreSQL
// turned the EXISTS probe it had into a hash semi join over every end
// user, then a sort: 50–58 ms at 100,829 end users); the count of a rare
// status, and the drive plan, read the status index alone (migration 082).
func TestEndUserFilterPlans(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, "plans.db")
	// 4,000 end users with one account each; one in a hundred unavailable.
	const users, batch = 4000, 500
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for from := 1; from <= users; from += batch {
		var uv, av []string
		var ua, aa []any
		for i := from; i < from+batch; i++ {
			at := FormatTime(base.Add(time.Duration(i) * time.Minute))
			status := "active"
			if i%100 == 0 {
				status = "unavailable"
			}
			uv, ua = append(uv, "(?, ?, ?, ?, 1, 1)"), append(ua, i, fmt.Sprintf("eu_%05d", i), at, at)
			av, aa = append(av, "(?, ?, ?, 'p1', ?, ?, ?)"), append(aa, i, fmt.Sprintf("acc_%05d", i), i, status, at, at)
		}
		if _, err := s.w.ExecContext(ctx, `INSERT INTO end_users (id, end_user_id, first_seen_at, last_seen_at, account_count, event_count) VALUES `+strings.Join(uv, ", "), ua...); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, `INSERT INTO accounts (id, account_id, end_user_ref, platform_id, monitoring_status, first_seen_at, last_event_at) VALUES `+strings.Join(av, ", "), aa...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	pg := s.Backend() == "postgres"
	plan := func(q EndUserQuery, cols string, walk int, count bool) (string, string) {
		t.Helper()
		var query, p string
		err := s.rtx(ctx, func(tx *sql.Tx) error {
			var args []any
			var err error
			query, args, _, err = s.endUserSQL(ctx, tx, q, cols, walk, count)
			if err != nil {
				return err
			}
			p = planText(t, s, query, args...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return query, p
	}
	q := EndUserQuery{Status: "unavailable", Limit: 50}

	t.Run("walk", func(t *testing.T) {
		defer SetDriveFactor(-1)()
		_, p := plan(q, endUserColumns, 0, false)
		walks := strings.Contains(p, "SCAN u USING INDEX end_users_activity")
		if pg {
			walks = strings.Contains(p, "Index Scan Backward using end_users_activity") && !strings.Contains(p, "Join")
		}
		if !walks || !strings.Contains(p, "accounts_end_user") {
			t.Errorf("the page does not walk end users by activity, probing their accounts:\n%s", p)
		}
	})
	t.Run("count of a rare status", func(t *testing.T) {
		query, p := plan(EndUserQuery{Status: "unavailable", Limit: 1001}, "u.id", countWalk, true)
		onlyIndex := strings.Contains(p, "USING COVERING INDEX accounts_status")
		if pg {
			onlyIndex = strings.Contains(p, "Index Only Scan using accounts_status")
		}
		if !onlyIndex || strings.Contains(p, "end_users") {
			t.Errorf("the count does not read the status index alone:\n%s\n%s", query, p)
		}
		n, more, err := s.CountEndUsers(ctx, EndUserQuery{Status: "unavailable"}, 1000)
		if err != nil || n != users/100 || more {
			t.Errorf("count: %d, more %v, %v; want %d", n, more, err, users/100)
		}
	})
	t.Run("drive", func(t *testing.T) {
		defer SetDriveFactor(1 << 40)()
		_, p := plan(q, endUserColumns, 0, false)
		onlyIndex := strings.Contains(p, "USING COVERING INDEX accounts_status")
		if pg {
			onlyIndex = strings.Contains(p, "Index Only Scan using accounts_status")
		}
		if !onlyIndex {
			t.Errorf("the drive plan does not start from the status index alone:\n%s", p)
		}
		rows, next, err := s.ListEndUsers(ctx, q)
		if err != nil || len(rows) != users/100 || !next.IsZero() || rows[0].EndUserID != fmt.Sprintf("eu_%05d", users) {
			t.Fatalf("drive page: %d rows, next %v, %v", len(rows), next, err)
		}
	})
}
