package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Browse: the read side behind /accounts and /end-users. Lists sort by
// latest activity, newest first, and page with keyset cursors on
// (activity time, id): a page costs the same at any depth, and because
// activity times only grow, a row that gets a new event moves to the front
// and is never listed twice in one pass (rows that did not change are
// listed exactly once). Migration 003_browse.sql holds the indexes.

// Cursor is a keyset position in a list sorted by (time, id) descending;
// the next page holds the rows strictly after it. The zero Cursor is the
// start of the list.
type Cursor struct {
	At string // a stored time (TimeFormat)
	ID int64
}

// IsZero reports whether c is the start of the list.
func (c Cursor) IsZero() bool { return c.ID == 0 }

// String encodes c for a URL: "<time>_<id>".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return c.At + "_" + strconv.FormatInt(c.ID, 10)
}

// ErrBadCursor is returned by ParseCursor for a value no page produced.
var ErrBadCursor = errors.New("db: bad page cursor")

// ParseCursor decodes Cursor.String; "" gives the zero Cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	at, id, ok := strings.Cut(s, "_")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 {
		return Cursor{}, ErrBadCursor
	}
	if _, err := time.Parse(TimeFormat, at); err != nil {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{At: at, ID: n}, nil
}

// Monitoring statuses (Pinwheel's enum) and job outcomes, for validating
// filters. An unknown value is refused rather than matching nothing.
var (
	MonitoringStatuses = []string{"active", "degraded", "user_action_required", "customer_disabled", "unavailable"}
	JobOutcomes        = []string{"success", "error", "pending"}
)

func oneOf(v string, list []string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// AccountQuery selects accounts for /accounts. Empty fields do not filter.
type AccountQuery struct {
	// Status is a monitoring status.
	Status string
	// Platform is a platform_id.
	Platform string
	// Connected filters on the connected flag.
	Connected *bool
	// LastOutcome is the outcome of the account's most recent job.
	LastOutcome string
	// QuietDays keeps accounts with no event in the last N days.
	QuietDays int
	// After is the keyset cursor; Limit the page size (0 means 50).
	After Cursor
	Limit int
	// Oldest lists least recent activity first (the same index, walked
	// the other way).
	Oldest bool
}

// Validate reports filter values that cannot match.
func (q AccountQuery) Validate() error {
	fe := FieldErrors{}
	if q.Status != "" && !oneOf(q.Status, MonitoringStatuses) {
		fe["status"] = "Choose a monitoring status from the list."
	}
	if q.LastOutcome != "" && !oneOf(q.LastOutcome, JobOutcomes) {
		fe["last_outcome"] = "Choose success, error or pending."
	}
	if q.QuietDays < 0 || q.QuietDays > 3650 {
		fe["quiet_days"] = "Enter a number of days from 1 to 3650."
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// AccountRow is one line of the accounts list.
type AccountRow struct {
	AccountID          string
	EndUserID          string
	PlatformID         string
	PlatformName       string
	MonitoringStatus   string
	MonitoringStatusAt time.Time
	Connected          *bool
	CreatedAt          time.Time
	LastEventAt        time.Time
	EventCount         int
	LastJob            string
	LastJobOutcome     string
	LastJobAt          time.Time
	// Cursor is the keyset position of this row.
	Cursor Cursor
}

// ListAccounts returns a page of accounts, latest activity first, and the
// cursor of the next page (zero when this is the last). Pages walk the
// covering activity index (accounts_activity, migration 008), testing the
// filters on its columns; a rare status or platform starts from its own
// index instead and sorts its few accounts (see accountPlan).
func (s *Store) ListAccounts(ctx context.Context, q AccountQuery) ([]AccountRow, Cursor, error) {
	if err := q.Validate(); err != nil {
		return nil, Cursor{}, err
	}
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 50
	}
	var out []AccountRow
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		plan, err := s.accountPlan(ctx, tx, q)
		if err != nil {
			return err
		}
		query, args := accountsSQL(q, s.now(), plan)
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = scanAccountRows(rows)
		return err
	})
	if err != nil {
		return nil, Cursor{}, fmt.Errorf("db: list accounts: %w", err)
	}
	return page(out, q.Limit, func(r AccountRow) Cursor { return r.Cursor })
}

