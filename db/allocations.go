package db

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// The allocation projection: what an account's latest direct deposit
// allocations send to the organisation's own deposit accounts. Campaigns
// filter cohorts on it (cohort_accounts.alloc*) and judge conversions by
// it (a later snapshot sending more than the baseline). It is computed in
// Go when an allocations snapshot is stored (SnapshotFetched), and for
// every account by the JobCohortAllocations job (after the migration, and
// when a deposit account is added: which allocations are ours changed).

// Allocation kinds, from weakest to strongest.
const (
	// AllocUnknown: no allocations snapshot yet.
	AllocUnknown = "unknown"
	// AllocNone: nothing goes to our deposit accounts.
	AllocNone = "none"
	// AllocAmount: fixed amounts go to our accounts.
	AllocAmount = "amount"
	// AllocPercentage: a percentage goes to our accounts (maybe amounts too).
	AllocPercentage = "percentage"
	// AllocRemainder: the remainder of the paycheck goes to our accounts.
	AllocRemainder = "remainder"
)

// JobCohortAllocations recomputes the allocation projection of every
// account (payload {}, one queued at a time).
const JobCohortAllocations = "cohort.allocations"

// AllocationLevel is what one allocations snapshot sends to our deposit
// accounts.
type AllocationLevel struct {
	// Kind is one of the Alloc* constants.
	Kind string
	// Cents and Pct are the fixed amounts and the percentages to our
	// accounts.
	Cents int64
	Pct   float64
	// EstCents estimates what reaches our accounts per paycheck, in cents:
	// the amounts, plus the percentage and the remainder of the estimated
	// gross paycheck (PaycheckCents). EstKnown is false when a percentage
	// or the remainder is ours and no paycheck estimate exists.
	EstCents int64
	EstKnown bool
}

// Known reports whether the level comes from a snapshot.
func (l AllocationLevel) Known() bool { return l.Kind != "" && l.Kind != AllocUnknown }

// ourAccount identifies a deposit account of the organisation in an
// allocation row, which carries only its routing number and a masked
// number.
type ourAccount struct{ routing, last4 string }

