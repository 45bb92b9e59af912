package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sign-in throttling. The state is in the database (signin_throttles), so
// every Linkdesk process on one database agrees, and a restart forgets
// nothing. Three kinds of key:
//
//   - an email from one source (scope pair): the source is the client's
//     address, or, for a browser that signed in as that email before, its
//     device cookie (handlers set it at each sign-in). The first
//     FreeSignInFailures failures cost nothing (people mistype); each later
//     one makes the next attempt wait SignInDelay: 15 s, 30 s, 1 min, ...,
//     at most 15 minutes. A success clears the key. Nobody can lock a
//     person out: a guesser only slows down their own (email, source), and
//     the person signing in from another address, or from their own
//     browser behind the same address, is not affected;
//   - a client address, whatever the email (scope ip): a leaky bucket of
//     IPFailureBudget failures that refills over IPBudgetRefill, against
//     password spraying (a few guesses at each of many emails). Attempts
//     carrying the device cookie of the email they try skip it, so a
//     shared proxy's address being sprayed does not shut out the people
//     behind it who signed in before;
//   - one person's second step (scope second_factor, see twofactor.go):
//     the same growing delays on wrong codes, whatever the address.
//
// A throttled attempt is refused before its password is compared. The
// check and a provisional failure are written in one transaction on the
// single writer before the (slow) comparison, so concurrent guesses cannot
// all slip past the check; a success undoes its provisional failure. The
// same path runs for an unknown email as for a known one (with a dummy
// comparison), so neither timing nor throttling tells them apart.

// Throttling policy.
const (
	// FreeSignInFailures is how many consecutive failures of one key cost
	// no wait.
	FreeSignInFailures = 5
	// FirstSignInDelay is the wait after the first failure beyond the free
	// ones; each further failure doubles it, up to MaxSignInDelay.
	FirstSignInDelay = 15 * time.Second
	// MaxSignInDelay is the longest wait between two attempts of one key.
	MaxSignInDelay = 15 * time.Minute
	// IPFailureBudget is how many failures one address may have in hand,
	// whatever the emails; the budget refills over IPBudgetRefill.
	IPFailureBudget = 30
	// IPBudgetRefill is how long an exhausted budget takes to refill
	// completely (one failure comes back every IPBudgetRefill /
	// IPFailureBudget, two minutes).
	IPBudgetRefill = time.Hour
	// throttleMemory is how long a key is kept after its last failure.
	throttleMemory = 24 * time.Hour
)

// Throttle scopes.
const (
	ThrottlePair         = "pair"
	ThrottleIP           = "ip"
	ThrottleSecondFactor = "second_factor"
)

// ActionThrottleCleared is the audit action of an admin clearing a
// sign-in throttle on /staff.
const ActionThrottleCleared = "staff.throttle_cleared"

// SignInDelay is how long a key must wait after its last failure, once it
// has failed failures times in a row: nothing for the first
// FreeSignInFailures, then FirstSignInDelay doubling up to MaxSignInDelay.
func SignInDelay(failures int) time.Duration {
	if failures < FreeSignInFailures {
		return 0
	}
	d := FirstSignInDelay
	for i := FreeSignInFailures; i < failures && d < MaxSignInDelay; i++ {
		d *= 2
	}
	return min(d, MaxSignInDelay)
}

// ipLeak is how many failures an address's bucket loses per second.
const ipLeak = float64(IPFailureBudget) / float64(IPBudgetRefill/time.Second)

// ThrottledError says sign-in (or its second step) is refused until
// RetryAt. ByAddress is set when the address as a whole is throttled
// (password spraying), not just this email from it.
type ThrottledError struct {
	RetryAt   time.Time
	ByAddress bool
}

func (e *ThrottledError) Error() string {
	return "db: too many sign-in failures until " + e.RetryAt.Format(time.RFC3339)
}

// throttleKey names one row of signin_throttles.
type throttleKey struct{ scope, email, source string }

// throttle is one key's state.
type throttle struct {
	failures int
	level    float64
	updated  time.Time
	blocked  time.Time
}

// levelAt is an address bucket's level at now, after leaking.
func (t throttle) levelAt(now time.Time) float64 {
	return max(0, t.level-now.Sub(t.updated).Seconds()*ipLeak)
}

// ipRetry is when an address whose bucket would be at level after one more
// failure may try: when the bucket has leaked enough to hold it. Zero when
// it may try now.
func ipRetry(level float64, now time.Time) time.Time {
	over := level - IPFailureBudget
	if over <= 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(over / ipLeak * float64(time.Second))).Truncate(time.Second).Add(time.Second)
}

