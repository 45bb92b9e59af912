package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Account health: the read side of the monitoring board (/monitoring).
// Every figure is a counter kept by triggers in the transactions that move
// accounts (platform_status_counts, status_transition_days) or an index
// range over the accounts that are not active (accounts_waiting,
// migration 050), so the board costs the same at 150,000 accounts as at
// 70.

// WaitingStatuses are the monitoring statuses of accounts that are not
// active, in the board's order: the ones that need someone to act first.
var WaitingStatuses = []string{pinwheel.StatusUserActionRequired, pinwheel.StatusDegraded, pinwheel.StatusUnavailable, pinwheel.StatusCustomerDisabled}

// NeedsActionStatuses are the statuses the board lists by default: the
// account needs the user (user_action_required) or Pinwheel cannot refresh
// it (degraded, unavailable). customer_disabled is the customer's own
// choice and is listed only when asked for.
var NeedsActionStatuses = []string{pinwheel.StatusUserActionRequired, pinwheel.StatusDegraded, pinwheel.StatusUnavailable}

// PlatformStatus is one row of the status × platform table.
type PlatformStatus struct {
	PlatformID string
	Name       string
	// ByStatus counts the platform's accounts per monitoring status (""
	// = not known yet).
	ByStatus map[string]int64
	Total    int64
}

// NotActive is how many of the platform's accounts are known and not
// active.
func (p PlatformStatus) NotActive() int64 {
	var n int64
	for _, s := range WaitingStatuses {
		n += p.ByStatus[s]
	}
	return n
}

// StatusByPlatform returns the accounts per platform and monitoring status,
// platforms with the most accounts needing action first, and the totals
// per status.
func (s *Store) StatusByPlatform(ctx context.Context) ([]PlatformStatus, map[string]int64, error) {
	var out []PlatformStatus
	totals := map[string]int64{}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT c.platform_id, COALESCE(f.label, ''), c.monitoring_status, c.n
FROM platform_status_counts c LEFT JOIN account_facet_counts f ON f.facet = 'platform' AND f.value = c.platform_id
WHERE c.n > 0 ORDER BY c.platform_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, name, status string
			var n int64
			if err := rows.Scan(&id, &name, &status, &n); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].PlatformID != id {
				out = append(out, PlatformStatus{PlatformID: id, Name: name, ByStatus: map[string]int64{}})
			}
			p := &out[len(out)-1]
			p.ByStatus[status] += n
			p.Total += n
			totals[status] += n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("db: status by platform: %w", err)
	}
	slices.SortStableFunc(out, func(a, b PlatformStatus) int {
		if c := cmp.Compare(b.NotActive(), a.NotActive()); c != 0 {
			return c
		}
		return cmp.Compare(b.Total, a.Total)
	})
	return out, totals, nil
}

// TransitionDay is one day of the board's chart: how many accounts left
// active (to any other status) and how many came back to active.
type TransitionDay struct {
	Day      time.Time
	Left     int64
	Returned int64
	// ByStatus counts the changes of the day by the status they led to.
	ByStatus map[string]int64
}

