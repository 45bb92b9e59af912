package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Snapshot is the data behind an account's event as fetched by the worker:
// every fetch is kept, because Pinwheel serves only the latest state and
// campaigns compare allocations before and after a switch.
type Snapshot struct {
	ID        int64
	AccountID string
	// Kind is one of the Fetch* constants.
	Kind      string
	FetchedAt time.Time
	// RefreshedAt is when Pinwheel last read the payroll provider.
	RefreshedAt time.Time
	// SourceEventID is the event that asked for the fetch.
	SourceEventID string
	BodySHA256    string
	// Body is the JSON data object.
	Body string
}

// Snapshots returns an account's snapshots of one kind (all kinds when kind
// is ""), newest first.
func (s *Store) Snapshots(ctx context.Context, accountID, kind string) ([]Snapshot, error) {
	q := `SELECT d.id, a.account_id, d.kind, d.fetched_at, d.refreshed_at, COALESCE(e.event_id, ''), d.body_sha256, d.body
FROM data_snapshots d JOIN accounts a ON a.id = d.account_ref LEFT JOIN events e ON e.id = d.source_event_ref
WHERE d.account_ref = (SELECT id FROM accounts WHERE account_id = ?)`
	args := []any{accountID}
	if kind != "" {
		q += ` AND d.kind = ?`
		args = append(args, kind)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY d.id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("db: snapshots: %w", err)
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		var sn Snapshot
		var fetched string
		var refreshed sql.NullString
		if err := rows.Scan(&sn.ID, &sn.AccountID, &sn.Kind, &fetched, &refreshed, &sn.SourceEventID, &sn.BodySHA256, &sn.Body); err != nil {
			return nil, fmt.Errorf("db: snapshots: %w", err)
		}
		sn.FetchedAt, sn.RefreshedAt = ParseTime(fetched), nullTime(refreshed)
		out = append(out, sn)
	}
	return out, rows.Err()
}
