package db

import (
	"context"
	"database/sql"
	"fmt"
)

// Where a reader of new events may stop.
//
// Live timelines, toasts and the missing-webhook alert read the events
// "above the last id I saw, up to the newest". That needs every event with
// a lower id to be committed (or gone for good) when a higher one is seen.
// On SQLite one writer commits the batches in turn, and ids follow commit
// order. On PostgreSQL several instances' batches insert events at the same
// time (ingest.go, "Several writers"): a batch that took ids 101–140 may
// commit after one that took 141–170, and a reader that saw 170 would
// never look below it again.
//
// So on PostgreSQL a batch first announces itself: before it inserts an
// event it takes a shared advisory lock, until it ends, whose key is a
// value r it drew from the events' id sequence; every event id it then
// takes is above r. A reader's newest safe id is the smallest of
//
//   - the sequence's value v, read first: an id not yet handed out is
//     not safe;
//   - r−1 for every announcement held then (pg_locks): those batches may
//     still commit ids above r;
//   - the newest id it can see, read after both, in a snapshot of its own
//     (each statement of linkdesk_events_top has its own).
//
// An event with an id at most that cap was handed out before v was read;
// the batch that took it announced itself before it, so it was either held
// when pg_locks was read (and the cap is below its id) or had ended before
// (and the event is visible, or was rolled back). The keys are two int4:
// the schema's hash (tests and databases share a server) and r modulo
// 2^31, from which the reader recovers r as the largest value not above v
// with that remainder. The announcement is one pipelined statement per
// batch (no round trip); a reader calls linkdesk_events_top where it read
// MAX(id), no statement more (measured: a page that draws the header takes
// about 0.5 ms more; docs/PERFORMANCE.md, "Eighth pass").

// eventsAnnounceKey is the first key of an announcement: the schema's hash,
// non-negative (pg_locks shows it as an oid).
const eventsAnnounceKey = `(hashtext(current_schema()) & 2147483647)`

// reserveEvents announces the events a batch is about to insert (above),
// on PostgreSQL.
func (s *Store) reserveEvents(ctx context.Context, tx *sql.Tx) error {
	if !s.d.concurrentIngest {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared(`+eventsAnnounceKey+`, CAST(nextval('events_id_seq') % 2147483648 AS INTEGER))`)
	if err != nil {
		return fmt.Errorf("announce events: %w", err)
	}
	return nil
}

// newestEventSQL is an SQL expression for the newest event id a reader of
// new events may treat as final (above): of all events, or, with col
// (account_ref or end_user_ref), of those naming one row (a ? argument).
// On SQLite that is the newest id; on PostgreSQL linkdesk_events_top
// (migration 088), which reads the sequence, then the announcements, then
// the newest visible id, each after the other. It goes where a query read
// MAX(id) of events: no statement more.
func (s *Store) newestEventSQL(col string) string {
	if s.d.concurrentIngest {
		if col == "" {
			return `linkdesk_events_top()`
		}
		return `linkdesk_events_top('` + col + `', ?)`
	}
	if col == "" {
		return `(SELECT COALESCE(MAX(id), 0) FROM events)`
	}
	return `(SELECT COALESCE(MAX(id), 0) FROM events WHERE ` + col + ` = ?)`
}

// newestEvent reads newestEventSQL("").
func (s *Store) newestEvent(ctx context.Context, q queryer) (int64, error) {
	var top int64
	if err := q.QueryRowContext(ctx, `SELECT `+s.newestEventSQL("")).Scan(&top); err != nil {
		return 0, fmt.Errorf("db: newest event: %w", err)
	}
	return top, nil
}
