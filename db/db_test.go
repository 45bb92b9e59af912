package db_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	_ "modernc.org/sqlite"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// clock is a settable fixed clock for tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newStore(t *testing.T) (*db.Store, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	s, err := db.Open(context.Background(), dbtest.Path(t, "test.db"), db.Options{Now: c.now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c
}

// openAt opens a Store on path (a file or URL from dbtest.Path), closed at
// cleanup; opened twice on one path, it is two instances of one database.
func openAt(t *testing.T, path string) *db.Store {
	t.Helper()
	s, err := db.Open(context.Background(), path, db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var admin = db.Actor{StaffID: 0, Email: "system", IP: "127.0.0.1", UserAgent: "test"}

func TestOpen_MigrationsApplyOnceAndAgainAsNoop(t *testing.T) {
	ctx := context.Background()
	path := dbtest.EmptyPath(t, "m.db")
	s, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("ready after first open: %v", err)
	}
	s.Close()
	s, err = db.Open(ctx, path, db.Options{})
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	defer s.Close()
	raw, err := db.Connect(path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n, distinct int
	if err := raw.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT name) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Fatalf("schema_migrations has %d rows, %d distinct; want each migration once", n, distinct)
	}
	if s.Backend() == "sqlite" {
		var mode string
		raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal_mode = %q, want wal", mode)
		}
	}
}

func TestStore_CreateStaff(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	t.Run("valid", func(t *testing.T) {
		st, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: " Ann@Example.com ", Name: "Ann", Role: db.RoleOperator, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.StaffByID(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, st) {
			t.Errorf("round trip: got %+v, want %+v", got, st)
		}
		if st.Email != "ann@example.com" || !st.Active {
			t.Errorf("got email %q active %v, want normalised and active", st.Email, st.Active)
		}
	})
	t.Run("duplicate email", func(t *testing.T) {
		_, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "ANN@example.com", Name: "Ann 2", Role: db.RoleAuditor, Password: "another long password"})
		var fe db.FieldErrors
		if !errors.As(err, &fe) || fe["email"] == "" {
			t.Fatalf("got %v, want a field error on email", err)
		}
	})
	for _, tc := range []struct {
		name  string
		in    db.StaffCreate
		field string
	}{
		{"bad email", db.StaffCreate{Email: "nope", Name: "X", Role: db.RoleAdmin, Password: "long enough password"}, "email"},
		{"no name", db.StaffCreate{Email: "x@example.com", Name: " ", Role: db.RoleAdmin, Password: "long enough password"}, "name"},
		{"bad role", db.StaffCreate{Email: "x@example.com", Name: "X", Role: "root", Password: "long enough password"}, "role"},
		{"short password", db.StaffCreate{Email: "x@example.com", Name: "X", Role: db.RoleAdmin, Password: "short"}, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateStaff(ctx, admin, tc.in)
			var fe db.FieldErrors
			if !errors.As(err, &fe) || fe[tc.field] == "" {
				t.Fatalf("got %v, want a field error on %s", err, tc.field)
			}
		})
	}
}

