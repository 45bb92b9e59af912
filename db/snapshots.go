package db

import "time"

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
