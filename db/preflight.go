package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// PreflightJob is the latest outcome of one job on an account.
type PreflightJob struct {
	Job         string
	Outcome     string
	At          time.Time
	ErrorType   string
	ErrorCode   string
	LinkTokenID string
}

// Preflight is what staff see beside the mint form: whether the account can
// be updated, how it last went, and how often it needed MFA.
type Preflight struct {
	AccountID    string
	EndUserID    string
	PlatformID   string
	PlatformName string
	// ConnectedKnown is false until account.added (or a status update)
	// said whether the account is connected.
	ConnectedKnown   bool
	Connected        bool
	MonitoringStatus string
	// StatusSince is when the current monitoring status was first reported
	// in the run of identical reports that leads to now.
	StatusSince time.Time
	Jobs        []PreflightJob
	// Sessions counts the Pinwheel tokens of this account whose Link
	// session opened (a Link "open" event); MFASessions those that reached
	// an MFA screen (a screen_transition whose screenName contains "MFA").
	// Only sessions launched from Linkdesk's launch pages are seen.
	Sessions    int
	MFASessions int
}

// Preflight returns the pre-flight facts of an account, or ErrNotFound.
func (s *Store) Preflight(ctx context.Context, accountID string) (Preflight, error) {
	p := Preflight{AccountID: accountID}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var ref int64
		var connected sql.NullInt64
		var statusAt string
		err := tx.QueryRowContext(ctx, `SELECT a.id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_id, ''), COALESCE(a.platform_name, ''),
			a.connected, COALESCE(a.monitoring_status, ''), COALESCE(a.monitoring_status_at, '')
			FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.account_id = ?`, accountID).
			Scan(&ref, &p.EndUserID, &p.PlatformID, &p.PlatformName, &connected, &p.MonitoringStatus, &statusAt)
		if err != nil {
			return notFound(err)
		}
		p.ConnectedKnown, p.Connected = connected.Valid, connected.Int64 == 1
		p.StatusSince = ParseTime(statusAt)

		rows, err := tx.QueryContext(ctx, `SELECT status, at FROM monitoring_status_history WHERE account_ref = ?
			ORDER BY status_rank DESC, at DESC, id DESC LIMIT 200`, ref)
		if err != nil {
			return err
		}
		for rows.Next() {
			var st, at string
			if err := rows.Scan(&st, &at); err != nil {
				rows.Close()
				return err
			}
			if st != p.MonitoringStatus {
				break
			}
			p.StatusSince = ParseTime(at)
		}
		rows.Close()

		rows, err = tx.QueryContext(ctx, `SELECT job, outcome, at, COALESCE(error_type, ''), COALESCE(error_code, ''), COALESCE(link_token_id, '')
			FROM account_jobs WHERE account_ref = ? ORDER BY job`, ref)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j PreflightJob
			var at string
			if err := rows.Scan(&j.Job, &j.Outcome, &at, &j.ErrorType, &j.ErrorCode, &j.LinkTokenID); err != nil {
				return err
			}
			j.At = ParseTime(at)
			p.Jobs = append(p.Jobs, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT
			COUNT(DISTINCT CASE WHEN name = 'open' THEN mint_ref END),
			COUNT(DISTINCT CASE WHEN name = 'screen_transition'
				AND upper(COALESCE(`+s.d.jsonText("payload", "$.screenName")+`, '')) LIKE '%MFA%' THEN mint_ref END)
			FROM launch_events WHERE account_id = ?`, accountID).Scan(&p.Sessions, &p.MFASessions)
	})
	if err != nil {
		return Preflight{}, fmt.Errorf("db: preflight %s: %w", accountID, err)
	}
	return p, nil
}
