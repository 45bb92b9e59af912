package db

import (
	"context"
	"database/sql"
	"fmt"
	"math"
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
//   - the newest id it can see, read after both, in a snapshot of its own.
//
// An event with an id at most that cap was handed out before v was read;
// the batch that took it announced itself before it, so it was either held
// when pg_locks was read (and the cap is below its id) or had ended before
// (and the event is visible, or was rolled back). The keys are two int4:
// the schema's hash (tests and databases share a server) and r modulo
// 2^31, from which the reader recovers r as the largest value not above v
// with that remainder. The announcement is one pipelined statement per
// batch (no round trip); the cap is one call per poll (two small reads).

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

// eventsCap returns the newest event id a reader may treat as final
// (above), or math.MaxInt64 where ids follow commit order (SQLite). Read it
// in a statement before the one that reads the newest id, in READ
// COMMITTED (each statement its own snapshot), and use the smaller of the
// two. On PostgreSQL it is one call of linkdesk_events_cap (migration 088),
// which reads the sequence, then the announcements.
func (s *Store) eventsCap(ctx context.Context, q queryer) (int64, error) {
	if !s.d.concurrentIngest {
		return math.MaxInt64, nil
	}
	var c int64
	if err := q.QueryRowContext(ctx, `SELECT linkdesk_events_cap()`).Scan(&c); err != nil {
		return 0, fmt.Errorf("db: events cap: %w", err)
	}
	return c, nil
}
