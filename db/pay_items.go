package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The read side of pay data: an account's current paystubs and shifts and
// its sync state, for the income report, its export and tests.

// PayItem is one stored paystub or shift. Amounts are cents, nil when
// Pinwheel sent none; dates are UTC midnights, zero when missing. For a
// shift, PayDate is its end date and the period its start and end dates.
type PayItem struct {
	// Ref is the row id; ItemID is Pinwheel's id.
	Ref       int64
	AccountID string
	Kind      string
	ItemID    string
	PayDate   time.Time
	// PeriodStart and PeriodEnd are the pay period (shift dates).
	PeriodStart, PeriodEnd time.Time
	Currency               string
	Gross, Net             *int64
	Taxes, Deductions      *int64
	Hours, OvertimeHours   *float64
	OvertimeAmount         *int64
	// Rate is the regular hourly rate in cents, when the earnings give one.
	Rate         *int64
	EmployerName string
	DocumentID   string
	// SHA256 is the hash of Body, the item as stored.
	SHA256      string
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	// RefreshedAt is when Pinwheel last read the payroll provider, as the
	// page that brought the item said.
	RefreshedAt time.Time
	// Body is the item's JSON; set only by reads that ask for it.
	Body string
}

// payItemColumns are the columns scanPayItem reads, in its order (the body
// last, when wanted).
const payItemColumns = `p.id, a.account_id, p.kind, p.item_id, p.pay_date, COALESCE(p.period_start, ''), COALESCE(p.period_end, ''), p.currency,
  p.gross, p.net, p.taxes, p.deductions, p.hours, p.overtime_hours, p.overtime_amount, p.rate, COALESCE(p.employer_name, ''),
  COALESCE(p.document_id, ''), p.body_sha256, p.first_seen_at, p.last_seen_at, COALESCE(p.refreshed_at, '')`

func scanPayItem(sc interface{ Scan(...any) error }, withBody bool) (PayItem, error) {
	var it PayItem
	var pay, ps, pe, first, last, refreshed string
	var gross, net, taxes, deds, ot, rate sql.NullInt64
	var hours, otHours sql.NullFloat64
	dst := []any{&it.Ref, &it.AccountID, &it.Kind, &it.ItemID, &pay, &ps, &pe, &it.Currency, &gross, &net, &taxes, &deds,
		&hours, &otHours, &ot, &rate, &it.EmployerName, &it.DocumentID, &it.SHA256, &first, &last, &refreshed}
	if withBody {
		dst = append(dst, &it.Body)
	}
	if err := sc.Scan(dst...); err != nil {
		return PayItem{}, err
	}
	it.PayDate, it.PeriodStart, it.PeriodEnd = ParseDate(pay), ParseDate(ps), ParseDate(pe)
	it.Gross, it.Net, it.Taxes, it.Deductions = intP(gross), intP(net), intP(taxes), intP(deds)
	it.OvertimeAmount, it.Rate = intP(ot), intP(rate)
	it.Hours, it.OvertimeHours = floatP(hours), floatP(otHours)
	it.FirstSeenAt, it.LastSeenAt, it.RefreshedAt = ParseTime(first), ParseTime(last), ParseTime(refreshed)
	return it, nil
}

