package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"linkdesk/pinwheel"
)

// applyFetchedAccount applies the monitoring status and connected flag of a
// fetched account (GET /accounts/{id}, kind FetchAccount) inside the
// transaction that stores its snapshot. The status read from the API
// outranks webhook facts (rankFetched): whatever order monitoring updates
// arrived in, the account shows what Pinwheel says now. A fetch that finds
// the status unchanged only raises its rank; a changed one is also added to
// the status history (attributed to the event that asked for the fetch) and
// moves the status counts. The account row is locked from the read to the
// write (an ingest transaction may merge a webhook into it meanwhile).
func (s *Store) applyFetchedAccount(ctx context.Context, tx *sql.Tx, accountRef, eventRef int64, body []byte, at string) error {
	var a pinwheel.Account
	if json.Unmarshal(body, &a) != nil || a.MonitoringStatus == "" {
		return nil
	}
	var status sql.NullString
	var connected sql.NullBool
	var rank int
	err := tx.QueryRowContext(ctx, `SELECT monitoring_status, connected, status_rank FROM accounts WHERE id = ?`+s.d.forUpdate, accountRef).
		Scan(&status, &connected, &rank)
	if err != nil {
		return fmt.Errorf("fetched account: %w", err)
	}
	same := status.Valid && status.String == a.MonitoringStatus && connected.Valid && connected.Bool == a.Connected
	if same && rank == rankFetched {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET monitoring_status = ?, monitoring_status_at = ?, status_rank = ?,
		connected = ? WHERE id = ?`, a.MonitoringStatus, at, rankFetched, a.Connected, accountRef); err != nil {
		return fmt.Errorf("fetched account: %w", err)
	}
	if status.Valid && status.String == a.MonitoringStatus {
		return nil
	}
	if _, err := tx.ExecContext(ctx, sqlHistoryInsertRefs, accountRef, eventRef, a.MonitoringStatus, a.Connected, rankFetched, at); err != nil {
		return fmt.Errorf("fetched account: status history: %w", err)
	}
	// status_counts counts accounts without a status under "" (ingest.go).
	if _, err := tx.ExecContext(ctx, sqlStatusCounts, status.String, -1); err != nil {
		return fmt.Errorf("fetched account: status counts: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlStatusCounts, a.MonitoringStatus, 1); err != nil {
		return fmt.Errorf("fetched account: status counts: %w", err)
	}
	return nil
}
