package db_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// TestStore_ResetPassword: a reset hands over a password that signs in but
// must be changed, ends open sessions, lifts the email's throttle and is
// audited; choosing a new password (not the handed-over one) clears it.
func TestStore_ResetPassword(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	st, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "ana@example.com", Name: "Ana", Role: db.RoleAdmin, Password: "first password 1"})
	if err != nil {
		t.Fatal(err)
	}
	for range db.FreeSignInFailures {
		s.Authenticate(ctx, "ana@example.com", "wrong password!", "203.0.113.9", "test")
	}
	var thr *db.ThrottledError
	if _, err := s.Authenticate(ctx, "ana@example.com", "first password 1", "203.0.113.9", "test"); !errors.As(err, &thr) {
		t.Fatalf("before the reset: got %v, want throttled", err)
	}

	console := db.Actor{Email: "console (linkdesk staff)", IP: "local"}
	if err := s.ResetPassword(ctx, console, st.ID, "one time pass 123"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetPassword(ctx, console, 9999, "one time pass 123"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown id: got %v, want ErrNotFound", err)
	}
	if _, err := s.Authenticate(ctx, "ana@example.com", "first password 1", "203.0.113.9", "test"); !errors.Is(err, db.ErrBadCredentials) {
		t.Errorf("old password after reset: got %v, want ErrBadCredentials", err)
	}
	got, err := s.Authenticate(ctx, "ana@example.com", "one time pass 123", "203.0.113.9", "test")
	if err != nil {
		t.Fatalf("one-time password: %v", err)
	}
	if !got.MustChangePassword || got.SessionEpoch != st.SessionEpoch+1 {
		t.Errorf("after reset: must change %v, epoch %d; want true, %d", got.MustChangePassword, got.SessionEpoch, st.SessionEpoch+1)
	}
	rows, _, err := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionPasswordReset})
	if err != nil || len(rows) != 1 || rows[0].ActorEmail != console.Email || rows[0].TargetID != strconv.FormatInt(st.ID, 10) {
		t.Fatalf("audit of the reset: %+v, %v", rows, err)
	}

	var fe db.FieldErrors
	if err := s.ChangePassword(ctx, admin, st.ID, "one time pass 123", "one time pass 123"); !errors.As(err, &fe) || fe["password"] == "" {
		t.Errorf("keeping the one-time password: got %v, want a password field error", err)
	}
	if err := s.ChangePassword(ctx, admin, st.ID, "one time pass 123", "my own password 9"); err != nil {
		t.Fatal(err)
	}
	after, err := s.StaffByEmail(ctx, "ANA@example.com ")
	if err != nil || after.MustChangePassword {
		t.Errorf("after the change: %+v, %v; want MustChangePassword false", after, err)
	}
	if _, err := s.StaffByEmail(ctx, "nobody@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown email: got %v, want ErrNotFound", err)
	}
	if _, err := s.VerifyAuditChain(ctx); err != nil {
		t.Error(err)
	}
}

// TestStore_ListStaffLastSignIn: the list carries each person's last
// successful sign-in, zero for never.
func TestStore_ListStaffLastSignIn(t *testing.T) {
	ctx := context.Background()
	s, clk := newStore(t)
	for _, e := range []string{"a@example.com", "b@example.com"} {
		if _, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: e, Name: e, Role: db.RoleOperator, Password: "a long password"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Authenticate(ctx, "a@example.com", "a long password", "192.0.2.1", "t"); err != nil {
		t.Fatal(err)
	}
	signedIn := clk.t
	clk.t = clk.t.Add(time.Hour)
	s.Authenticate(ctx, "a@example.com", "wrong password", "192.0.2.1", "t")
	list, err := s.ListStaff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, st := range list {
		got[st.Email] = st.LastSignInAt
	}
	if !got["a@example.com"].Equal(signedIn) || !got["b@example.com"].IsZero() {
		t.Errorf("last sign-ins %v, want a at %v and b never", got, signedIn)
	}
}

// TestOpen_NoGeneratedKey: a tool opening the database of a server that
// runs with a configured key leaves no generated key behind.
func TestOpen_NoGeneratedKey(t *testing.T) {
	ctx := context.Background()
	path := dbtest.Path(t, "k.db")
	key := make([]byte, db.EncryptionKeySize)
	s, err := db.Open(ctx, path, db.Options{EncryptionKey: key, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = db.Open(ctx, path, db.Options{NoGeneratedKey: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Setting(ctx, "encryption_key"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("encryption_key setting after a NoGeneratedKey open: %q, %v; want none", v, err)
	}
}
