package db_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// TestReferences_Kept: the references ingestion writes hold on both
// backends. SQLite declares them as foreign keys; PostgreSQL keeps them
// with the committer and migration 086's triggers, which refuse what a
// foreign key would (SQLSTATE 23503), and Store.CheckReferences finds a
// row written around both.
func TestReferences_Kept(t *testing.T) {
	ctx := context.Background()
	path := dbtest.Path(t, "refs.db")
	s := openAt(t, path)
	g := runIngester(t, s, db.IngestOptions{})
	sent := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	ingest(t, g, accountAddedBody("e1", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:00.000000+00:00", "active", true), sent)
	ingest(t, g, statusBody("e2", "acc-1", "eu-1", "needs_reconnection", false), sent)
	paystubs := strings.Replace(string(jobBody("e3", "paystubs.added", "paystubs", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:02.000000+00:00", "success", "", "", "")),
		`"payload": {`, `"payload": {"added": [{"id": "ps-1"}, {"id": "ps-2"}], "deleted": [{"id": "ps-0"}], `, 1)
	ingest(t, g, []byte(paystubs), sent)
	ingest(t, g, jobBody("e4", "direct_deposit_switch.added", "direct_deposit_switch", "acc-1", "eu-1", "tok-1", "2026-11-26T11:00:03.000000+00:00", "success", "", "",
		`{"action": "partial_switch", "allocation": {"type": "amount", "value": 50, "target": {"account_name": "My Checking", "account_type": "checking", "last_four_account_number": "6789"}}}`), sent)
	if err := s.CheckReferences(ctx); err != nil {
		t.Fatalf("after ingestion: %v", err)
	}

	raw, err := db.Connect(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	// Every kind of row the ingest refers to was written above.
	for _, table := range []string{"link_tokens_seen", "account_jobs", "monitoring_status_history", "dd_switches", "cohort_accounts", "pay_sync", "pay_pending", "pay_deletions"} {
		if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE account_ref = (SELECT id FROM accounts WHERE account_id = 'acc-1')`).Scan(&n); err != nil || n == 0 {
			t.Errorf("%s: %d rows of acc-1 (%v)", table, n, err)
		}
	}
	refused := func(what, q string) {
		t.Helper()
		_, err := raw.ExecContext(ctx, q)
		switch {
		case err == nil:
			t.Errorf("%s: done, want refused as a foreign key would", what)
		case !strings.Contains(err.Error(), "23503") && !strings.Contains(err.Error(), "FOREIGN KEY constraint failed"):
			t.Errorf("%s: %v, want a foreign key violation", what, err)
		}
	}
	refused("delete a referenced end user", `DELETE FROM end_users WHERE end_user_id = 'eu-1'`)
	refused("delete a referenced account", `DELETE FROM accounts WHERE account_id = 'acc-1'`)
	refused("delete a referenced link token", `DELETE FROM link_tokens_seen WHERE link_token_id = 'tok-1'`)
	refused("delete a referenced event", `DELETE FROM events WHERE event_id = 'e3'`)
	refused("change a referenced account's id", `UPDATE accounts SET id = id + 1000 WHERE account_id = 'acc-1'`)
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts a JOIN events e ON e.account_ref = a.id WHERE a.account_id = 'acc-1'`).Scan(&n); err != nil || n != 4 {
		t.Errorf("after the refused statements: %d events of acc-1 (%v), want 4", n, err)
	}
	// A row nothing refers to still goes.
	if _, err := raw.ExecContext(ctx, `INSERT INTO end_users (end_user_id, first_seen_at, last_seen_at, account_count, event_count) VALUES ('eu-alone', '2026-11-26T11:00:00Z', '2026-11-26T11:00:00Z', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `DELETE FROM end_users WHERE end_user_id = 'eu-alone'`); err != nil {
		t.Errorf("delete an end user nothing refers to: %v", err)
	}
	if !dbtest.OnPostgres() {
		return // SQLite has no TRUNCATE, and refuses the orphan below itself
	}
	refused("truncate end users", `TRUNCATE end_users`)
	refused("truncate link tokens", `TRUNCATE link_tokens_seen`)
	if err := raw.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM end_users) + (SELECT COUNT(*) FROM link_tokens_seen)`).Scan(&n); err != nil || n != 2 {
		t.Errorf("after the refused truncations: %d end users and link tokens (%v), want 2", n, err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO monitoring_status_history (account_ref, event_ref, status, connected, status_rank, at)
SELECT 999999, id, 'active', 1, 0, '2026-11-26T11:00:00Z' FROM events WHERE event_id = 'e1'`); err != nil {
		t.Fatal(err)
	}
	err = s.CheckReferences(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 rows of monitoring_status_history.account_ref name no accounts row (the least missing id: 999999)") {
		t.Errorf("CheckReferences with an orphan = %v", err)
	}
}
