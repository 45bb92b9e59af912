package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"linkdesk/dbtest"
)

func TestPlanAlerts(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	active := map[string]Alert{
		"":      {ID: 1, State: AlertOpen},
		"p-adp": {ID: 2, State: AlertSnoozed, SnoozedUntil: now.Add(time.Hour)},
		"p-wd":  {ID: 3, State: AlertSnoozed, SnoozedUntil: now.Add(-time.Minute)},
		"p-old": {ID: 4, State: AlertAcknowledged},
	}
	for _, tc := range []struct {
		name     string
		active   map[string]Alert
		findings []string
		want     []AlertChange
	}{
		{"nothing", nil, nil, nil},
		{"a new condition opens", nil, []string{""}, []AlertChange{{Scope: "", Kind: ChangeOpened}}},
		{"the same condition twice opens once", nil, []string{"x", "x"}, []AlertChange{{Scope: "x", Kind: ChangeOpened}}},
		{"held conditions update, ended snoozes return, cleared ones resolve", active, []string{"", "p-adp", "p-wd", "p-new"}, []AlertChange{
			{AlertID: 1, Scope: "", Kind: ChangeUpdated},
			{AlertID: 2, Scope: "p-adp", Kind: ChangeUpdated},
			{AlertID: 3, Scope: "p-wd", Kind: ChangeUnsnoozed},
			{Scope: "p-new", Kind: ChangeOpened},
			{AlertID: 4, Scope: "p-old", Kind: ChangeResolved},
		}},
		{"everything clears, in scope order", active, nil, []AlertChange{
			{AlertID: 1, Scope: "", Kind: ChangeResolved},
			{AlertID: 2, Scope: "p-adp", Kind: ChangeResolved},
			{AlertID: 4, Scope: "p-old", Kind: ChangeResolved},
			{AlertID: 3, Scope: "p-wd", Kind: ChangeResolved},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fs []Finding
			for _, sc := range tc.findings {
				fs = append(fs, Finding{Scope: sc})
			}
			got := planAlerts(tc.active, fs, now)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestAlerts_UniqueIndexDedupes: whatever the code does, the database
// refuses a second unresolved alert of the same rule and scope.
func TestAlerts_UniqueIndexDedupes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "dedupe.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ins := `INSERT INTO alerts (rule, scope, subject, state, opened_at, updated_at, checked_at, evidence) VALUES ('r', 'x', 's', ?, 't', 't', 't', '{}')`
	if _, err := s.w.ExecContext(ctx, ins, AlertOpen); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{AlertOpen, AlertAcknowledged, AlertSnoozed} {
		if _, err := s.w.ExecContext(ctx, ins, st); err == nil || !s.d.isUnique(err) {
			t.Errorf("a second %s alert of the same condition: %v, want a unique violation", st, err)
		}
	}
	if _, err := s.w.ExecContext(ctx, ins, AlertResolved); err != nil {
		t.Errorf("a resolved one beside it: %v", err)
	}
}

// TestHealthQueriesUseTheirIndexes: the board's list and the rules read
// index ranges, never a scan of accounts or events.
func TestHealthQueriesUseTheirIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "plan.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	noScan := func(name string, plan []string, want string) {
		t.Helper()
		joined := strings.Join(plan, " | ")
		if strings.Contains(joined, "SCAN a ") || strings.Contains(joined, "SCAN accounts") || strings.Contains(joined, "SCAN events") ||
			strings.Contains(joined, "TEMP B-TREE") || !strings.Contains(joined, want) {
			t.Errorf("%s: plan %q, want %s and no scan or sort", name, joined, want)
		}
	}
	noScan("waiting by status", explain(t, s, waitingSQL(false), "degraded", "", 0, 50), "accounts_waiting ")
	noScan("waiting by status and platform", explain(t, s, waitingSQL(true), "degraded", "p", "", 0, 50), "accounts_waiting_platform")
	noScan("platform rule", explain(t, s, `SELECT COUNT(*) FROM accounts WHERE platform_id = ? AND monitoring_status = ? AND monitoring_status <> 'active' AND status_since >= ?`,
		"p", "degraded", "t"), "accounts_waiting_platform")
	noScan("signature rule", explain(t, s, `SELECT COUNT(*) FROM webhook_rejections WHERE reason IN (?, ?) AND at >= ?`, "a", "b", "t"), "webhook_rejections_reason_at")
	noScan("account.added feed", explain(t, s, `SELECT e.id FROM events e WHERE e.event = ? AND e.id > ? AND e.id <= ? ORDER BY e.id LIMIT ?`, "account.added", 0, 9, 10), "events_event")
	noScan("expectation met", explain(t, s, `SELECT COUNT(*) FROM events e WHERE e.link_token_ref = (SELECT id FROM link_tokens_seen WHERE link_token_id = ?) AND +e.event = ?`, "x", "y"), "events_link_token")
	noScan("expectation met by any job", explain(t, s, `SELECT COUNT(*) FROM events e WHERE e.link_token_ref = (SELECT id FROM link_tokens_seen WHERE link_token_id = ?) AND +e.event IN (?, ?)`, "x", "y", "z"), "events_link_token")
	noScan("stuck jobs", explain(t, s, `SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND run_at <= ? AND kind IN (?, ?)`, "t", "a", "b"), "jobs_kind_due")
	noScan("failed fetches", explain(t, s, `SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND updated_at >= ? AND kind IN (?)`, "t", "a"), "jobs_failed")
	noScan("open alerts", explain(t, s, `SELECT COUNT(*) FROM alerts WHERE state = 'open'`), "alerts_state")
}

// TestHealthMigration_Backfills builds a database as it was before
// 050_health_board.sql, with accounts and a status history, then opens it:
// status_since, the per-platform counters and the daily transitions must
// come out of what was there, and the triggers keep them from then on.
func TestHealthMigration_Backfills(t *testing.T) {
	ctx := context.Background()
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
		if base >= "050" {
			break
		}
		body, _ := migrationsFS.ReadFile(name)
		if _, err := raw.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		raw.Exec(`INSERT INTO schema_migrations VALUES (?, '2026-01-01T00:00:00.000000Z')`, base)
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, account_id, platform_id, monitoring_status, monitoring_status_at, first_seen_at, last_event_at) VALUES
			(1, 'a1', 'p1', 'active', '2026-11-20T10:00:00.000000Z', 't', 't'),
			(2, 'a2', 'p1', 'degraded', '2026-11-21T10:00:00.000000Z', 't', 't'),
			(3, 'a3', 'p2', 'user_action_required', '2026-11-22T10:00:00.000000Z', 't', 't')`,
		`INSERT INTO events (id, event_id, event, received_at, last_received_at, projection, body) VALUES (1, 'e1', 'x', 't', 't', 'projected', '{}')`,
		`INSERT INTO monitoring_status_history (account_ref, event_ref, status, status_rank, at) VALUES
			(2, 1, 'active', 1, '2026-11-20T09:00:00.000000Z'), (2, 1, 'degraded', 2, '2026-11-21T10:00:00.000000Z'),
			(3, 1, 'active', 1, '2026-11-20T09:00:00.000000Z'), (3, 1, 'user_action_required', 2, '2026-11-22T10:00:00.000000Z')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s, err := Open(ctx, path, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, next, err := s.WaitingAccounts(ctx, WaitingQuery{})
	if err != nil || !next.IsZero() || len(rows) != 2 || rows[0].AccountID != "a2" || rows[1].AccountID != "a3" ||
		!rows[0].Since.Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("waiting after the upgrade: %+v %v", rows, err)
	}
	plats, totals, err := s.StatusByPlatform(ctx)
	if err != nil || len(plats) != 2 || totals["active"] != 1 || totals["degraded"] != 1 || plats[0].ByStatus["degraded"]+plats[1].ByStatus["degraded"] != 1 {
		t.Fatalf("counts after the upgrade: %+v %v %v", plats, totals, err)
	}
	days, err := s.StatusTransitions(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	var left int64
	for _, d := range days {
		left += d.Left
	}
	if left != 2 {
		t.Errorf("left active in the history: %d, want 2", left)
	}
	// From now on the triggers keep them.
	if _, err := s.w.ExecContext(ctx, `UPDATE accounts SET monitoring_status = 'active', monitoring_status_at = '2026-11-26T11:00:00.000000Z' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	days, _ = s.StatusTransitions(ctx, 30)
	if d := days[len(days)-1]; d.Returned != 1 {
		t.Errorf("today %+v, want one account back", d)
	}
	if n, _ := s.CountWaiting(ctx, WaitingQuery{}); n != 1 {
		t.Errorf("waiting after the return: %d", n)
	}
}

// TestScheduleNextCheck_PrunesOldChecks: a rule's finished checks older
// than an hour go; its next check is queued once.
func TestScheduleNextCheck_PrunesOldChecks(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	s, err := Open(ctx, dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "prune.db")), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, at := range []string{"2026-11-26T10:00:00.000000Z", "2026-11-26T11:30:00.000000Z"} {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, created_at, updated_at, finished_at)
VALUES (?, '{}', ?, 'done', ?, ?, ?, ?)`, JobAlertCheck, RuleSilence, at, at, at, at); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.ScheduleNextCheck(ctx, RuleSilence); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.Jobs(ctx, []string{JobAlertCheck}, RuleSilence)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, j := range jobs {
		states = append(states, j.State+"@"+FormatTime(j.RunAt))
	}
	if len(jobs) != 2 || jobs[0].State != JobQueued || jobs[1].State != JobDone {
		t.Fatalf("jobs of the rule: %v", states)
	}
}
