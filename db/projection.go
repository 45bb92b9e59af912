package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Read side of the webhook projections (written by project.go in the
// ingest transaction).

// EndUser is an end user seen in events.
type EndUser struct {
	ID           int64
	EndUserID    string
	FirstSeenAt  time.Time
	LastSeenAt   time.Time
	AccountCount int
	EventCount   int
	// Name is the person's name as the customer record (else an identity
	// Pinwheel returned) gives it; "" when neither does.
	Name string
}

// personName reads a person's name from the search index: the customer
// record's first, else an identity's.
const personName = `COALESCE((SELECT n.shown FROM search_terms n WHERE n.person = %[1]s AND n.field = 'name' AND n.source = 'customer' LIMIT 1),
  (SELECT n.shown FROM search_terms n WHERE n.person = %[1]s AND n.field = 'name' LIMIT 1), '')`

// endUserByEndUserID returns the end user with Pinwheel's end_user_id.
func (s *Store) endUserByEndUserID(ctx context.Context, endUserID string) (EndUser, error) {
	var u EndUser
	var first, last string
	err := s.r.QueryRowContext(ctx, `SELECT id, end_user_id, first_seen_at, last_seen_at, account_count, event_count, `+
		fmt.Sprintf(personName, "end_users.end_user_id")+`
FROM end_users WHERE end_user_id = ?`, endUserID).Scan(&u.ID, &u.EndUserID, &first, &last, &u.AccountCount, &u.EventCount, &u.Name)
	if err != nil {
		return EndUser{}, fmt.Errorf("db: end user %s: %w", endUserID, notFound(err))
	}
	u.FirstSeenAt, u.LastSeenAt = ParseTime(first), ParseTime(last)
	return u, nil
}

// Account is a payroll account seen in events.
type Account struct {
	ID           int64
	AccountID    string
	EndUserID    string
	PlatformID   string
	PlatformName string
	PlatformType string
	LinkTokenID  string
	// CreatedAt is zero until account.added has arrived.
	CreatedAt time.Time
	// Connected is nil while no event has said.
	Connected          *bool
	MonitoringStatus   string
	MonitoringStatusAt time.Time
	FirstSeenAt        time.Time
	LastEventAt        time.Time
	EventCount         int
}

// accountByAccountID returns the account with Pinwheel's account_id.
func (s *Store) accountByAccountID(ctx context.Context, accountID string) (Account, error) {
	var a Account
	var eu, pid, pname, ptype, lt, created, status, statusAt sql.NullString
	var conn sql.NullBool
	var first, last string
	err := s.r.QueryRowContext(ctx, `SELECT a.id, a.account_id, u.end_user_id, a.platform_id, a.platform_name, a.platform_type,
  a.link_token_id, a.created_at, a.connected, a.monitoring_status, a.monitoring_status_at, a.first_seen_at, a.last_event_at, a.event_count
FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.account_id = ?`, accountID).Scan(
		&a.ID, &a.AccountID, &eu, &pid, &pname, &ptype, &lt, &created, &conn, &status, &statusAt, &first, &last, &a.EventCount)
	if err != nil {
		return Account{}, fmt.Errorf("db: account %s: %w", accountID, notFound(err))
	}
	a.EndUserID, a.PlatformID, a.PlatformName, a.PlatformType, a.LinkTokenID = eu.String, pid.String, pname.String, ptype.String, lt.String
	a.CreatedAt, a.MonitoringStatus, a.MonitoringStatusAt = nullTime(created), status.String, nullTime(statusAt)
	if conn.Valid {
		a.Connected = &conn.Bool
	}
	a.FirstSeenAt, a.LastEventAt = ParseTime(first), ParseTime(last)
	return a, nil
}

// AccountJob is the latest outcome of one job of an account.
type AccountJob struct {
	Job         string
	Outcome     string
	At          time.Time
	ErrorType   string
	ErrorCode   string
	LinkTokenID string
	EventID     string
}

// accountJobs returns the latest outcome per job of an account, by job name.
func (s *Store) accountJobs(ctx context.Context, accountID string) ([]AccountJob, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT j.job, j.outcome, j.at, COALESCE(j.error_type, ''), COALESCE(j.error_code, ''),
  COALESCE(j.link_token_id, ''), e.event_id
FROM account_jobs j JOIN events e ON e.id = j.event_ref
WHERE j.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY j.job`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: account jobs: %w", err)
	}
	defer rows.Close()
	var out []AccountJob
	for rows.Next() {
		var j AccountJob
		var at string
		if err := rows.Scan(&j.Job, &j.Outcome, &at, &j.ErrorType, &j.ErrorCode, &j.LinkTokenID, &j.EventID); err != nil {
			return nil, fmt.Errorf("db: account jobs: %w", err)
		}
		j.At = ParseTime(at)
		out = append(out, j)
	}
	return out, rows.Err()
}

// StatusReport is one monitoring status an event reported. FromAdded marks
// the initial status of account.added.
type StatusReport struct {
	Status    string
	Connected *bool
	At        time.Time
	FromAdded bool
	EventID   string
}

// monitoringHistory returns an account's status reports in effective order
// (initial status first, then updates by time); consecutive equal statuses
// are kept, so a timeline can show every report or collapse them.
func (s *Store) monitoringHistory(ctx context.Context, accountID string) ([]StatusReport, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT h.status, h.connected, h.at, h.status_rank, e.event_id
FROM monitoring_status_history h JOIN events e ON e.id = h.event_ref
WHERE h.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY h.status_rank, h.at, h.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: monitoring history: %w", err)
	}
	defer rows.Close()
	var out []StatusReport
	for rows.Next() {
		var r StatusReport
		var conn sql.NullBool
		var at string
		var rank int
		if err := rows.Scan(&r.Status, &conn, &at, &rank, &r.EventID); err != nil {
			return nil, fmt.Errorf("db: monitoring history: %w", err)
		}
		if conn.Valid {
			r.Connected = &conn.Bool
		}
		r.At, r.FromAdded = ParseTime(at), rank == rankAdded
		out = append(out, r)
	}
	return out, rows.Err()
}

// DDSwitch is one direct deposit switch reported by a webhook.
type DDSwitch struct {
	EventID         string
	AccountID       string
	LinkTokenID     string
	At              time.Time
	Outcome         string
	ErrorType       string
	ErrorCode       string
	Action          string
	AllocationType  string
	AllocationValue *float64
	TargetName      string
	TargetType      string
	TargetLast4     string
	CardName        string
}

// ddSwitches returns an account's switches, oldest first.
func (s *Store) ddSwitches(ctx context.Context, accountID string) ([]DDSwitch, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT e.event_id, a.account_id, COALESCE(d.link_token_id, ''), d.at, d.outcome,
  COALESCE(d.error_type, ''), COALESCE(d.error_code, ''), COALESCE(d.action, ''), COALESCE(d.allocation_type, ''),
  d.allocation_value, COALESCE(d.target_name, ''), COALESCE(d.target_type, ''), COALESCE(d.target_last4, ''), COALESCE(d.card_name, '')
FROM dd_switches d JOIN events e ON e.id = d.event_ref JOIN accounts a ON a.id = d.account_ref
WHERE d.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY d.at, d.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("db: switches: %w", err)
	}
	defer rows.Close()
	var out []DDSwitch
	for rows.Next() {
		var d DDSwitch
		var at string
		var v sql.NullFloat64
		if err := rows.Scan(&d.EventID, &d.AccountID, &d.LinkTokenID, &at, &d.Outcome, &d.ErrorType, &d.ErrorCode, &d.Action,
			&d.AllocationType, &v, &d.TargetName, &d.TargetType, &d.TargetLast4, &d.CardName); err != nil {
			return nil, fmt.Errorf("db: switches: %w", err)
		}
		d.At = ParseTime(at)
		if v.Valid {
			d.AllocationValue = &v.Float64
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
