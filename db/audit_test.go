package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// chainStore is a Store with n audit rows (sign-ins of two people), on a
// database file the test can tamper with.
func chainStore(t *testing.T, n int, opt db.Options) (*db.Store, *clock, *sql.DB) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	opt.Now, opt.PasswordCost = c.now, bcrypt.MinCost
	path := dbtest.MigratedSQLite(t, filepath.Join(t.TempDir(), "chain.db"))
	s, err := db.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	appendRows(t, s, c, n)
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, c, raw
}

// appendRows appends n audit rows, a second apart.
func appendRows(t *testing.T, s *db.Store, c *clock, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		c.t = c.t.Add(time.Second)
		a := db.Actor{Email: fmt.Sprintf("p%d@example.com", i%2), IP: "10.0.0.1", UserAgent: "test"}
		if err := s.RevealPII(ctx, a, "nope", []string{"date_of_birth"}, ""); !errors.Is(err, db.ErrNotFound) {
			// A Reveal of an unknown account writes nothing; use sign-outs.
			t.Fatal(err)
		}
		if err := s.SignOut(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}

// verify walks the chain; anchor "" is the Store's, "-" none.
func verify(t *testing.T, s *db.Store, anchor string) db.Verification {
	t.Helper()
	v, err := s.VerifyChain(context.Background(), db.VerifyOptions{Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantBad(t *testing.T, v db.Verification, id int64, reason string) {
	t.Helper()
	if v.Bad == nil {
		t.Fatalf("the chain verified (%d rows); want row %d reported", v.Rows, id)
	}
	if v.Bad.ID != id || !strings.Contains(v.Bad.Reason, reason) {
		t.Fatalf("bad row %d: %q; want row %d: …%s…", v.Bad.ID, v.Bad.Reason, id, reason)
	}
}

func mustExec(t *testing.T, raw *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := raw.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestAuditTrail_DatabaseRefusesChanges(t *testing.T) {
	_, _, raw := chainStore(t, 3, db.Options{})
	for _, q := range []string{
		`UPDATE audit_log SET detail = '{}' WHERE id = 2`,
		`DELETE FROM audit_log WHERE id = 3`,
		`INSERT INTO audit_log (id, at, actor_email, action, target_type, target_id, ip, user_agent, detail, prev_hash, hash)
		 VALUES (10, 'x', 'x', 'x', 'x', 'x', 'x', 'x', '{}', 'x', 'x')`,
	} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "audit_log") {
			t.Errorf("%s: got %v, want the database to refuse it", strings.Fields(q)[0], err)
		}
	}
}

func TestAuditTrail_VerifiesAndPublishesItsHead(t *testing.T) {
	s, _, _ := chainStore(t, 5, db.Options{})
	v := verify(t, s, "")
	if !v.OK() || v.Rows != 5 || v.Head.Seq != 5 {
		t.Fatalf("verification %+v", v)
	}
	lines, err := db.ReadAnchor(s.AnchorPath())
	if err != nil || len(lines) != 5 || lines[4].Seq != 5 || lines[4].Hash != v.Head.Hash {
		t.Fatalf("anchor %+v, %v; want five heads, the last row 5 %s", lines, err, v.Head.Hash)
	}
	if s.AnchorPath() != s.Path()+".audit-anchor" {
		t.Errorf("anchor beside the database: %s", s.AnchorPath())
	}
}

// The four tampering cases of the issue, each caught with its row.
func TestAuditTrail_Tampering(t *testing.T) {
	t.Run("edit a row", func(t *testing.T) {
		s, _, raw := chainStore(t, 6, db.Options{})
		mustExec(t, raw, `DROP TRIGGER audit_log_no_update`)
		mustExec(t, raw, `UPDATE audit_log SET actor_email = 'someone-else@example.com' WHERE id = 3`)
		wantBad(t, verify(t, s, ""), 3, "does not match its hash")
	})
	t.Run("delete the newest rows", func(t *testing.T) {
		s, _, raw := chainStore(t, 6, db.Options{})
		mustExec(t, raw, `DROP TRIGGER audit_log_no_delete`)
		mustExec(t, raw, `DELETE FROM audit_log WHERE id > 4`)
		wantBad(t, verify(t, s, ""), 5, "rows 5 to 6 are missing: the anchor file published row 6")
		// The chain alone cannot tell: the anchor outside the database does.
		if v := verify(t, s, "-"); !v.OK() {
			t.Errorf("without the anchor: %+v", v.Bad)
		}
	})
	t.Run("rewrite and rehash without the key", func(t *testing.T) {
		s, _, raw := chainStore(t, 6, db.Options{})
		mustExec(t, raw, `DROP TRIGGER audit_log_no_update`)
		rows, _, err := s.ListAudit(context.Background(), db.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		prev := ""
		for i := len(rows) - 1; i >= 0; i-- { // oldest first
			e := rows[i]
			if e.ID < 3 {
				prev = e.Hash
				continue
			}
			if e.ID == 3 {
				e.IP = "6.6.6.6"
			}
			e.PrevHash = prev
			e.Hash = db.UnkeyedHash(e)
			prev = e.Hash
			mustExec(t, raw, `UPDATE audit_log SET ip = ?, prev_hash = ?, hash = ? WHERE id = ?`, e.IP, e.PrevHash, e.Hash, e.ID)
		}
		wantBad(t, verify(t, s, "-"), 3, "hashed without the key")
	})
	t.Run("drop a row in the middle", func(t *testing.T) {
		s, _, raw := chainStore(t, 6, db.Options{})
		mustExec(t, raw, `DROP TRIGGER audit_log_no_delete`)
		mustExec(t, raw, `DELETE FROM audit_log WHERE id = 4`)
		wantBad(t, verify(t, s, "-"), 4, "row 4 is missing")
	})
	t.Run("anchor names another hash", func(t *testing.T) {
		s, _, raw := chainStore(t, 4, db.Options{})
		// Rewrite row 4 with the key's help is impossible here; rewrite the
		// anchor's view instead: a row whose hash the anchor published
		// differently.
		mustExec(t, raw, `DROP TRIGGER audit_log_no_update`)
		mustExec(t, raw, `UPDATE audit_log SET hash = ? WHERE id = 4`, strings.Repeat("a", 64))
		v := verify(t, s, "")
		if v.Bad == nil || v.Bad.ID != 4 {
			t.Fatalf("got %+v, want row 4", v.Bad)
		}
	})
}

// TestAuditTrail_OldTrailIsSealed: a trail written before the key (plain
// SHA-256) is sealed by one keyed row the first time a key is there; it
// verifies, and its old rows are as tamper-evident as keyed ones.
func TestAuditTrail_OldTrailIsSealed(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := db.Open(ctx, path, db.Options{Now: c.now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.AppendUnkeyed(ctx, db.Actor{Email: "old@example.com"}, db.ActionSignIn, "staff", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ForgetAuditKey(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()

	key := []byte(strings.Repeat("k", 32))
	s, err = db.Open(ctx, path, db.Options{Now: c.now, PasswordCost: bcrypt.MinCost, AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seal, err := s.AuditEntryByID(ctx, 4)
	if err != nil || seal.Action != db.ActionChainKeyed || !strings.Contains(seal.Detail, `"unkeyed_rows":3`) {
		t.Fatalf("row 4: %+v, %v; want the seal of three unkeyed rows", seal, err)
	}
	if err := s.SignOut(ctx, db.Actor{Email: "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	if v := verify(t, s, ""); !v.OK() || v.Rows != 5 {
		t.Fatalf("sealed trail: %+v, %+v", v, v.Bad)
	}
	// Reopening does not seal again.
	s.Close()
	s, err = db.Open(ctx, path, db.Options{Now: c.now, PasswordCost: bcrypt.MinCost, AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := s.ChainHead(ctx); h.Seq != 5 {
		t.Errorf("head after reopening: %d, want 5", h.Seq)
	}

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Rewriting an old row and re-hashing the unkeyed part breaks the seal.
	mustExec(t, raw, `DROP TRIGGER audit_log_no_update`)
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{Limit: 10})
	prev := "0000000000000000000000000000000000000000000000000000000000000000"
	for i := len(rows) - 1; i >= 0; i-- {
		e := rows[i]
		if e.ID > 3 {
			break
		}
		if e.ID == 2 {
			e.ActorEmail = "forged@example.com"
		}
		e.PrevHash = prev
		e.Hash = db.UnkeyedHash(e)
		prev = e.Hash
		mustExec(t, raw, `UPDATE audit_log SET actor_email = ?, prev_hash = ?, hash = ? WHERE id = ?`, e.ActorEmail, e.PrevHash, e.Hash, e.ID)
	}
	wantBad(t, verify(t, s, "-"), 4, "prev_hash does not match the hash of row 3")
}

// TestAuditTrail_Keys: a configured key replacing the generated one is
// recorded and both verify; a key that is neither is refused at Open.
func TestAuditTrail_Keys(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := db.Open(ctx, path, db.Options{Now: c.now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	appendRows(t, s, c, 2)
	s.Close()

	key := []byte(strings.Repeat("c", 32))
	s, err = db.Open(ctx, path, db.Options{Now: c.now, PasswordCost: bcrypt.MinCost, AuditKey: key})
	if err != nil {
		t.Fatal(err)
	}
	appendRows(t, s, c, 2)
	if e, _ := s.AuditEntryByID(ctx, 3); e.Action != db.ActionChainKeyChanged {
		t.Errorf("row 3: %s, want the key change", e.Action)
	}
	if v := verify(t, s, ""); !v.OK() || v.Rows != 5 {
		t.Fatalf("after the key change: %+v %+v", v, v.Bad)
	}
	s.Close()

	if _, err := db.Open(ctx, path, db.Options{AuditKey: []byte(strings.Repeat("x", 32))}); err == nil || !strings.Contains(err.Error(), "LINKDESK_AUDIT_KEY") {
		t.Errorf("a foreign key: %v, want a refusal naming LINKDESK_AUDIT_KEY", err)
	}
	// A tool without a key and without generating one reads but cannot append.
	s, err = db.Open(ctx, path, db.Options{NoGeneratedKey: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SignOut(ctx, db.Actor{Email: "x@example.com"}); !errors.Is(err, db.ErrNoAuditKey) {
		t.Errorf("append without the configured key: %v, want ErrNoAuditKey", err)
	}
}

// TestAuditTrail_AnchorFailureIsKept: a commit whose anchor write fails
// still commits, and the failure is reported.
func TestAuditTrail_AnchorFailureIsKept(t *testing.T) {
	dir := t.TempDir()
	s, err := db.Open(context.Background(), dbtest.MigratedSQLite(t, filepath.Join(dir, "a.db")), db.Options{PasswordCost: bcrypt.MinCost,
		AuditAnchor: filepath.Join(dir, "missing-dir", "anchor")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SignOut(context.Background(), db.Actor{Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if s.AnchorError() == nil {
		t.Error("no anchor error reported")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing-dir")); err == nil {
		t.Error("the anchor's directory appeared")
	}
}

func TestStore_VerifyNowRecords(t *testing.T) {
	s, _, raw := chainStore(t, 3, db.Options{})
	ctx := context.Background()
	rec, err := s.VerifyNow(ctx, db.Actor{Email: "aud@example.com"}, db.VerifyManual)
	if err != nil || !rec.OK || rec.Rows != 3 {
		t.Fatalf("verify now: %+v, %v", rec, err)
	}
	last, err := s.LastVerification(ctx)
	if err != nil || last.ID != rec.ID || last.Head.Seq != 3 {
		t.Fatalf("last verification %+v, %v", last, err)
	}
	// The verification is itself audited (row 4), and the next one covers it.
	if e, _ := s.AuditEntryByID(ctx, 4); e.Action != db.ActionChainVerified {
		t.Errorf("row 4 is %s", e.Action)
	}
	mustExec(t, raw, `DROP TRIGGER audit_log_no_update`)
	mustExec(t, raw, `UPDATE audit_log SET detail = '{"x":1}' WHERE id = 2`)
	rec, err = s.VerifyNow(ctx, db.SystemActor, db.VerifyDaily)
	if err != nil || rec.OK || rec.BadSeq != 2 || rec.Source != db.VerifyDaily {
		t.Fatalf("after tampering: %+v, %v", rec, err)
	}
}