// ourAccounts lists every deposit account, archived ones included: pay
// that reaches an archived account still reaches the organisation.
func ourAccounts(ctx context.Context, q readQuerier) ([]ourAccount, error) {
	rows, err := q.QueryContext(ctx, `SELECT routing_number, account_last4 FROM deposit_accounts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ourAccount
	for rows.Next() {
		var o ourAccount
		if err := rows.Scan(&o.routing, &o.last4); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// trailingDigits returns the digits at the end of a masked account number
// ("••6789", "XXXXXX6789", "6789").
func trailingDigits(s string) string {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	return s[i:]
}

// isOurs reports whether an allocation row goes to one of our accounts:
// the same routing number and a masked number whose digits (at least two,
// Pinwheel sometimes shows only two) end our account's last four.
func isOurs(a pinwheel.DDAllocation, ours []ourAccount) bool {
	if a.RoutingNumber == nil || a.MaskedAccountNumber == nil {
		return false
	}
	tail := trailingDigits(*a.MaskedAccountNumber)
	if len(tail) < 2 {
		return false
	}
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	for _, o := range ours {
		if o.routing == strings.TrimSpace(*a.RoutingNumber) && strings.HasSuffix(o.last4, tail) {
			return true
		}
	}
	return false
}

// LevelOf projects an allocations snapshot onto our deposit accounts;
// paycheck is the estimated gross paycheck in cents (0: unknown).
func LevelOf(set *pinwheel.DDAllocations, ours []ourAccount, paycheck int64) AllocationLevel {
	if set == nil {
		return AllocationLevel{Kind: AllocUnknown}
	}
	var l AllocationLevel
	var remainder bool
	var otherCents int64
	var otherPct float64
	for _, a := range set.Allocations {
		mine := isOurs(a, ours)
		switch a.AllocationType {
		case pinwheel.AllocationAmount:
			if a.Amount == nil {
				continue
			}
			if mine {
				l.Cents += *a.Amount
			} else {
				otherCents += *a.Amount
			}
		case pinwheel.AllocationPercentage:
			if a.Percentage == nil {
				continue
			}
			if mine {
				l.Pct += *a.Percentage
			} else {
				otherPct += *a.Percentage
			}
		case pinwheel.AllocationRemainder:
			if mine {
				remainder = true
			}
		}
	}
	switch {
	case remainder:
		l.Kind = AllocRemainder
	case l.Pct > 0:
		l.Kind = AllocPercentage
	case l.Cents > 0:
		l.Kind = AllocAmount
	default:
		l.Kind = AllocNone
	}
	l.EstCents, l.EstKnown = l.Cents, true
	if l.Pct > 0 || remainder {
		if paycheck <= 0 {
			l.EstKnown = false
			return l
		}
		l.EstCents += int64(math.Round(l.Pct / 100 * float64(paycheck)))
		if remainder {
			rest := paycheck - otherCents - l.Cents - int64(math.Round((otherPct+l.Pct)/100*float64(paycheck)))
			l.EstCents += max(rest, 0)
		}
	}
	return l
}

// CompareLevels says whether cur sends more (+1), less (-1) or the same
// (0) to our accounts than base. Taking the remainder outranks any fixed
// share; otherwise amounts and percentages must move the same way (or one
// stay put); when one rises and the other falls, the estimate in cents
// decides, and without one the change counts as neither.
func CompareLevels(base, cur AllocationLevel) int {
	br, cr := base.Kind == AllocRemainder, cur.Kind == AllocRemainder
	switch {
	case br != cr && cr:
		return 1
	case br != cr:
		return -1
	}
	da, dp := cur.Cents-base.Cents, cur.Pct-base.Pct
	switch {
	case da >= 0 && dp >= 0 && (da > 0 || dp > 0):
		return 1
	case da <= 0 && dp <= 0 && (da < 0 || dp < 0):
		return -1
	case da == 0 && dp == 0:
		return 0
	case base.EstKnown && cur.EstKnown && cur.EstCents != base.EstCents:
		if cur.EstCents > base.EstCents {
			return 1
		}
		return -1
	}
	return 0
}

// PaycheckCents estimates the gross pay of one paycheck, in cents, from an
// income snapshot: the compensation per year (hourly at 2,080 hours, daily
// at 260 days) divided by the pay periods of pay_frequency (bi-weekly when
// it is missing or unknown). 0 when it cannot be estimated (variable or
// per-mile pay).
func PaycheckCents(in *pinwheel.Income) int64 {
	if in == nil || in.CompensationAmount <= 0 {
		return 0
	}
	perYear := map[string]float64{"hourly": 2080, "daily": 260, "weekly": 52, "bi-weekly": 26, "semi-weekly": 104,
		"monthly": 12, "semi-monthly": 24, "annually": 1}
	f, ok := perYear[in.CompensationUnit]
	if !ok {
		return 0
	}
	periods := 26.0
	if in.PayFrequency != nil {
		if p, ok := perYear[*in.PayFrequency]; ok && p >= 12 && p <= 104 {
			periods = p
		}
	}
	return int64(math.Round(float64(in.CompensationAmount) * f / periods))
}

// latestPaycheck estimates the account's paycheck from its latest income
// snapshot (0 when there is none or it cannot be priced).
func latestPaycheck(ctx context.Context, q readQuerier, accountRef int64) (int64, error) {
	var body string
	err := q.QueryRowContext(ctx, `SELECT body FROM data_snapshots WHERE account_ref = ? AND kind = ? ORDER BY id DESC LIMIT 1`,
		accountRef, FetchIncome).Scan(&body)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	d, err := DecodeSnapshot(FetchIncome, []byte(body))
	if err != nil {
		return 0, nil
	}
	return PaycheckCents(d.Income), nil
}

// nullableEst is a level's estimate as a column value.
func nullableEst(l AllocationLevel) sql.NullInt64 {
	return sql.NullInt64{Int64: l.EstCents, Valid: l.EstKnown}
}

// projectAllocations stores a new allocations snapshot's projection on the
// account (unless a snapshot of a later time is already projected) and
// judges the account's campaign members by it, inside the transaction that
// stores the snapshot. A body that does not decode changes nothing.
func (s *Store) projectAllocations(ctx context.Context, tx *sql.Tx, accountRef, snap int64, body []byte, at time.Time) error {
	d, err := DecodeSnapshot(FetchDDAllocations, body)
	if err != nil {
		return nil
	}
	ours, err := ourAccounts(ctx, tx)
	if err != nil {
		return err
	}
	pay, err := latestPaycheck(ctx, tx, accountRef)
	if err != nil {
		return err
	}
	l := LevelOf(d.Allocations, ours, pay)
	if err := storeProjection(ctx, tx, accountRef, snap, l, at); err != nil {
		return err
	}
	return s.judgeMembers(ctx, tx, accountRef, FetchDDAllocations, l, at)
}

// storeProjection writes an account's allocation projection unless a later
// snapshot's is already there.
func storeProjection(ctx context.Context, tx *sql.Tx, accountRef, snap int64, l AllocationLevel, at time.Time) error {
	t := FormatTime(at)
	_, err := tx.ExecContext(ctx, `UPDATE cohort_accounts SET alloc = ?, alloc_cents = ?, alloc_pct = ?, alloc_est_cents = ?, alloc_at = ?,
  alloc_snapshot_ref = ? WHERE account_ref = ? AND (alloc_at IS NULL OR alloc_at <= ?)`,
		l.Kind, l.Cents, l.Pct, nullableEst(l), t, snap, accountRef, t)
	if err != nil {
		return fmt.Errorf("allocation projection: %w", err)
	}
	return nil
}

// snapshotTime is the order key of a snapshot: when Pinwheel last read the
// payroll provider, else when we fetched it.
func snapshotTime(refreshed sql.NullString, fetched string) time.Time {
	if refreshed.Valid && refreshed.String != "" {
		return ParseTime(refreshed.String)
	}
	return ParseTime(fetched)
}

// recomputeBatch is how many accounts one transaction of
// RecomputeAllocations projects.
const recomputeBatch = 500

// RecomputeAllocations projects the latest allocations snapshot of the
// accounts after the account ref after (in ref order) onto the current
// deposit accounts, a batch at a time, and returns the ref to continue
// from (0 when every account is done). Campaign baselines, frozen at
// launch, are left as they are.
func (s *Store) RecomputeAllocations(ctx context.Context, after int64) (int64, error) {
	next := int64(0)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ours, err := ourAccounts(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT account_ref FROM cohort_accounts WHERE account_ref > ? ORDER BY account_ref LIMIT ?`, after, recomputeBatch)
		if err != nil {
			return err
		}
		var refs []int64
		for rows.Next() {
			var r int64
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return err
			}
			refs = append(refs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ref := range refs {
			if err := recomputeOne(ctx, tx, ref, ours); err != nil {
				return err
			}
		}
		if len(refs) == recomputeBatch {
			next = refs[len(refs)-1]
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("db: recompute allocations: %w", err)
	}
	return next, nil
}

// recomputeOne projects the latest (by snapshot time) of an account's
// recent allocations snapshots.
func recomputeOne(ctx context.Context, tx *sql.Tx, ref int64, ours []ourAccount) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, refreshed_at, fetched_at, body FROM data_snapshots
WHERE account_ref = ? AND kind = ? ORDER BY id DESC LIMIT 5`, ref, FetchDDAllocations)
	if err != nil {
		return err
	}
	var best struct {
		id   int64
		at   time.Time
		body string
	}
	for rows.Next() {
		var id int64
		var refreshed sql.NullString
		var fetched, body string
		if err := rows.Scan(&id, &refreshed, &fetched, &body); err != nil {
			rows.Close()
			return err
		}
		if at := snapshotTime(refreshed, fetched); best.id == 0 || at.After(best.at) {
			best.id, best.at, best.body = id, at, body
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || best.id == 0 {
		return err
	}
	d, err := DecodeSnapshot(FetchDDAllocations, []byte(best.body))
	if err != nil {
		return nil
	}
	pay, err := latestPaycheck(ctx, tx, ref)
	if err != nil {
		return err
	}
	l := LevelOf(d.Allocations, ours, pay)
	_, err = tx.ExecContext(ctx, `UPDATE cohort_accounts SET alloc = ?, alloc_cents = ?, alloc_pct = ?, alloc_est_cents = ?, alloc_at = ?,
  alloc_snapshot_ref = ? WHERE account_ref = ?`, l.Kind, l.Cents, l.Pct, nullableEst(l), FormatTime(best.at), best.id, ref)
	return err
}