// accountDriveFactor decides when a status or platform filter starts from
// that value's own index: when its n accounts satisfy n² ≤ factor·N (N all
// accounts). Starting there costs about 1.5 µs per matching account (read
// and sort); walking the covering activity index tests its columns before
// reading a row, about 33 ns an entry, and finds a page after about 50·N/n
// entries. Measured on 150,000 accounts (docs/PERFORMANCE.md): a status of
// 992 accounts took 0.26 ms walking and 1.6 ms starting from it; a status
// of none took 10.9 ms walking and 0.11 ms starting from it.
var accountDriveFactor int64 = 1

// accountPlan says which filter, if any, drives an accounts query.
type accountPlan struct{ byStatus, byPlatform bool }

// accountPlan reads the counters of the filtered values and picks the
// rarer one to drive the query when it is rare enough.
func (s *Store) accountPlan(ctx context.Context, tx *sql.Tx, q AccountQuery) (accountPlan, error) {
	var p accountPlan
	if q.Status == "" && q.Platform == "" || accountDriveFactor < 0 {
		return p, nil
	}
	var total, nStatus, nPlatform int64
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM account_facet_counts WHERE facet = 'platform'`).Scan(&total)
	if err == nil && q.Status != "" {
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM status_counts WHERE monitoring_status = ?`, q.Status).Scan(&nStatus)
	}
	if err == nil && q.Platform != "" {
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM account_facet_counts WHERE facet = 'platform' AND value = ?`, q.Platform).Scan(&nPlatform)
	}
	if err != nil {
		return p, err
	}
	rare := func(n int64) bool { return n*n <= accountDriveFactor*total }
	switch {
	case q.Status != "" && (q.Platform == "" || nStatus <= nPlatform):
		p.byStatus = rare(nStatus)
	case q.Platform != "":
		p.byPlatform = rare(nPlatform)
	}
	return p, nil
}

func scanAccountRows(rows *sql.Rows) ([]AccountRow, error) {
	defer rows.Close()
	var out []AccountRow
	for rows.Next() {
		var r AccountRow
		var id int64
		var statusAt, created, last, jobAt string
		var conn sql.NullBool
		if err := rows.Scan(&id, &r.AccountID, &r.EndUserID, &r.PlatformID, &r.PlatformName, &r.MonitoringStatus, &statusAt, &conn,
			&created, &last, &r.EventCount, &r.LastJob, &r.LastJobOutcome, &jobAt); err != nil {
			return nil, err
		}
		if conn.Valid {
			r.Connected = &conn.Bool
		}
		r.MonitoringStatusAt, r.CreatedAt, r.LastEventAt, r.LastJobAt = ParseTime(statusAt), ParseTime(created), ParseTime(last), ParseTime(jobAt)
		r.Cursor = Cursor{At: last, ID: id}
		out = append(out, r)
	}
	return out, rows.Err()
}

// accountRowColumns are the columns scanAccountRows reads (accounts a,
// end_users u).
const accountRowColumns = `a.id, a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_id, ''),
  COALESCE(a.platform_name, ''), COALESCE(a.monitoring_status, ''), COALESCE(a.monitoring_status_at, ''), a.connected,
  COALESCE(a.created_at, ''), a.last_event_at, a.event_count, COALESCE(a.last_job, ''), COALESCE(a.last_job_outcome, ''),
  COALESCE(a.last_job_at, '')`

// accountsSQL is the accounts list query and its arguments.
func accountsSQL(q AccountQuery, now time.Time, p accountPlan) (string, []any) {
	where, args := accountWhere(q, now, p)
	dir := orderDir(q.Oldest)
	return `SELECT ` + accountRowColumns + `
FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref
WHERE ` + strings.Join(where, " AND ") + `
ORDER BY a.last_event_at ` + dir + `, a.id ` + dir + ` LIMIT ?`, append(args, q.Limit+1)
}

// orderDir is the SQL direction of a list: newest first unless oldest.
func orderDir(oldest bool) string {
	if oldest {
		return "ASC"
	}
	return "DESC"
}

// CountAccounts counts the accounts q selects (its cursor aside), up to
// limit; more reports that there are more.
func (s *Store) CountAccounts(ctx context.Context, q AccountQuery, limit int) (n int64, more bool, err error) {
	if err := q.Validate(); err != nil {
		return 0, false, err
	}
	q.After, q.Oldest = Cursor{}, false
	err = s.rtx(ctx, func(tx *sql.Tx) error {
		plan, err := s.accountPlan(ctx, tx, q)
		if err != nil {
			return err
		}
		where, args := accountWhere(q, s.now(), plan)
		n, more, err = countRows(ctx, tx, "accounts a", where, args, limit)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("db: count accounts: %w", err)
	}
	return n, more, nil
}

// page trims a result fetched with limit+1 rows and returns the next cursor.
func page[T any](rows []T, limit int, cur func(T) Cursor) ([]T, Cursor, error) {
	if len(rows) <= limit {
		return rows, Cursor{}, nil
	}
	rows = rows[:limit]
	return rows, cur(rows[limit-1]), nil
}

// accountWhere builds the WHERE terms of an account query. Rare values
// (disconnected, a last job that failed or is pending) repeat the partial
// index's condition literally, so that the planner may use it.
//
// The status and platform terms carry a unary + (which keeps the planner
// off that column's index) unless the plan drives the query by it.
func accountWhere(q AccountQuery, now time.Time, p accountPlan) ([]string, []any) {
	where, args := []string{"1=1"}, []any{}
	plus := func(drive bool) string {
		if drive {
			return ""
		}
		return "+"
	}
	if q.Status != "" {
		where, args = append(where, plus(p.byStatus)+"a.monitoring_status = ?"), append(args, q.Status)
	}
	if q.Platform != "" {
		where, args = append(where, plus(p.byPlatform)+"a.platform_id = ?"), append(args, q.Platform)
	}
	if q.Connected != nil {
		if *q.Connected {
			where = append(where, "a.connected = 1")
		} else {
			where = append(where, "a.connected = 0")
		}
	}
	if q.LastOutcome != "" {
		where, args = append(where, "a.last_job_outcome = ?"), append(args, q.LastOutcome)
		if q.LastOutcome != "success" {
			where = append(where, "a.last_job_outcome IN ('error', 'pending')")
		}
	}
	var quiet string
	if q.QuietDays > 0 {
		quiet = FormatTime(now.UTC().Add(-time.Duration(q.QuietDays) * 24 * time.Hour))
	}
	if q.Oldest {
		if quiet != "" {
			where, args = append(where, "a.last_event_at < ?"), append(args, quiet)
		}
		where, args = append(where, "(a.last_event_at, a.id) > (?, ?)"), append(args, q.After.At, q.After.ID)
		return where, args
	}
	// Newest first, the quiet cutoff and the cursor are one upper bound
	// (ids are positive, so last_event_at < cut is (last_event_at, id) <
	// (cut, 0)): PostgreSQL starts a backward index scan from one of two
	// bounds on the same column, and given the cursor's it read every
	// recent account before the first quiet one (1,000 pages, 9 ms at
	// 150,000 accounts).
	after := q.After.orTop()
	if quiet != "" && quiet <= after.At {
		after = Cursor{At: quiet, ID: 0}
	}
	where, args = append(where, "(a.last_event_at, a.id) < (?, ?)"), append(args, after.At, after.ID)
	return where, args
}

// topCursor sorts after every row: page one is a keyset range too.
var topCursor = Cursor{At: "9999-12-31T23:59:59.999999Z", ID: 1 << 62}

// orTop returns c, or topCursor for the start of the list.
func (c Cursor) orTop() Cursor {
	if c.IsZero() {
		return topCursor
	}
	return c
}

// FacetCount is one value of a filter and how many accounts have it.
type FacetCount struct {
	Value string
	// Label is the platform name (platform facet only).
	Label string
	N     int64
}

// AccountFacets are the counts shown beside the filters of /accounts. They
// are totals over all accounts (not narrowed by the other filters), read
// from counters kept in the ingest transaction: status_counts and
// account_facet_counts.
type AccountFacets struct {
	Total       int64
	Statuses    []FacetCount
	Platforms   []FacetCount
	Connected   []FacetCount
	LastOutcome []FacetCount
}

// Count returns the count of one value of a facet list.
func Count(list []FacetCount, value string) int64 {
	for _, f := range list {
		if f.Value == value {
			return f.N
		}
	}
	return 0
}

// AccountFacets returns the filter counts of /accounts.
func (s *Store) AccountFacets(ctx context.Context) (AccountFacets, error) {
	var f AccountFacets
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT monitoring_status, '', n FROM status_counts WHERE n > 0 ORDER BY n DESC, monitoring_status`)
		if err != nil {
			return err
		}
		if f.Statuses, err = scanFacets(rows); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT facet, value, label, n FROM account_facet_counts WHERE n > 0 ORDER BY facet, n DESC, label, value`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var facet string
			var c FacetCount
			if err := rows.Scan(&facet, &c.Value, &c.Label, &c.N); err != nil {
				return err
			}
			switch facet {
			case "platform":
				f.Platforms = append(f.Platforms, c)
				f.Total += c.N
			case "connected":
				f.Connected = append(f.Connected, c)
			case "last_job_outcome":
				f.LastOutcome = append(f.LastOutcome, c)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return AccountFacets{}, fmt.Errorf("db: account facets: %w", err)
	}
	return f, nil
}

func scanFacets(rows *sql.Rows) ([]FacetCount, error) {
	defer rows.Close()
	var out []FacetCount
	for rows.Next() {
		var c FacetCount
		if err := rows.Scan(&c.Value, &c.Label, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// EndUserQuery selects end users for /end-users. Empty fields do not
// filter.
type EndUserQuery struct {
	// Status keeps end users with at least one account in this monitoring
	// status.
	Status string
	// Platform keeps end users with at least one account on this
	// platform_id.
	Platform string
	// ActiveSince keeps end users with activity at or after this time.
	ActiveSince time.Time
	// After is the keyset cursor; Limit the page size (0 means 50).
	After Cursor
	Limit int
	// Oldest lists least recent activity first.
	Oldest bool
}

// Validate reports filter values that cannot match.
func (q EndUserQuery) Validate() error {
	if q.Status != "" && !oneOf(q.Status, MonitoringStatuses) {
		return FieldErrors{"status": "Choose a monitoring status from the list."}
	}
	return nil
}

// EndUserRow is one line of the end users list.
type EndUserRow struct {
	EndUserID string
	// Name is the person's name (EndUser.Name).
	Name         string
	AccountCount int
	EventCount   int
	FirstSeenAt  time.Time
	LastSeenAt   time.Time
	// Statuses are the distinct monitoring statuses of the user's accounts.
	Statuses []string
	Cursor   Cursor
}

// driveFactor decides the plan of an end-user filter on status or
// platform. Starting from the n matching accounts costs one look-up of each
// one's end user (the accounts themselves are read from the filter's
// covering index, migration 082) and a sort of n users; walking all U end
// users by activity and probing each one's accounts finds a page of L
// after about L·U/n probes of about the same cost. So the query starts
// from the accounts when n² ≤ (driveFactor/50)·U·L: with 50, when the two
// costs are equal. Measured on the Browse dataset (docs/PERFORMANCE.md,
// "Fourth pass"): 971 unavailable accounts among 100,829 end users, a page
// of 50 took 12–15 ms walking and 5–11 ms starting from the accounts on
// SQLite (about even on PostgreSQL, 12–15 ms). Before migration 082 each
// matching account cost a table page too, and the factor was 6. A query
// of L rows (the count line's, up to 1,001) walks L/50 times as far as a
// page, so the bound grows with L.
var driveFactor int64 = 50

// ListEndUsers returns a page of end users, latest activity first, and the
// next cursor (zero on the last page).
func (s *Store) ListEndUsers(ctx context.Context, q EndUserQuery) ([]EndUserRow, Cursor, error) {
	if err := q.Validate(); err != nil {
		return nil, Cursor{}, err
	}
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 50
	}
	var out []EndUserRow
	// No transaction: the counts that choose the plan need not be of the
	// page's snapshot, and on PostgreSQL BEGIN and ROLLBACK are two round
	// trips more.
	err := func() error {
		query, args, _, err := s.endUserSQL(ctx, s.r, q, endUserColumns, 0, false)
		if err != nil {
			return err
		}
		rows, err := s.r.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r EndUserRow
			var id int64
			var first, last string
			var statuses sql.NullString
			if err := rows.Scan(&id, &r.EndUserID, &r.AccountCount, &r.EventCount, &first, &last, &statuses, &r.Name); err != nil {
				return err
			}
			r.FirstSeenAt, r.LastSeenAt = ParseTime(first), ParseTime(last)
			if statuses.String != "" {
				r.Statuses = strings.Split(statuses.String, ",")
			}
			r.Cursor = Cursor{At: last, ID: id}
			out = append(out, r)
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, Cursor{}, fmt.Errorf("db: list end users: %w", err)
	}
	return page(out, q.Limit, func(r EndUserRow) Cursor { return r.Cursor })
}

// endUserColumns are the columns of an end-user row (ListEndUsers).
var endUserColumns = `u.id, u.end_user_id, u.account_count, u.event_count, u.first_seen_at, u.last_seen_at,
  (SELECT group_concat(DISTINCT x.monitoring_status) FROM accounts x WHERE x.end_user_ref = u.id AND x.monitoring_status IS NOT NULL), ` +
	fmt.Sprintf(personName, "u.end_user_id")

// countWalk is how many end users a count walks at most when it walks
// (few enough matching accounts that the walk is the cheaper plan, but too
// many to start from them): about as far as a page walks. A walk cut short
// counts at least what it found (CountEndUsers' more), and the count
// line says "At least N": counting exactly up to 1,000 users of a platform with
// 15,000 of 150,000 accounts walked 6,600 users, 55 ms on either backend.
var countWalk = 1000

// endUserSQL chooses the plan of an end-user query selecting cols. A
// status or platform filter is a probe of the user's accounts; when few
// accounts match (counted by status_counts / account_facet_counts), the
// query starts from those accounts instead, through their own index, and
// sorts the few users. With walk > 0 a walking query reads at most walk
// users, and cut reports that it may have stopped before the last one.
// With count the query's rows are only to be counted (CountEndUsers): the
// users of few enough accounts are then counted from the accounts alone.
func (s *Store) endUserSQL(ctx context.Context, tx queryer, q EndUserQuery, cols string, walk int, count bool) (query string, qargs []any, cut bool, err error) {
	where, args := []string{"1=1"}, []any{}
	var accTerm string
	var accArgs []any
	var matching, users int64
	switch {
	case q.Status != "":
		// The status is written into the SQL, not bound: it is one of
		// MonitoringStatuses (Validate), so there are five statements, and
		// a statement without parameters is planned once per connection
		// and kept. Bound, PostgreSQL planned the drive plan again on every
		// request (about 1 ms): a generic plan for "some status" costs far
		// more than the custom one for a rare status.
		if !oneOf(q.Status, MonitoringStatuses) {
			return "", nil, false, fmt.Errorf("db: end users: status %q", q.Status)
		}
		accTerm = "a.monitoring_status = '" + q.Status + "'"
		// The matching accounts and all end users, in one round trip.
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COALESCE(SUM(n), 0) FROM status_counts WHERE monitoring_status = ?),
  (SELECT COALESCE(SUM(n), 0) FROM totals WHERE name = 'end_users')`, q.Status).Scan(&matching, &users); err != nil {
			return "", nil, false, err
		}
	case q.Platform != "":
		accTerm, accArgs = "a.platform_id = ?", []any{q.Platform}
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COALESCE(SUM(n), 0) FROM account_facet_counts WHERE facet = 'platform' AND value = ?),
  (SELECT COALESCE(SUM(n), 0) FROM totals WHERE name = 'end_users')`, q.Platform).Scan(&matching, &users); err != nil {
			return "", nil, false, err
		}
	}
	if q.Status != "" && q.Platform != "" {
		accTerm, accArgs = accTerm+" AND a.platform_id = ?", append(accArgs, q.Platform)
	}
	if !q.ActiveSince.IsZero() {
		where, args = append(where, "u.last_seen_at >= ?"), append(args, FormatTime(q.ActiveSince))
	}
	// The first page of newest first needs no cursor term: the drive plan
	// below would compute each matching user's activity once more for it.
	if q.Oldest {
		where, args = append(where, "(u.last_seen_at, u.id) > (?, ?)"), append(args, q.After.At, q.After.ID)
	} else if !q.After.IsZero() {
		where, args = append(where, "(u.last_seen_at, u.id) < (?, ?)"), append(args, q.After.At, q.After.ID)
	}
	dir := orderDir(q.Oldest)
	// The limits too are written into the SQL (numbers the code chose):
	// with the status, the first page of a filter has no parameter left.
	limit := q.Limit + 1
	order := ` ORDER BY u.last_seen_at ` + dir + `, u.id ` + dir + ` LIMIT ` + strconv.Itoa(limit)
	if accTerm == "" {
		return `SELECT ` + cols + ` FROM end_users u WHERE ` + strings.Join(where, " AND ") + order, args, false, nil
	}
	if count && driveFactor >= 0 && q.ActiveSince.IsZero() && matching <= int64(limit) {
		// Counting the users of few accounts needs neither their activity
		// nor an order: the distinct users those accounts name, read from
		// the filter's covering index (migration 082).
		return `SELECT DISTINCT a.end_user_ref AS id FROM accounts a WHERE ` + accTerm + ` AND a.end_user_ref IS NOT NULL`, accArgs, false, nil
	}
	if driveFactor >= 0 && matching*matching*50 <= driveFactor*users*int64(limit) {
		// Start from the matching accounts. Each user's activity is read by
		// a subquery per user, which both backends run as a primary-key
		// lookup: as a join, PostgreSQL hashed the few users against a scan
		// of all of them (34 ms at 100,000 end users). Only the page's
		// users then get their columns: a sorter holds whole rows, and
		// cols' subqueries (statuses, name) for every matching user cost
		// ten times the sort.
		dwhere := make([]string, len(where))
		for i, w := range where {
			dwhere[i] = strings.ReplaceAll(w, "u.", "d.")
		}
		query := `SELECT d.id AS id FROM (SELECT m.ref AS id, (SELECT x.last_seen_at FROM end_users x WHERE x.id = m.ref) AS last_seen_at
  FROM (SELECT DISTINCT a.end_user_ref AS ref FROM accounts a WHERE ` + accTerm + ` AND a.end_user_ref IS NOT NULL) m) d