func TestStore_UpdateStaff(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	a1, _ := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "a1@example.com", Name: "A1", Role: db.RoleAdmin, Password: "long enough password"})
	op, _ := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "op@example.com", Name: "Op", Role: db.RoleOperator, Password: "long enough password"})
	off, on, auditor, adminRole := false, true, db.RoleAuditor, db.RoleAdmin

	t.Run("last admin cannot be demoted or deactivated", func(t *testing.T) {
		if _, err := s.UpdateStaff(ctx, admin, a1.ID, db.StaffUpdate{Role: &auditor}); !errors.Is(err, db.ErrLastAdmin) {
			t.Fatalf("demote: got %v, want ErrLastAdmin", err)
		}
		if _, err := s.UpdateStaff(ctx, admin, a1.ID, db.StaffUpdate{Active: &off}); !errors.Is(err, db.ErrLastAdmin) {
			t.Fatalf("deactivate: got %v, want ErrLastAdmin", err)
		}
	})
	t.Run("second admin allows it", func(t *testing.T) {
		if _, err := s.UpdateStaff(ctx, admin, op.ID, db.StaffUpdate{Role: &adminRole}); err != nil {
			t.Fatal(err)
		}
		st, err := s.UpdateStaff(ctx, admin, a1.ID, db.StaffUpdate{Active: &off})
		if err != nil || st.Active {
			t.Fatalf("got %+v, %v; want deactivated", st, err)
		}
		// op is now the last active admin.
		if _, err := s.UpdateStaff(ctx, admin, op.ID, db.StaffUpdate{Active: &off}); !errors.Is(err, db.ErrLastAdmin) {
			t.Fatalf("got %v, want ErrLastAdmin", err)
		}
		if st, err := s.UpdateStaff(ctx, admin, a1.ID, db.StaffUpdate{Active: &on}); err != nil || !st.Active {
			t.Fatalf("reactivate: %+v %v", st, err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := s.UpdateStaff(ctx, admin, 999, db.StaffUpdate{Active: &off}); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("deactivated staff cannot sign in", func(t *testing.T) {
		o, _ := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "gone@example.com", Name: "Gone", Role: db.RoleOperator, Password: "long enough password"})
		if _, err := s.UpdateStaff(ctx, admin, o.ID, db.StaffUpdate{Active: &off}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "gone@example.com", "long enough password", "10.0.0.9", "ua"); !errors.Is(err, db.ErrBadCredentials) {
			t.Fatalf("got %v, want ErrBadCredentials", err)
		}
	})
}

func TestStore_AuditChain(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	st, _ := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "ann@example.com", Name: "Ann", Role: db.RoleAdmin, Password: "long enough password"})
	clk.t = clk.t.Add(time.Second)
	s.Authenticate(ctx, "ann@example.com", "wrong", "10.0.0.1", "ua")
	s.Authenticate(ctx, "ann@example.com", "long enough password", "10.0.0.1", "ua")
	s.ChangePassword(ctx, db.Actor{StaffID: st.ID, Email: st.Email}, st.ID, "long enough password", "an even longer password")
	s.SignOut(ctx, db.Actor{StaffID: st.ID, Email: st.Email})

	rows, more, err := s.ListAudit(ctx, db.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range rows {
		actions = append(actions, r.Action)
	}
	want := []string{db.ActionSignOut, db.ActionPasswordChange, db.ActionSignIn, db.ActionSignInFailed, db.ActionStaffCreated}
	if more || !reflect.DeepEqual(actions, want) {
		t.Fatalf("actions newest first = %v (more %v), want %v", actions, more, want)
	}
	for i := 0; i < len(rows)-1; i++ {
		if rows[i].PrevHash != rows[i+1].Hash {
			t.Fatalf("row %d does not link to row %d", rows[i].ID, rows[i+1].ID)
		}
	}
	if n, err := s.VerifyAuditChain(ctx); err != nil || n != 5 {
		t.Fatalf("verify: %d rows, %v; want 5, nil", n, err)
	}

	page, more, _ := s.ListAudit(ctx, db.AuditFilter{Limit: 2})
	next, _, _ := s.ListAudit(ctx, db.AuditFilter{Limit: 2, Before: page[1].ID})
	if !more || next[0].ID != page[1].ID-1 {
		t.Fatalf("keyset page 2 starts at %d, want %d", next[0].ID, page[1].ID-1)
	}

	// Tamper with a row behind the Store's back (the database refuses an
	// UPDATE, so the trigger goes first): verification must catch it.
	raw, err := db.Connect(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE audit_log SET ip = '6.6.6.6' WHERE id = 3`); err == nil {
		t.Fatal("the database let an audit row change")
	}
	if _, err := raw.Exec(dbtest.Tamper(s.Path(), `DROP TRIGGER audit_log_no_update; UPDATE audit_log SET ip = '6.6.6.6' WHERE id = 3`)); err != nil {
		t.Fatal(err)
	}
	_, err = s.VerifyAuditChain(ctx)
	var ce *db.ChainError
	if !errors.As(err, &ce) || ce.ID != 3 {
		t.Fatalf("got %v, want a ChainError at row 3", err)
	}
}

func TestStore_SessionKeysPersist(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	h1, b1, err := s.SessionKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h2, b2, _ := s.SessionKeys(ctx)
	if len(h1) != 64 || len(b1) != 32 || !reflect.DeepEqual(h1, h2) || !reflect.DeepEqual(b1, b2) {
		t.Fatalf("keys not stable: %d/%d bytes", len(h1), len(b1))
	}
}

func TestStore_DefaultPasswordCost(t *testing.T) {
	ctx := context.Background()
	s, err := db.Open(ctx, dbtest.Path(t, "c.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.EnsureAdmin(ctx, "boot@example.com", "bootstrap password"); err != nil {
		t.Fatal(err)
	}
	raw, _ := db.Connect(s.Path())
	defer raw.Close()
	var hash string
	raw.QueryRow(`SELECT password_hash FROM staff`).Scan(&hash)
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost < 12 {
		t.Fatalf("bcrypt cost %d (%v), want >= 12", cost, err)
	}
}
