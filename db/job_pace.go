package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// paceHorizon bounds how far ahead of now a pace's next start may stand:
// a reservation never waits longer than this (or 64 gaps, for a slow pace)
// for slots handed out before it. Several instances claiming together
// stand a few batches ahead (16 jobs at 20/s is 0.8 s each); a next start
// further out comes from a clock that was wrong (an instance whose clock
// ran ahead) and is forgotten rather than obeyed. The starts are wall-clock
// times of the instances that reserve them: with clocks apart by d, two
// instances' starts may come d closer than gap (NTP keeps d to
// milliseconds).
const paceHorizon = 30 * time.Second

// ReservePace hands out n start times for the pace named name, gap apart,
// the first at now or at the pace's next start if that is later, and moves
// the next start past them. Every instance on the database reserves from
// the same row, in turn (the row is locked), so that the starts of all
// instances together are gap apart: a rate cap for the deployment (the
// job runner's Pool.Rate). now is the caller's wall clock: a rate is
// wall-clock time, whatever the Store's clock says.
func (s *Store) ReservePace(ctx context.Context, name string, n int, gap time.Duration, now time.Time) ([]time.Time, error) {
	if n <= 0 {
		return nil, nil
	}
	now = now.UTC()
	var first time.Time
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The row exists before it is locked: two first reservations
		// would otherwise both start at now.
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_paces (name, next_at) VALUES (?, '') ON CONFLICT (name) DO NOTHING`, name); err != nil {
			return err
		}
		var next string
		if err := tx.QueryRowContext(ctx, `SELECT next_at FROM job_paces WHERE name = ?`+s.d.forUpdate, name).Scan(&next); err != nil {
			return err
		}
		first = now
		if at := ParseTime(next); at.After(now) && at.Sub(now) <= max(paceHorizon, 64*gap) {
			first = at
		}
		_, err := tx.ExecContext(ctx, `UPDATE job_paces SET next_at = ? WHERE name = ?`, FormatTime(first.Add(time.Duration(n)*gap)), name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("db: reserve pace %s: %w", name, err)
	}
	out := make([]time.Time, n)
	for i := range out {
		out[i] = first.Add(time.Duration(i) * gap)
	}
	return out, nil
}