func readThrottle(ctx context.Context, tx *sql.Tx, k throttleKey) (throttle, error) {
	var t throttle
	var updated, blocked string
	err := tx.QueryRowContext(ctx, `SELECT failures, level, updated_at, blocked_until FROM signin_throttles WHERE scope = ? AND email = ? AND source = ?`,
		k.scope, k.email, k.source).Scan(&t.failures, &t.level, &updated, &blocked)
	if errors.Is(err, sql.ErrNoRows) {
		return throttle{}, nil
	}
	t.updated, t.blocked = ParseTime(updated), ParseTime(blocked)
	return t, err
}

func writeThrottle(ctx context.Context, tx *sql.Tx, k throttleKey, t throttle) error {
	blocked := ""
	if !t.blocked.IsZero() {
		blocked = FormatTime(t.blocked)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO signin_throttles (scope, email, source, failures, level, updated_at, blocked_until) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (scope, email, source) DO UPDATE SET failures = excluded.failures, level = excluded.level,
		updated_at = excluded.updated_at, blocked_until = excluded.blocked_until`,
		k.scope, k.email, k.source, t.failures, t.level, FormatTime(t.updated), blocked)
	return err
}

func deleteThrottle(ctx context.Context, tx *sql.Tx, k throttleKey) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM signin_throttles WHERE scope = ? AND email = ? AND source = ?`, k.scope, k.email, k.source)
	return err
}

// failure records one more failure of a consecutive-failure key (a pair,
// a second step) at now and returns its new state.
func (t throttle) failure(now time.Time) throttle {
	t.failures++
	t.updated = now
	t.blocked = time.Time{}
	if d := SignInDelay(t.failures); d > 0 {
		t.blocked = now.Add(d)
	}
	return t
}

// pruneThrottles forgets keys a day after their last failure.
func pruneThrottles(ctx context.Context, tx *sql.Tx, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM signin_throttles WHERE updated_at < ?`, FormatTime(now.Add(-throttleMemory)))
	return err
}

// Throttle is a sign-in throttle as /staff shows it.
type Throttle struct {
	Scope string
	// Email is the email tried ("" for an address's budget).
	Email string
	// Source is "ip:<address>", "device:<id>", or "" (second step).
	Source string
	// Failures are the consecutive failures (pair, second step), or the
	// address bucket's level now, rounded (ip).
	Failures     int
	LastFailure  time.Time
	BlockedUntil time.Time // zero when it may try now
}

// Address is the client address of the throttle, or "" (a device, a
// second step).
func (t Throttle) Address() string {
	a, _ := strings.CutPrefix(t.Source, "ip:")
	if a == t.Source {
		return ""
	}
	return a
}

// FromDevice reports whether the throttle is of a browser that signed in
// before (its device cookie), not of an address.
func (t Throttle) FromDevice() bool { return strings.HasPrefix(t.Source, "device:") }

// ListThrottles returns the throttles with failures in the last day,
// blocked ones first, at most 200.
func (s *Store) ListThrottles(ctx context.Context) ([]Throttle, error) {
	now := s.now().UTC()
	rows, err := s.r.QueryContext(ctx, `SELECT scope, email, source, failures, level, updated_at, blocked_until FROM signin_throttles
		WHERE updated_at >= ? ORDER BY blocked_until DESC, updated_at DESC LIMIT 200`, FormatTime(now.Add(-throttleMemory)))
	if err != nil {
		return nil, fmt.Errorf("db: list throttles: %w", err)
	}
	defer rows.Close()
	var out []Throttle
	for rows.Next() {
		var t Throttle
		var th throttle
		var updated, blocked string
		if err := rows.Scan(&t.Scope, &t.Email, &t.Source, &th.failures, &th.level, &updated, &blocked); err != nil {
			return nil, fmt.Errorf("db: list throttles: %w", err)
		}
		th.updated, th.blocked = ParseTime(updated), ParseTime(blocked)
		t.LastFailure, t.Failures = th.updated, th.failures
		if th.blocked.After(now) {
			t.BlockedUntil = th.blocked
		}
		if t.Scope == ThrottleIP {
			level := th.levelAt(now)
			t.Failures = int(level + 0.5)
			t.BlockedUntil = ipRetry(level+1, now)
			if t.Failures == 0 {
				continue
			}
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ClearThrottle forgets one throttle (an admin on /staff: the person
// behind it is known), and audits it.
func (s *Store) ClearThrottle(ctx context.Context, a Actor, scope, email, source string) error {
	k := throttleKey{scope: scope, email: normalizeEmail(email), source: source}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM signin_throttles WHERE scope = ? AND email = ? AND source = ?`, k.scope, k.email, k.source)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		detail := map[string]any{"scope": k.scope}
		if k.email != "" {
			detail["email"] = k.email
		}
		if addr := (Throttle{Source: k.source}).Address(); addr != "" {
			detail["address"] = addr
		}
		return s.appendAudit(ctx, tx, a, ActionThrottleCleared, "staff", "", detail)
	})
	if err != nil {
		return fmt.Errorf("db: clear throttle: %w", err)
	}
	return nil
}
