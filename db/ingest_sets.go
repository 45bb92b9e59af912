package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Batch-wide statements.
//
// On PostgreSQL every statement costs its server process some tens of
// microseconds beyond its work (binding, executor start, the protocol),
// and a webhook ran about eight; the batch's lock holder executing them
// one after another set ingestion's pace (docs/PERFORMANCE.md, "PostgreSQL
// (issue 18)"). Two of them are order-insensitive sums that no other
// statement of the batch reads back, so applyAtOnce writes them once per
// batch instead of once per event: the end users (first and last seen,
// event count) before the events, and the fetch jobs after them. The rows
// go in key order, the order every writer locks them in. applyCarefully
// (one savepoint per event) keeps the statements per event: what it
// writes must roll back with its event.

// seenEndUser is what a batch's events add to one end user.
type seenEndUser struct {
	first, last string
	events      int64
}

// batchEndUsers sums what the batch's new, projectable events say about
// their end users (what entities would upsert one event at a time).
func batchEndUsers(batch []*item, known map[string]bool) map[string]*seenEndUser {
	out := map[string]*seenEndUser{}
	seen := map[string]bool{}
	for _, it := range batch {
		d := &it.d
		if known[d.EventID] || seen[d.EventID] {
			continue // a duplicate
		}
		seen[d.EventID] = true
		if d.perr != nil || projectorOf(d.Event) == nil || d.p.EndUserID == "" {
			continue // stored unprojected, or names no end user
		}
		at := FormatTime(d.ReceivedAt.UTC())
		if t := d.OccurredAt(); !t.IsZero() {
			at = FormatTime(t)
		}
		u := out[d.p.EndUserID]
		if u == nil {
			out[d.p.EndUserID] = &seenEndUser{first: at, last: at, events: 1}
			continue
		}
		u.first, u.last, u.events = min(u.first, at), max(u.last, at), u.events+1
	}
	return out
}

// endUsersBefore returns which of the batch's end users existed before it,
// among those that events stored unprojected name (an unknown event type
// links to the rows that exist when it is stored: batchWrote). Usually
// there are none, and nothing is read.
func endUsersBefore(ctx context.Context, tx *sql.Tx, batch []*item, known map[string]bool, users map[string]*seenEndUser) (map[string]bool, error) {
	var ids []any
	asked := map[string]bool{}
	for _, it := range batch {
		d := &it.d
		u := d.p.EndUserID
		if d.perr != nil || projectorOf(d.Event) != nil || u == "" || users[u] == nil || asked[u] || known[d.EventID] {
			continue
		}
		asked[u] = true
		ids = append(ids, u)
	}
	out := map[string]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	if err := stringSet(ctx, tx, out, replan+`SELECT end_user_id FROM end_users WHERE end_user_id IN (`+sqlParams(len(ids))+`)`, ids...); err != nil {
		return nil, fmt.Errorf("end users: %w", err)
	}
	return out, nil
}

// batchWrote reports an end user that the batch wrote ahead of its events
// and that no event of the batch before this one has reached, and that did
// not exist before the batch.
func (c *committer) batchWrote(endUser string) bool {
	return endUser != "" && c.endUsersDone && c.users[endUser] != nil && !c.usersSeen[endUser] && !c.usersBefore[endUser]
}

const sqlEndUsersUpsert = `INSERT INTO end_users (end_user_id, first_seen_at, last_seen_at, account_count, event_count)
VALUES %s
ON CONFLICT (end_user_id) DO UPDATE SET
  first_seen_at = CASE WHEN excluded.first_seen_at < end_users.first_seen_at THEN excluded.first_seen_at ELSE end_users.first_seen_at END,
  last_seen_at = CASE WHEN excluded.last_seen_at > end_users.last_seen_at THEN excluded.last_seen_at ELSE end_users.last_seen_at END,
  event_count = end_users.event_count + excluded.event_count`

// upsertEndUsers writes a batch's end users (batchEndUsers).
func upsertEndUsers(ctx context.Context, tx *sql.Tx, users map[string]*seenEndUser) error {
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return inChunks(len(ids), func(from, n int) error {
		args := make([]any, 0, 4*n)
		for _, id := range ids[from : from+n] {
			u := users[id]
			args = append(args, id, u.first, u.last, u.events)
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(sqlEndUsersUpsert, valuesRows("(?, ?, ?, 0, ?)", n)), args...)
		if err != nil {
			return fmt.Errorf("end users: %w", err)
		}
		return nil
	})
}

// batchJobs are the fetch jobs a batch queues, merged by kind and dedupe
// key as sqlJobEnqueue merges them one at a time: the first one's run_at
// and created_at, the last one's payload and updated_at.
type batchJobs struct {
	byKey map[[2]string]int // kind, dedupe key → index in rows
	rows  [][]any           // sqlJobEnqueue's arguments
}

func (b *batchJobs) add(args []any) {
	key := args[2].(sql.NullString)
	if key.Valid {
		k := [2]string{args[0].(string), key.String}
		if i, ok := b.byKey[k]; ok {
			r := b.rows[i]
			r[1], r[5] = args[1], args[5]
			return
		}
		if b.byKey == nil {
			b.byKey = map[[2]string]int{}
		}
		b.byKey[k] = len(b.rows)
	}
	b.rows = append(b.rows, args)
}

const sqlJobsEnqueue = `INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, created_at, updated_at)
VALUES %s
ON CONFLICT (kind, dedupe_key) WHERE state = 'queued' DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at`

// insert writes the jobs, in (kind, dedupe key) order.
func (b *batchJobs) insert(ctx context.Context, tx *sql.Tx) error {
	rows := slices.Clone(b.rows)
	slices.SortStableFunc(rows, func(x, y []any) int {
		return cmp.Or(strings.Compare(x[0].(string), y[0].(string)), strings.Compare(x[2].(sql.NullString).String, y[2].(sql.NullString).String))
	})
	return inChunks(len(rows), func(from, n int) error {
		args := make([]any, 0, 6*n)
		for _, r := range rows[from : from+n] {
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(sqlJobsEnqueue, valuesRows("(?, ?, ?, 'queued', ?, 0, ?, ?)", n)), args...); err != nil {
			return fmt.Errorf("fetch jobs: %w", err)
		}
		return nil
	})
}

// inChunks calls f for consecutive runs of n rows in sizes 64, 32, …, 1,
// so that the statements of any batch are a handful of distinct texts
// (each prepared once per connection).
func inChunks(total int, f func(from, n int) error) error {
	from := 0
	for size := 64; size >= 1; size /= 2 {
		for total-from >= size {
			if err := f(from, size); err != nil {
				return err
			}
			from += size
		}
	}
	return nil
}

// valuesRows is n copies of one VALUES row.
func valuesRows(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}