WHERE ` + strings.Join(dwhere, " AND ") + ` ORDER BY d.last_seen_at ` + dir + `, d.id ` + dir + ` LIMIT ` + strconv.Itoa(limit)
		if cols != "u.id" {
			query = `SELECT ` + cols + ` FROM (` + query + `) p CROSS JOIN end_users u WHERE u.id = p.id ORDER BY u.last_seen_at ` + dir + `, u.id ` + dir
		}
		return query, append(accArgs, args...), false, nil
	}
	// The unary + keeps SQLite on the (end_user_ref) index for the probe:
	// the status index would read every account of that status. The probe
	// is a scalar subquery, not EXISTS: PostgreSQL turns EXISTS into a semi
	// join, and with some statistics hashed every end user against the
	// matching accounts and sorted them (50–58 ms at 100,829 end users,
	// against 9 ms walking); a scalar subquery is never made a join.
	probe := strings.ReplaceAll(accTerm, "a.", "+a.")
	exists := `(SELECT 1 FROM accounts a WHERE a.end_user_ref = u.id AND ` + probe + ` LIMIT 1) IS NOT NULL`
	if walk > 0 && users > int64(walk) {
		walked := `SELECT u.* FROM end_users u WHERE ` + strings.Join(where, " AND ") + ` ORDER BY u.last_seen_at ` + dir + `, u.id ` + dir + ` LIMIT ` + strconv.Itoa(walk)
		return `SELECT ` + cols + ` FROM (` + walked + `) u WHERE ` + exists + order, append(args, accArgs...), true, nil
	}
	where = append(where, exists)
	return `SELECT ` + cols + ` FROM end_users u WHERE ` + strings.Join(where, " AND ") + order, append(args, accArgs...), false, nil
}

// CountEndUsers counts the end users q selects (its cursor aside), up to
// limit; more reports that there are more.
func (s *Store) CountEndUsers(ctx context.Context, q EndUserQuery, limit int) (n int64, more bool, err error) {
	if err := q.Validate(); err != nil {
		return 0, false, err
	}
	q.After, q.Oldest, q.Limit = Cursor{}, false, limit
	// Only the ids: the row's other columns (statuses, name) cost a
	// subquery each per user counted. No transaction (ListEndUsers).
	query, args, cut, err := s.endUserSQL(ctx, s.r, q, "u.id", countWalk, true)
	if err == nil {
		more = cut
		err = s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+query+`) x`, args...).Scan(&n)
	}
	if err != nil {
		return 0, false, fmt.Errorf("db: count end users: %w", err)
	}
	if n > int64(limit) {
		return int64(limit), true, nil
	}
	return n, more, nil
}

// EndUserOverview is what the end user page shows above the timeline.
type EndUserOverview struct {
	EndUser  EndUser
	Accounts []AccountRow
}

// EndUserOverview returns an end user and all their accounts (newest
// activity first), or ErrNotFound.
func (s *Store) EndUserOverview(ctx context.Context, endUserID string) (EndUserOverview, error) {
	var o EndUserOverview
	var err error
	if o.EndUser, err = s.endUserByEndUserID(ctx, endUserID); err != nil {
		return o, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountRowColumns+` FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref
