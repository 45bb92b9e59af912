package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"linkdesk/db"
)

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSecondFactor_Lifecycle: enrol (pending until a code confirms it),
// sign in with a code (once per code), with a recovery code (once each),
// renew the codes, the throttle on wrong codes, and an admin's reset.
func TestSecondFactor_Lifecycle(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	st, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "ann@example.com", Name: "Ann", Role: db.RoleAdmin, Password: "long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	me := db.Actor{StaffID: st.ID, Email: st.Email}

	e, err := s.PendingEnrolment(ctx, st.ID, "Acme Payroll")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/Acme%20Payroll:ann@example.com?") || !strings.Contains(e.URL, "secret="+e.Secret) {
		t.Errorf("otpauth URL %q", e.URL)
	}
	again, _ := s.PendingEnrolment(ctx, st.ID, "Acme Payroll")
	if again.Secret != e.Secret {
		t.Error("a second visit made a new secret while one is pending")
	}
	if got, _ := s.StaffByID(ctx, st.ID); got.SecondFactor {
		t.Fatal("pending enrolment counts as a second factor")
	}
	var fe db.FieldErrors
	if _, err := s.ConfirmSecondFactor(ctx, me, st.ID, "000000"); !errors.As(err, &fe) {
		t.Fatalf("wrong code: %v", err)
	}
	codes, err := s.ConfirmSecondFactor(ctx, me, st.ID, code(t, e.Secret, clk.t))
	if err != nil || len(codes) != 10 {
		t.Fatalf("confirm: %v %v", codes, err)
	}
	if got, _ := s.StaffByID(ctx, st.ID); !got.SecondFactor {
		t.Fatal("not enrolled after confirming")
	}
	if _, err := s.PendingEnrolment(ctx, st.ID, "x"); !errors.Is(err, db.ErrConflict) {
		t.Errorf("enrolling twice: %v", err)
	}

	// The code that confirmed enrolment cannot sign in (used once).
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, code(t, e.Secret, clk.t)); !errors.Is(err, db.ErrBadCredentials) {
		t.Errorf("replayed code: %v", err)
	}
	clk.t = clk.t.Add(30 * time.Second)
	c := code(t, e.Secret, clk.t)
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, c[:3]+" "+c[3:]); err != nil {
		t.Fatalf("next code: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, c); !errors.Is(err, db.ErrBadCredentials) {
		t.Errorf("same code twice: %v", err)
	}
	// A code of the previous or next step is accepted (clock drift).
	clk.t = clk.t.Add(60 * time.Second)
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, code(t, e.Secret, clk.t.Add(30*time.Second))); err != nil {
		t.Errorf("next step's code: %v", err)
	}

	// Recovery codes: each once, in any case and spacing.
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, strings.ToUpper(codes[0])); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, codes[0]); !errors.Is(err, db.ErrBadCredentials) {
		t.Errorf("recovery code twice: %v", err)
	}
	if n, _ := s.RecoveryCodesLeft(ctx, st.ID); n != 9 {
		t.Errorf("%d codes left, want 9", n)
	}
	clk.t = clk.t.Add(time.Minute)
	fresh, err := s.RenewRecoveryCodes(ctx, me, st.ID, code(t, e.Secret, clk.t))
	if err != nil || len(fresh) != 10 {
		t.Fatalf("renew: %v", err)
	}
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, codes[1]); !errors.Is(err, db.ErrBadCredentials) {
		t.Errorf("an old recovery code after renewal: %v", err)
	}

	// Wrong codes are throttled like passwords; the throttle counts the
	// failures above too.
	for {
		_, err := s.VerifySecondFactor(ctx, me, st.ID, "123456")
		var thr *db.ThrottledError
		if errors.As(err, &thr) {
			break
		}
		if !errors.Is(err, db.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	var thr *db.ThrottledError
	if _, err := s.VerifySecondFactor(ctx, me, st.ID, code(t, e.Secret, clk.t.Add(30*time.Second))); !errors.As(err, &thr) {
		t.Fatalf("the right code while throttled: %v", err)
	}

	// An admin resets it: the person has none, the throttle and the
	// sessions are gone.
	if err := s.ResetSecondFactor(ctx, admin, st.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := s.StaffByID(ctx, st.ID)
	if got.SecondFactor || got.SessionEpoch != st.SessionEpoch+1 {
		t.Errorf("after reset: %+v", got)
	}
	if err := s.ResetSecondFactor(ctx, admin, st.ID); !errors.Is(err, db.ErrNoSecondFactor) {
		t.Errorf("reset twice: %v", err)
	}
	var actions []string
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{})
	for _, r := range rows {
		actions = append(actions, r.Action)
	}
	for _, want := range []string{db.ActionSecondFactorEnrolled, db.ActionSecondFactorFailed, db.ActionRecoveryCodesRenewed, db.ActionSecondFactorReset, db.ActionSignIn} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("no %s in the audit trail %v", want, actions)
		}
	}
	if _, err := s.VerifyAuditChain(ctx); err != nil {
		t.Error(err)
	}
}

// TestSecondFactor_Required: the organisation's requirement marks who must
// enrol, forbids turning one's own off, and is audited.
func TestSecondFactor_Required(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	st, _ := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "ann@example.com", Name: "Ann", Role: db.RoleOperator, Password: "long enough password"})
	me := db.Actor{StaffID: st.ID, Email: st.Email}
	if err := s.SetSecondFactorRequired(ctx, admin, true); err != nil {
		t.Fatal(err)
	}
	got, _ := s.StaffByID(ctx, st.ID)
	if !got.MustEnrolSecondFactor {
		t.Fatal("not asked to enrol while required")
	}
	e, _ := s.PendingEnrolment(ctx, st.ID, "")
	if _, err := s.ConfirmSecondFactor(ctx, me, st.ID, code(t, e.Secret, clk.t)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.StaffByID(ctx, st.ID); got.MustEnrolSecondFactor {
		t.Error("still asked to enrol after enrolling")
	}
	if err := s.DisableSecondFactor(ctx, me, st.ID, "long enough password"); !errors.Is(err, db.ErrSecondFactorRequired) {
		t.Errorf("turning it off while required: %v", err)
	}
	s.SetSecondFactorRequired(ctx, admin, false)
	var fe db.FieldErrors
	if err := s.DisableSecondFactor(ctx, me, st.ID, "wrong"); !errors.As(err, &fe) {
		t.Errorf("turning it off with a wrong password: %v", err)
	}
	if err := s.DisableSecondFactor(ctx, me, st.ID, "long enough password"); err != nil {
		t.Fatal(err)
	}
	rows, _, _ := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionSecondFactorRequired})
	if len(rows) != 2 {
		t.Errorf("%d audit rows of the setting, want 2", len(rows))
	}
}