// ParseDate reads a YYYY-MM-DD date as a UTC midnight; anything else gives
// the zero time.
func ParseDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func intP(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

func floatP(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	return &n.Float64
}

// PayItems returns an account's current paystubs or shifts (not deleted,
// not superseded by a newer version), oldest pay date first, or
// ErrNotFound for an unknown account.
func (s *Store) PayItems(ctx context.Context, accountID, kind string) ([]PayItem, error) {
	var out []PayItem
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		ref, err := accountRefOf(ctx, tx, accountID)
		if err != nil {
			return err
		}
		out, err = currentPayItems(ctx, tx, ref, kind, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: pay items of %s: %w", accountID, err)
	}
	return out, nil
}

// currentPayItems reads an account's current items of kind through the
// pay_items_current index.
func currentPayItems(ctx context.Context, tx *sql.Tx, ref int64, kind string, withBody bool) ([]PayItem, error) {
	cols := payItemColumns
	if withBody {
		cols += ", p.body"
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+cols+` FROM pay_items p JOIN accounts a ON a.id = p.account_ref
WHERE p.account_ref = ? AND p.kind = ? AND p.superseded_at IS NULL AND p.deleted_at IS NULL ORDER BY p.pay_date, p.id`, ref, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PayItem
	for rows.Next() {
		it, err := scanPayItem(rows, withBody)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// reportPayItems reads what the income report needs of an account's
// current items of kind: the columns its figures use, nothing else (no
// join, no timestamps), since an end user's report reads thousands.
func reportPayItems(ctx context.Context, tx *sql.Tx, ref int64, accountID, kind string) ([]PayItem, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.item_id, p.pay_date, COALESCE(p.period_start, ''), COALESCE(p.period_end, ''), p.currency,
  p.gross, p.net, p.taxes, p.deductions, p.hours, p.overtime_hours, p.overtime_amount, p.rate, COALESCE(p.employer_name, ''), p.body_sha256
FROM pay_items p WHERE p.account_ref = ? AND p.kind = ? AND p.superseded_at IS NULL AND p.deleted_at IS NULL ORDER BY p.pay_date, p.id`, ref, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PayItem
	for rows.Next() {
		it := PayItem{AccountID: accountID, Kind: kind}
		var pay, ps, pe string
		var gross, net, taxes, deds, ot, rate sql.NullInt64
		var hours, otHours sql.NullFloat64
		if err := rows.Scan(&it.Ref, &it.ItemID, &pay, &ps, &pe, &it.Currency, &gross, &net, &taxes, &deds, &hours, &otHours, &ot, &rate,
			&it.EmployerName, &it.SHA256); err != nil {
			return nil, err
		}
		it.PayDate, it.PeriodStart, it.PeriodEnd = ParseDate(pay), ParseDate(ps), ParseDate(pe)
		it.Gross, it.Net, it.Taxes, it.Deductions = intP(gross), intP(net), intP(taxes), intP(deds)
		it.OvertimeAmount, it.Rate = intP(ot), intP(rate)
		it.Hours, it.OvertimeHours = floatP(hours), floatP(otHours)
		out = append(out, it)
	}
	return out, rows.Err()
}

// accountRefOf is the row id of an account, or ErrNotFound.
func accountRefOf(ctx context.Context, tx *sql.Tx, accountID string) (int64, error) {
	var ref int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE account_id = ?`, accountID).Scan(&ref)
	return ref, notFound(err)
}

// PaySync is the sync state of an account's paystubs or shifts: what
// Pinwheel said about the sync and what Linkdesk fetched.
type PaySync struct {
	Kind string
	// Status is the latest sync_status (in_progress, complete); "" before
	// any paystubs.added or shifts.added.
	Status string
	// StatusAt is the time of the job that reported it.
	StatusAt time.Time
	// FullySyncedAt is the latest *.fully_synced event.
	FullySyncedAt time.Time
	// Requested counts the webhooks that asked for a fetch; Fetched is the
	// count the last fetch answered (equal: nothing waits).
	Requested, Fetched int64
	LastFetchedAt      time.Time
	// RefreshedAt is when Pinwheel last read the payroll provider.
	RefreshedAt time.Time
	// FullFetchedAt is when the whole history was last read.
	FullFetchedAt time.Time
	// LastFetchItems and LastFetchSkipped count the items the last fetch
	// stored and could not read.
	LastFetchItems, LastFetchSkipped int
	// Pending counts announced ids not fetched yet; Missing those of them
	// Pinwheel did not return when asked; Deleted the ids deleted.
	Pending, Missing, Deleted int
}

// Waiting reports whether a fetch asked for has not run yet.
func (p PaySync) Waiting() bool { return p.Requested > p.Fetched }

// PaySyncState returns the sync state of an account's paystubs or shifts
// (zero when nothing was ever reported), or ErrNotFound for an unknown
// account.
func (s *Store) PaySyncState(ctx context.Context, accountID, kind string) (PaySync, error) {
	var p PaySync
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		ref, err := accountRefOf(ctx, tx, accountID)
		if err != nil {
			return err
		}
		p, err = paySyncOf(ctx, tx, ref, kind)
		return err
	})
	if err != nil {
		return PaySync{}, fmt.Errorf("db: pay sync of %s: %w", accountID, err)
	}
	return p, nil
}

func paySyncOf(ctx context.Context, tx *sql.Tx, ref int64, kind string) (PaySync, error) {
	p := PaySync{Kind: kind}
	var statusAt, fully, fetched, refreshed, full string
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(status, ''), COALESCE(status_at, ''), COALESCE(fully_synced_at, ''), version, fetched_version,
  COALESCE(last_fetched_at, ''), COALESCE(last_refreshed_at, ''), COALESCE(full_fetched_at, ''), last_fetch_items, last_fetch_skipped
FROM pay_sync WHERE account_ref = ? AND kind = ?`, ref, kind).Scan(&p.Status, &statusAt, &fully, &p.Requested, &p.Fetched,
		&fetched, &refreshed, &full, &p.LastFetchItems, &p.LastFetchSkipped)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, err
	}
	p.StatusAt, p.FullySyncedAt, p.LastFetchedAt, p.RefreshedAt, p.FullFetchedAt = ParseTime(statusAt), ParseTime(fully),
		ParseTime(fetched), ParseTime(refreshed), ParseTime(full)
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(missing_since) FROM pay_pending WHERE account_ref = ? AND kind = ?`, ref, kind).
		Scan(&p.Pending, &p.Missing)
	if err != nil {
		return p, err
	}
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM pay_deletions WHERE account_ref = ? AND kind = ?`, ref, kind).Scan(&p.Deleted)
	return p, err
}
