package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"linkdesk/db"
)

func TestSignInDelay(t *testing.T) {
	for failures, want := range map[int]time.Duration{
		0: 0, 1: 0, db.FreeSignInFailures - 1: 0,
		db.FreeSignInFailures:     15 * time.Second,
		db.FreeSignInFailures + 1: 30 * time.Second,
		db.FreeSignInFailures + 2: time.Minute,
		db.FreeSignInFailures + 5: 8 * time.Minute,
		db.FreeSignInFailures + 6: 15 * time.Minute,
		1000:                      15 * time.Minute,
	} {
		if got := db.SignInDelay(failures); got != want {
			t.Errorf("SignInDelay(%d) = %v, want %v", failures, got, want)
		}
	}
}

// signInFixture is a store with one admin and a controlled clock.
func signInFixture(t *testing.T) (*db.Store, *clock) {
	t.Helper()
	s, clk := newStore(t)
	if _, err := s.CreateStaff(context.Background(), admin, db.StaffCreate{Email: "ann@example.com", Name: "Ann", Role: db.RoleAdmin, Password: "long enough password"}); err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func attempt(s *db.Store, email, password, ip, device string) error {
	_, err := s.SignIn(context.Background(), db.SignInAttempt{Email: email, Password: password, IP: ip, UserAgent: "test", Device: device})
	return err
}

// TestSignIn_GrowingDelaysPerEmailAndAddress: an address guessing one
// email waits longer after each failure past the free ones, and only it:
// the right password from another address is accepted at once.
func TestSignIn_GrowingDelaysPerEmailAndAddress(t *testing.T) {
	s, clk := signInFixture(t)
	const attacker, owner = "198.51.100.66", "203.0.113.10"
	for i := range db.FreeSignInFailures {
		if err := attempt(s, "ann@example.com", "wrong guess", attacker, ""); !errors.Is(err, db.ErrBadCredentials) {
			t.Fatalf("free failure %d: %v", i+1, err)
		}
	}
	// The attacker now waits, and each wait is longer than the last.
	var last time.Duration
	for i := range 6 {
		var thr *db.ThrottledError
		err := attempt(s, "ann@example.com", "long enough password", attacker, "")
		if !errors.As(err, &thr) || thr.ByAddress {
			t.Fatalf("round %d: %v, want the pair throttled (even with the right password)", i, err)
		}
		wait := thr.RetryAt.Sub(clk.t)
		if wait <= last || wait > db.MaxSignInDelay {
			t.Fatalf("round %d: wait %v after %v", i, wait, last)
		}
		last = wait
		clk.t = thr.RetryAt
		if err := attempt(s, "ann@example.com", "still wrong", attacker, ""); !errors.Is(err, db.ErrBadCredentials) {
			t.Fatalf("round %d after the wait: %v", i, err)
		}
		// The owner, elsewhere, is never held up.
		if i == 3 {
			if err := attempt(s, "ann@example.com", "long enough password", owner, ""); err != nil {
				t.Fatalf("the owner from another address: %v", err)
			}
		}
	}
	// The right password after the wait signs in and clears the pair.
	var thr *db.ThrottledError
	if err := attempt(s, "ann@example.com", "long enough password", attacker, ""); !errors.As(err, &thr) {
		t.Fatalf("got %v, want throttled", err)
	}
	clk.t = thr.RetryAt
	if err := attempt(s, "ann@example.com", "long enough password", attacker, ""); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if err := attempt(s, "ann@example.com", "wrong again", attacker, ""); !errors.Is(err, db.ErrBadCredentials) {
		t.Fatalf("a success cleared the pair: %v", err)
	}
	// A day without failures forgets everything.
	clk.t = clk.t.Add(25 * time.Hour)
	if list, err := s.ListThrottles(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("after a day: %+v %v", list, err)
	}
}

// TestSignIn_AddressBudget: spraying many emails from one address uses up
// its budget; other addresses, and a browser that signed in as its email
// before, are not affected; the budget refills.
func TestSignIn_AddressBudget(t *testing.T) {
	s, clk := signInFixture(t)
	const sprayer = "192.0.2.99"
	for i := range db.IPFailureBudget {
		if err := attempt(s, fmt.Sprintf("user%d@example.com", i), "Winter2026!", sprayer, ""); !errors.Is(err, db.ErrBadCredentials) {
			t.Fatalf("spray %d: %v", i, err)
		}
	}
	var thr *db.ThrottledError
	if err := attempt(s, "ann@example.com", "long enough password", sprayer, ""); !errors.As(err, &thr) || !thr.ByAddress {
		t.Fatalf("after the budget: %v, want the address throttled", err)
	}
	if wait := thr.RetryAt.Sub(clk.t); wait <= 0 || wait > db.IPBudgetRefill/db.IPFailureBudget+time.Second {
		t.Errorf("wait %v, want about one refill step", wait)
	}
	// Ann's own browser behind the same address (it holds her device
	// cookie) signs in; so does anyone from another address.
	if err := attempt(s, "ann@example.com", "long enough password", sprayer, "dev-ann"); err != nil {
		t.Fatalf("Ann's device behind the sprayed address: %v", err)
	}
	if err := attempt(s, "ann@example.com", "long enough password", "192.0.2.100", ""); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// The budget refills: one failure back every refill step.
	clk.t = thr.RetryAt
	if err := attempt(s, "user99@example.com", "Spring2026!", sprayer, ""); !errors.Is(err, db.ErrBadCredentials) {
		t.Fatalf("after one refill step: %v", err)
	}
	if err := attempt(s, "user98@example.com", "Spring2026!", sprayer, ""); !errors.As(err, &thr) {
		t.Fatalf("the refill was one failure: %v", err)
	}
}

// TestSignIn_UnknownEmailsThrottleAlike: an unknown email goes through the
// same throttle as a known one, so throttling tells nothing either.
func TestSignIn_UnknownEmailsThrottleAlike(t *testing.T) {
	s, _ := signInFixture(t)
	for _, email := range []string{"ann@example.com", "nobody@example.com"} {
		for range db.FreeSignInFailures {
			if err := attempt(s, email, "wrong", "198.51.100.1", ""); !errors.Is(err, db.ErrBadCredentials) {
				t.Fatalf("%s: %v", email, err)
			}
		}
		var thr *db.ThrottledError
		if err := attempt(s, email, "wrong", "198.51.100.1", ""); !errors.As(err, &thr) || thr.RetryAt.Sub(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)) != db.FirstSignInDelay {
			t.Fatalf("%s: %v, want throttled for %v", email, err, db.FirstSignInDelay)
		}
	}
}

