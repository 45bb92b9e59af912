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
	// Funnel is the story of the links created in the last 30 days.
	Funnel Funnel
	// Attention counts what needs someone.
	Attention Attention
}

// FunnelDays is how many days the dashboard's funnel covers.
const FunnelDays = 30

// FunnelCounts counts links by how far they got: created (minted, or to mint
// when opened), their page opened, Link opened, succeeded.
type FunnelCounts struct {
	Created, PageOpened, LinkOpened, Succeeded int64
}

// FunnelDay is the links created on one day (UTC).
type FunnelDay struct {
	Day time.Time
	FunnelCounts
}

// Funnel is one FunnelDay per day of the last FunnelDays, oldest first,
// days without links included.
type Funnel []FunnelDay

// Last sums the last n days.
func (f Funnel) Last(n int) FunnelCounts {
	var s FunnelCounts
	for i := max(0, len(f)-n); i < len(f); i++ {
		d := f[i]
		s.Created += d.Created
		s.PageOpened += d.PageOpened
		s.LinkOpened += d.LinkOpened
		s.Succeeded += d.Succeeded
	}
	return s
}

// Attention counts what needs someone, each with a list to open.
type Attention struct {
	// UserActionRequired: accounts whose user must log in again.
	UserActionRequired int64
	// Rejected: webhook deliveries refused in the last 24 hours.
	Rejected int64
	// StuckJobs: background jobs that gave up, or waited more than
	// StuckAfter past their time (counted up to 1,000).
	StuckJobs int64
	// Expiring: links that expire within a day without an outcome.
	Expiring int64
}

// StuckAfter is how long a due job may wait before it counts as stuck.
const StuckAfter = 10 * time.Minute

// ExpiringWithin is the window of Attention.Expiring.
const ExpiringWithin = 24 * time.Hour

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
		if d.Newest, err = queryEventRows(ctx, tx, []string{"e.id < ?"}, []any{int64(1 << 62)}, 10); err != nil {
			return err
		}
		if d.Funnel, err = funnel(ctx, tx, now); err != nil {
			return err
		}
		d.Attention, err = attention(ctx, tx, now, d)
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

// funnel reads the link funnel of the last FunnelDays days
// (link_funnel_days, migration 072).
func funnel(ctx context.Context, tx *sql.Tx, now time.Time) (Funnel, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(FunnelDays - 1))
	out := make(Funnel, FunnelDays)
	for i := range out {
		out[i].Day = first.AddDate(0, 0, i)
	}
	rows, err := tx.QueryContext(ctx, `SELECT day, stage, n FROM link_funnel_days WHERE day >= ?`, first.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var day, stage string
		var n int64
		if err := rows.Scan(&day, &stage, &n); err != nil {
			return nil, err
		}
		t, err := time.Parse(time.DateOnly, day)
		if err != nil {
			continue
		}
		i := int(t.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= len(out) {
			continue
		}
		switch stage {
		case "created":
			out[i].Created = n
		case "page_opened":
			out[i].PageOpened = n
		case "link_opened":
			out[i].LinkOpened = n
		case "succeeded":
			out[i].Succeeded = n
		}
	}
	return out, rows.Err()
}

// attention counts what needs someone: from counters, and two bounded
// index ranges (overdue jobs, links about to expire unused).
func attention(ctx context.Context, tx *sql.Tx, now time.Time, d Dashboard) (Attention, error) {
	a := Attention{Rejected: Total24h(d.Rejected24h), StuckJobs: d.Queue.Failed}
	for _, st := range d.Statuses {
		if st.Value == "user_action_required" {
			a.UserActionRequired = st.N
		}
	}
	var overdue int64
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state IN ('queued', 'running') AND run_at < ? LIMIT 1000) x`,
		FormatTime(now.Add(-StuckAfter))).Scan(&overdue)
	if err != nil {
		return a, err
	}
	a.StuckJobs += overdue
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM link_tokens
WHERE revoked_at IS NULL AND succeeded_at IS NULL AND closed_at IS NULL AND link_expires_at >= ? AND link_expires_at < ?`,
		FormatTime(now), FormatTime(now.Add(ExpiringWithin))).Scan(&a.Expiring)
	return a, err
}
