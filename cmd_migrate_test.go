package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/loadgen"
)

// TestMigrateDB_RoundTrip fills a SQLite database the way Linkdesk does
// (staff and their audit trail, a deposit account encrypted with the
// generated key, webhook events with their projections, counters and
// rejections, fetch jobs finished with snapshots), copies it with
// `linkdesk migrate-db`, copies again (nothing doubles), and finds every
// table's rows equal on both sides; PostgreSQL then decrypts the account
// number, verifies the audit chain and goes on numbering rows after the
// copied ones. The copy ends with ANALYZE. A target where another
// Linkdesk ran is refused.
func TestMigrateDB_RoundTrip(t *testing.T) {
	url := dbtest.Postgres(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "linkdesk.db")
	auditKey := bytes.Repeat([]byte{0x5a}, 32)
	fillForCopy(t, path, auditKey)

	migrate := func(to string, extra ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"migrate-db", "--from", path, "--to", to}, extra...), func(string) string { return "" }, &out, io.Discard)
		return out.String(), err
	}
	// Without the audit key the copy is made but its chain cannot be
	// verified: the command fails, and runs again with the key.
	if out, err := migrate(url); err == nil || !strings.Contains(err.Error(), "audit chain") {
		t.Fatalf("migrate-db without the audit key: %v\n%s", err, out)
	}
	keyFlag := []string{"--audit-key", hex.EncodeToString(auditKey)}
	out, err := migrate(url, keyFlag...)
	if err != nil {
		t.Fatalf("migrate-db: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Copied and verified") || !strings.Contains(out, "the audit chain of") {
		t.Errorf("output:\n%s", out)
	}
	if out, err := migrate(url, keyFlag...); err != nil {
		t.Fatalf("migrate-db again: %v\n%s", err, out)
	}
	compareDatabases(t, path, url)
	// The copy leaves the planner statistics of its tables behind.
	raw, err := db.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	var analyzed int
	err = raw.QueryRowContext(ctx, `SELECT COUNT(DISTINCT tablename) FROM pg_stats WHERE schemaname = current_schema() AND tablename IN ('events', 'accounts', 'audit_log')`).Scan(&analyzed)
	raw.Close()
	if err != nil || analyzed != 3 {
		t.Errorf("tables with planner statistics after the copy: %d of 3, %v", analyzed, err)
	}

	pg, err := db.Open(ctx, url, db.Options{PasswordCost: bcrypt.MinCost, AuditKey: auditKey})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if rec, err := pg.VerifyNow(ctx, db.SystemActor, db.VerifyDaily); err != nil || !rec.OK {
		t.Errorf("the keyed chain on PostgreSQL: %+v, %v", rec, err)
	}
	if _, number, err := pg.DepositAccountSecret(ctx, 1); err != nil || number != "55554444" {
		t.Errorf("account number on PostgreSQL: %q, %v", number, err)
	}
	st, err := pg.CreateStaff(ctx, db.Actor{Email: "system"}, db.StaffCreate{Email: "after@example.com", Name: "After", Role: db.RoleOperator, Password: "correct horse battery"})
	if err != nil || st.ID <= 3 {
		t.Errorf("a new staff member after the copy: id %d, %v (want an id after the copied ones)", st.ID, err)
	}

	// A database where a Linkdesk already ran is not written over.
	other := dbtest.Postgres(t)
	o, err := db.Open(ctx, other, db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.EnsureAdmin(ctx, "someone@example.com", "some admin password"); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if out, err := migrate(other); err == nil || !strings.Contains(err.Error(), "holds other data") {
		t.Errorf("copy into a used database: %v\n%s", err, out)
	}
}

// fillForCopy writes a bit of everything into a new SQLite database.
func fillForCopy(t *testing.T, path string, auditKey []byte) {
	t.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, path, db.Options{PasswordCost: bcrypt.MinCost, AuditKey: auditKey})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sys := db.Actor{Email: "system"}
	if _, err := s.EnsureAdmin(ctx, "boss@example.com", "boss password 12"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ann@example.com", "bob@example.com"} {
		if _, err := s.CreateStaff(ctx, sys, db.StaffCreate{Email: e, Name: "N", Role: db.RoleOperator, Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateDepositAccount(ctx, sys, db.DepositAccountCreate{Name: "Ops", Type: "checking", RoutingNumber: "011000015", AccountNumber: "55554444"}); err != nil {
		t.Fatal(err)
	}
	g, err := s.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { g.Run(bg) })
	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 6, Accounts: 40})
	for range 600 {
		d, err := db.ParseDelivery(gen.Next().Body)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	g.Reject(db.Rejection{Reason: db.ReasonBadSignature, Status: 401, RemoteAddr: "192.0.2.1", Body: []byte{0xff, 0, 1}, KeepBody: true})
	stop()
	wg.Wait()
	jobs, err := s.ClaimJobs(ctx, db.FetchJobKinds, 6, time.Minute)
	if err != nil || len(jobs) == 0 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	var done []db.JobOutcome
	for i, j := range jobs {
		if i%2 == 0 {
			done = append(done, db.JobOutcome{Job: j, Err: errors.New("upstream 500")})
		} else {
			done = append(done, db.JobOutcome{Job: j})
		}
	}
	if err := s.FinishJobs(ctx, done); err != nil {
		t.Fatal(err)
	}
	// The auditors' workspace: a verification on record (and the trail's
	// counters, kept by triggers).
	if rec, err := s.VerifyNow(ctx, db.SystemActor, db.VerifyManual); err != nil || !rec.OK {
		t.Fatalf("verify: %+v, %v", rec, err)
	}
}

// compareDatabases fails on any table whose rows differ between the SQLite
// file and the PostgreSQL database.
func compareDatabases(t *testing.T, path, url string) {
	t.Helper()
	lite, err := db.Connect(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := db.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	tables := dbtest.Rows(t, lite, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name`)
	if len(tables) < 20 {
		t.Fatalf("only %d tables", len(tables))
	}
	rows := 0
	for _, table := range tables {
		q := `SELECT * FROM ` + table
		a, b := dbtest.Rows(t, lite, q), dbtest.Rows(t, pg, q)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%s: %d rows on SQLite, %d on PostgreSQL, not the same", table, len(a), len(b))
		}
		rows += len(a)
	}
	if rows < 1000 {
		t.Errorf("only %d rows compared", rows)
	}
}
