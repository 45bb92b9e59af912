package db

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"
)

// Dashboard: the figures of the home page. Every figure is a counter kept
// in the ingest transaction (status_counts, event_counts, rejection_counts,
// totals, job_state_counts) or an index edge (newest events by primary
// key, the earliest due job); none scans events.

// Dashboard is the home page's data.
type Dashboard struct {
	// Statuses counts accounts per monitoring status ("" = not known yet).
	Statuses []FacetCount
	Totals   map[string]int64
	// Events24h counts events received in the last 24 hours by event name,
	// most frequent first.
	Events24h []EventCount
	// Rejected24h counts refused deliveries of the last 24 hours by reason.
	Rejected24h []FacetCount
	Queue       QueueHealth
	// Newest are the last events received.
	Newest []EventRow
	// Since is the start of the 24-hour window (hour buckets).
	Since time.Time
}

// EventCount is how many events of one name were accepted, and how many
// duplicate deliveries of them arrived.
type EventCount struct {
	Event                string
	Accepted, Duplicates int64
}

// Total24h sums a 24-hour count list.
func Total24h(list []FacetCount) int64 {
	var n int64
	for _, c := range list {
		n += c.N
	}
	return n
}

// QueueHealth describes the job queue, every kind together.
type QueueHealth struct {
	Queued, Running, Done, Failed int64
	// NextDue is the run_at of the earliest queued or leased job (zero
	// when none): in the past means work is waiting.
	NextDue time.Time
	// Failures are the latest jobs that gave up.
	Failures []JobFailure
}

// JobFailure is a job that gave up.
type JobFailure struct {
	Kind string
	// Key is the job's dedupe key ("" when none).
	Key string
	// AccountID is the account of a data fetch ("" for other kinds).
	AccountID string
	Attempts  int
	LastError string
	At        time.Time
}

// Dashboard reads the home page's figures in one snapshot.
func (s *Store) Dashboard(ctx context.Context) (Dashboard, error) {
	now := s.now().UTC()
	d := Dashboard{Since: now.Add(-24 * time.Hour).Truncate(time.Hour), Totals: map[string]int64{}}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT monitoring_status, '', n FROM status_counts WHERE n > 0 ORDER BY n DESC, monitoring_status`)
		if err != nil {
			return err
		}
		if d.Statuses, err = scanFacets(rows); err != nil {
			return err
		}
		if err := scanTotals(ctx, tx, d.Totals); err != nil {
			return err
		}
		since := FormatTime(d.Since)
		if d.Events24h, err = eventCounts(ctx, tx, since); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT reason, '', SUM(n) FROM rejection_counts WHERE hour >= ? GROUP BY reason`, since)
		if err != nil {
			return err
		}
		if d.Rejected24h, err = scanFacets(rows); err != nil {
			return err
		}
		sortCounts(d.Rejected24h)
		if d.Queue, err = queueHealth(ctx, tx); err != nil {
			return err
		}
		d.Newest, err = queryEventRows(ctx, tx, []string{"e.id < ?"}, []any{int64(1 << 62)}, 10)
		return err
	})
	if err != nil {
		return Dashboard{}, fmt.Errorf("db: dashboard: %w", err)
	}
	return d, nil
}

// eventCounts sums the hour buckets from since on, most frequent first.
func eventCounts(ctx context.Context, tx *sql.Tx, since string) ([]EventCount, error) {
	rows, err := tx.QueryContext(ctx, `SELECT event, SUM(accepted), SUM(duplicates) FROM event_counts WHERE hour >= ?
GROUP BY event ORDER BY SUM(accepted) DESC, event`, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EventCount
	for rows.Next() {
		var c EventCount
		if err := rows.Scan(&c.Event, &c.Accepted, &c.Duplicates); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func scanTotals(ctx context.Context, tx *sql.Tx, into map[string]int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, n FROM totals`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		into[k] = n
	}
	return rows.Err()
}

func sortCounts(list []FacetCount) {
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].N != list[j].N {
			return list[i].N > list[j].N
		}
		return list[i].Value < list[j].Value
	})
}

// queueHealth reads the job counters (job_state_counts), the earliest due
// job (the first entry of the jobs_due index) and the latest failures.
func queueHealth(ctx context.Context, tx *sql.Tx) (QueueHealth, error) {
	var q QueueHealth
	kinds, err := jobStateCounts(ctx, tx)
	if err != nil {
		return q, err
	}
	for _, k := range kinds {
		q.Queued += k.ByState[JobQueued]
		q.Running += k.ByState[JobRunning]
		q.Done += k.ByState[JobDone]
		q.Failed += k.ByState[JobFailed]
	}
	var due sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT run_at FROM jobs WHERE state IN ('queued', 'running') ORDER BY run_at, id LIMIT 1`).Scan(&due)
	if err != nil && err != sql.ErrNoRows {
		return q, err
	}
	q.NextDue = nullTime(due)
	failed, err := jobFailures(ctx, tx, 5, nil)
	if err != nil {
		return q, err
	}
	for _, j := range failed {
		f := JobFailure{Kind: j.Kind, Key: j.DedupeKey, Attempts: j.Attempts, LastError: j.LastError, At: j.UpdatedAt}
		if fj, ok := ReadFetchJob(j); ok {
			f.AccountID = fj.AccountID
		}
		q.Failures = append(q.Failures, f)
	}
	return q, nil
}