// StatusTransitions returns the status changes of the last days days
// (today included), one entry per day, oldest first, empty days included.
func (s *Store) StatusTransitions(ctx context.Context, days int) ([]TransitionDay, error) {
	if days <= 0 || days > 366 {
		days = 30
	}
	today := s.now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(days - 1))
	out := make([]TransitionDay, days)
	for i := range out {
		out[i] = TransitionDay{Day: first.AddDate(0, 0, i), ByStatus: map[string]int64{}}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT day, from_status, to_status, n FROM status_transition_days WHERE day >= ? ORDER BY day`,
		first.Format("2006-01-02"))
	if err != nil {
		return nil, fmt.Errorf("db: status transitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var day, from, to string
		var n int64
		if err := rows.Scan(&day, &from, &to, &n); err != nil {
			return nil, fmt.Errorf("db: status transitions: %w", err)
		}
		d, err := time.Parse("2006-01-02", day)
		if err != nil {
			continue
		}
		i := int(d.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= len(out) || from == "" {
			continue // a first status is no change
		}
		out[i].ByStatus[to] += n
		switch {
		case from == pinwheel.StatusActive:
			out[i].Left += n
		case to == pinwheel.StatusActive:
			out[i].Returned += n
		}
	}
	return out, rows.Err()
}

// WaitingQuery selects the board's list of accounts that are not active.
type WaitingQuery struct {
	// Status is one of WaitingStatuses; "" means NeedsActionStatuses.
	Status string
	// Platform is a platform_id; "" means every platform.
	Platform string
	// After is the keyset cursor (status_since, id), ascending: the
	// longest wait first.
	After Cursor
	// Limit is the page size; 0 means 50 (at most 500).
	Limit int
}

// Validate refuses a status that is not a waiting one.
func (q WaitingQuery) Validate() error {
	if q.Status != "" && !oneOf(q.Status, WaitingStatuses) {
		return FieldErrors{"status": "Choose a status from the list."}
	}
	return nil
}

// statuses is the set of statuses the query lists.
func (q WaitingQuery) statuses() []string {
	if q.Status != "" {
		return []string{q.Status}
	}
	return NeedsActionStatuses
}

// WaitingAccount is one line of the board's list.
type WaitingAccount struct {
	Ref          int64
	AccountID    string
	EndUserID    string
	PlatformID   string
	PlatformName string
	Status       string
	// Since is when the account's current status began.
	Since     time.Time
	Connected *bool
	// Cursor is the keyset position of this row.
	Cursor Cursor
}

// waitingColumns are the columns scanWaiting reads.
const waitingColumns = `a.id, a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_id, ''), COALESCE(a.platform_name, ''),
  a.monitoring_status, COALESCE(a.status_since, ''), a.connected`

func scanWaiting(sc interface{ Scan(...any) error }) (WaitingAccount, error) {
	var w WaitingAccount
	var since string
	var conn sql.NullBool
	if err := sc.Scan(&w.Ref, &w.AccountID, &w.EndUserID, &w.PlatformID, &w.PlatformName, &w.Status, &since, &conn); err != nil {
		return w, err
	}
	w.Since = ParseTime(since)
	if conn.Valid {
		w.Connected = &conn.Bool
	}
	w.Cursor = Cursor{At: since, ID: w.Ref}
	return w, nil
}

// waitingSQL reads one status's accounts in wait order after a position:
// one range of accounts_waiting or accounts_waiting_platform (the
// partial indexes' condition is repeated so SQLite may use them).
func waitingSQL(platform bool) string {
	where := `a.monitoring_status = ? AND a.monitoring_status <> 'active'`
	if platform {
		where += ` AND a.platform_id = ?`
	}
	return `SELECT ` + waitingColumns + ` FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref
WHERE ` + where + ` AND (a.status_since, a.id) > (?, ?)
ORDER BY a.status_since, a.id LIMIT ?`
}

// WaitingAccounts returns a page of accounts that are not active, the
// longest wait first, and the cursor of the next page (zero at the end).
// Each status is one index range read in order; several statuses are
// merged here, so a page never sorts more than its own rows.
func (s *Store) WaitingAccounts(ctx context.Context, q WaitingQuery) ([]WaitingAccount, Cursor, error) {
	if err := q.Validate(); err != nil {
		return nil, Cursor{}, err
	}
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 50
	}
	var out []WaitingAccount
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		for _, st := range q.statuses() {
			args := []any{st}
			if q.Platform != "" {
				args = append(args, q.Platform)
			}
			args = append(args, q.After.At, q.After.ID, q.Limit+1)
			rows, err := tx.QueryContext(ctx, waitingSQL(q.Platform != ""), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				w, err := scanWaiting(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out = append(out, w)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, Cursor{}, fmt.Errorf("db: waiting accounts: %w", err)
	}
	slices.SortFunc(out, func(a, b WaitingAccount) int {
		if c := strings.Compare(a.Cursor.At, b.Cursor.At); c != 0 {
			return c
		}
		return cmp.Compare(a.Ref, b.Ref)
	})
	var next Cursor
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[len(out)-1].Cursor
	}
	return out, next, nil
}

// CountWaiting counts the accounts a query lists (all pages), from the
// counters: exact, and free of any scan.
func (s *Store) CountWaiting(ctx context.Context, q WaitingQuery) (int64, error) {
	if err := q.Validate(); err != nil {
		return 0, err
	}
	sts := q.statuses()
	args := make([]any, 0, len(sts)+1)
	for _, st := range sts {
		args = append(args, st)
	}
	query := `SELECT COALESCE(SUM(n), 0) FROM platform_status_counts WHERE monitoring_status IN (` + placeholders(len(sts)) + `)`
	if q.Platform != "" {
		query += ` AND platform_id = ?`
		args = append(args, q.Platform)
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count waiting: %w", err)
	}
	return n, nil
}
