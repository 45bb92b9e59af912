package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Daily jobs on the queue (the retention job, JobRetention): each run
// schedules the next; start-up makes sure one is pending, so a restart
// neither loses nor doubles the schedule.

// dailyKey is the dedupe key of scheduled runs: one queued per kind.
const dailyKey = "daily"

// EnsureScheduled queues a run of kind at at, unless one is already
// queued or running.
func (s *Store) EnsureScheduled(ctx context.Context, kind string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = ? AND state IN ('queued', 'running')`, kind).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		_, err := s.enqueueJob(ctx, tx, NewJob{Kind: kind, DedupeKey: dailyKey, RunAt: at})
		return err
	})
	if err != nil {
		return fmt.Errorf("db: schedule %s: %w", kind, err)
	}
	return nil
}

// ScheduleNext queues the next run of kind at at (a run in progress
// calls it; a queued run already there keeps its time).
func (s *Store) ScheduleNext(ctx context.Context, kind string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := s.enqueueJob(ctx, tx, NewJob{Kind: kind, DedupeKey: dailyKey, RunAt: at})
		return err
	})
	if err != nil {
		return fmt.Errorf("db: schedule %s: %w", kind, err)
	}
	return nil
}
