package db

import (
	"context"
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
	// Data is Body decoded (snapshot_data.go); empty when it does not
	// decode. Set by the reads that serve pages.
	Data SnapshotData
}

// SnapshotByID returns one data snapshot of the account accountID, with
// its whole body (the raw download of the account page's panels).
func (s *Store) SnapshotByID(ctx context.Context, accountID string, id int64) (Snapshot, error) {
	sn := Snapshot{AccountID: accountID}
	var fetched, refreshed string
	err := s.r.QueryRowContext(ctx, `SELECT d.id, d.kind, d.fetched_at, COALESCE(d.refreshed_at, ''), COALESCE(e.event_id, ''), d.body_sha256, d.body
FROM data_snapshots d JOIN accounts a ON a.id = d.account_ref LEFT JOIN events e ON e.id = d.source_event_ref
WHERE d.id = ? AND a.account_id = ?`, id, accountID).Scan(&sn.ID, &sn.Kind, &fetched, &refreshed, &sn.SourceEventID, &sn.BodySHA256, &sn.Body)
	if err != nil {
		return Snapshot{}, fmt.Errorf("db: snapshot %d of %s: %w", id, accountID, notFound(err))
	}
	sn.FetchedAt, sn.RefreshedAt = ParseTime(fetched), ParseTime(refreshed)
	return sn, nil
}