// TestSignIn_AdminSeesAndClears: the throttles are listed, clearing one
// lets its key try at once, and it is audited.
func TestSignIn_AdminSeesAndClears(t *testing.T) {
	s, _ := signInFixture(t)
	ctx := context.Background()
	for range db.FreeSignInFailures {
		attempt(s, "ann@example.com", "wrong", "198.51.100.1", "")
	}
	list, err := s.ListThrottles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pair *db.Throttle
	for i, th := range list {
		if th.Scope == db.ThrottlePair {
			pair = &list[i]
		}
	}
	if pair == nil || pair.Email != "ann@example.com" || pair.Address() != "198.51.100.1" || pair.Failures != db.FreeSignInFailures || pair.BlockedUntil.IsZero() {
		t.Fatalf("throttles %+v", list)
	}
	if err := s.ClearThrottle(ctx, admin, pair.Scope, pair.Email, pair.Source); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearThrottle(ctx, admin, pair.Scope, pair.Email, pair.Source); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("clearing twice: %v, want ErrNotFound", err)
	}
	if err := attempt(s, "ann@example.com", "long enough password", "198.51.100.1", ""); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
	rows, _, err := s.ListAudit(ctx, db.AuditFilter{Action: db.ActionThrottleCleared})
	if err != nil || len(rows) != 1 {
		t.Fatalf("audit: %+v %v", rows, err)
	}
}