WHERE a.end_user_ref = ? ORDER BY a.last_event_at DESC, a.id DESC LIMIT 500`, o.EndUser.ID)
	if err == nil {
		o.Accounts, err = scanAccountRows(rows)
	}
	if err != nil {
		return o, fmt.Errorf("db: end user accounts: %w", err)
	}
	return o, nil
}

// AccountOverview is what the account page shows above the timeline: the
// account, its latest job outcomes, its monitoring status history, the
// latest data snapshot of each kind, the history of its deposit
// allocations and its switches.
type AccountOverview struct {
	Account Account
	Jobs    []AccountJob
	History []StatusReport
	// Latest holds the newest snapshot of each fetch kind present, its
	// Data decoded.
	Latest map[string]Snapshot
	// Allocations are the newest allocation snapshots whose content
	// changed, newest first (at most 10), decoded: each is the "after" of
	// the next.
	Allocations []Snapshot
	Switches    []DDSwitch
}

// maxAllocationHistory bounds the allocation history on the account page.
const maxAllocationHistory = 10

// AccountOverview returns the account page's data, or ErrNotFound.
func (s *Store) AccountOverview(ctx context.Context, accountID string) (AccountOverview, error) {
	var o AccountOverview
	var err error
	if o.Account, err = s.accountByAccountID(ctx, accountID); err != nil {
		return o, err
	}
	if o.Jobs, err = s.accountJobs(ctx, accountID); err != nil {
		return o, err
	}
	if o.History, err = s.monitoringHistory(ctx, accountID); err != nil {
		return o, err
	}
	if o.Switches, err = s.ddSwitches(ctx, accountID); err != nil {
		return o, err
	}
	o.Latest = map[string]Snapshot{}
	for _, kind := range FetchKinds {
		if kind == FetchPaystubs || kind == FetchShifts {
			continue // pay items, not snapshots (pay_sync.go)
		}
		limit := 1
		if kind == FetchDDAllocations {
			limit = 50
		}
		snaps, err := s.latestSnapshots(ctx, o.Account.ID, accountID, kind, limit)
		if err != nil {
			return o, err
		}
		if len(snaps) == 0 {
			continue
		}
		if kind == FetchDDAllocations {
			o.Allocations = changedSnapshots(snaps, maxAllocationHistory)
			for i := range o.Allocations {
				o.Allocations[i].Data, _ = DecodeSnapshot(kind, []byte(o.Allocations[i].Body))
			}
		}
		snaps[0].Data, _ = DecodeSnapshot(kind, []byte(snaps[0].Body))
		o.Latest[kind] = snaps[0]
	}
	return o, nil
}

// changedSnapshots keeps, of snapshots newest first, those whose content
// differs from the next older one (the moments the data changed), at most n.
func changedSnapshots(snaps []Snapshot, n int) []Snapshot {
	var out []Snapshot
	for i, sn := range snaps {
		if i+1 < len(snaps) && snaps[i+1].BodySHA256 == sn.BodySHA256 {
			continue
		}
		out = append(out, sn)
		if len(out) == n {
			break
		}
	}
	return out
}

// latestSnapshots reads an account's newest snapshots of one kind through
// the (account_ref, kind, id) index.
func (s *Store) latestSnapshots(ctx context.Context, ref int64, accountID, kind string, limit int) ([]Snapshot, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT d.id, d.kind, d.fetched_at, COALESCE(d.refreshed_at, ''), COALESCE(e.event_id, ''), d.body_sha256, d.body
FROM data_snapshots d LEFT JOIN events e ON e.id = d.source_event_ref
WHERE d.account_ref = ? AND d.kind = ? ORDER BY d.id DESC LIMIT ?`, ref, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("db: latest snapshots: %w", err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		sn := Snapshot{AccountID: accountID}
		var fetched, refreshed string
		if err := rows.Scan(&sn.ID, &sn.Kind, &fetched, &refreshed, &sn.SourceEventID, &sn.BodySHA256, &sn.Body); err != nil {
			return nil, fmt.Errorf("db: latest snapshots: %w", err)
		}
		sn.FetchedAt, sn.RefreshedAt = ParseTime(fetched), ParseTime(refreshed)
		out = append(out, sn)
	}
	return out, rows.Err()
}
