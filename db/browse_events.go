package db

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The events log (/events) and its export: every stored event, newest
// first, keyset-paged on id. Each filter is an index range that yields rows
// in id order: (account_ref, id), (end_user_ref, id), (link_token_ref, id),
// (event, id), and partial indexes for the rare outcomes and duplicates. A
// time range becomes an id range (see idRange), so no filter scans events.

// Event statuses of the log's status filter. Every stored event was
// accepted; duplicates are those delivered more than once. Rejected
// deliveries are not events: they are listed from webhook_rejections.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"
)

// EventQuery selects events for the log and the export. Empty fields do not
// filter.
type EventQuery struct {
	Type        string
	Outcome     string
	AccountID   string
	EndUserID   string
	LinkTokenID string
	// From and To bound the receive time: From <= received_at < To.
	From, To time.Time
	// Status is "", StatusAccepted or StatusDuplicate.
	Status string
	// Before is the keyset cursor: only events with a smaller id.
	Before int64
	// Oldest lists oldest first, after the cursor After (a larger id).
	Oldest bool
	After  int64
	// Limit is the page size; 0 means 50.
	Limit int
}

// Validate reports filter values that cannot match.
func (q EventQuery) Validate() error {
	fe := FieldErrors{}
	if q.Outcome != "" && !oneOf(q.Outcome, JobOutcomes) {
		fe["outcome"] = "Choose success, error or pending."
	}
	if q.Status != "" && q.Status != StatusAccepted && q.Status != StatusDuplicate {
		fe["status"] = "Choose accepted or duplicate."
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		fe["to"] = "The end of the time range must be after its start."
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// EventRow is one line of the events log (no body).
type EventRow struct {
	ID             int64
	EventID        string
	Event          string
	AccountID      string
	EndUserID      string
	LinkTokenID    string
	Outcome        string
	OccurredAt     time.Time
	ReceivedAt     time.Time
	LastReceivedAt time.Time
	DeliveryCount  int
	Projection     string
	// Origin is OriginReconciled for an event a reconcile wrote.
	Origin string
}

// eventRowColumns are the columns of EventRow, body last.
const eventRowColumns = `e.id, e.event_id, e.event, COALESCE(a.account_id, ''), COALESCE(u.end_user_id, ''), COALESCE(l.link_token_id, ''),
  COALESCE(e.outcome, ''), COALESCE(e.occurred_at, ''), e.received_at, e.last_received_at, e.delivery_count, e.projection,
  COALESCE(e.origin, '')`

// ListEventLog returns a page of the events log, newest first, and whether
// older events follow.
func (s *Store) ListEventLog(ctx context.Context, q EventQuery) ([]EventRow, bool, error) {
	p, err := s.EventLogPage(ctx, q, 0)
	return p.Rows, p.More, err
}

// queryer is a *sql.Tx or *sql.DB.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// eventRowsSQL is the events log query over WHERE terms, newest first;
// its last parameter is the limit.
func eventRowsSQL(where []string) string { return eventRowsSQLOrder(where, "DESC") }

func eventRowsSQLOrder(where []string, dir string) string {
	return `SELECT ` + eventRowColumns + ` FROM events e
LEFT JOIN accounts a ON a.id = e.account_ref
LEFT JOIN end_users u ON u.id = e.end_user_ref
LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY e.id ` + dir + ` LIMIT ?`
}

// EventLogPage is a page of the events log with the count of what its
// filter selects, read together so that the filter's entities and time
// range are resolved once.
type EventLogPage struct {
	Rows []EventRow
	// More reports that older (with Oldest, newer) events follow.
	More bool
	// Count is how many events the filter selects, cursor aside, up to the
	// limit given; CountMore reports that there are more.
	Count     int64
	CountMore bool
}

// EventLogPage reads a page of the events log and, when countLimit > 0,
// counts the events its filter selects (up to countLimit), in one read
// transaction.
func (s *Store) EventLogPage(ctx context.Context, q EventQuery, countLimit int) (EventLogPage, error) {
	var p EventLogPage
	if err := q.Validate(); err != nil {
		return p, err
	}
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 50
	}
	all := q
	all.Before, all.After, all.Oldest = 0, 0, false
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		where, args, ok, err := s.eventWhere(ctx, tx, all)
		if err != nil || !ok {
			return err
		}
		if countLimit > 0 {
			if p.Count, p.CountMore, err = countRows(ctx, tx, "events e", where, args, countLimit); err != nil {
				return err
			}
		}
		// The cursor narrows the upper id bound, eventWhere's last term.
		args = slices.Clone(args)
		if q.Before > 0 && q.Before < args[len(args)-1].(int64) {
			args[len(args)-1] = q.Before
		}
		if q.Oldest {
			p.Rows, err = queryEventRowsOrder(ctx, tx, append(where, "e.id > ?"), append(args, q.After), q.Limit+1, "ASC")
		} else {
			p.Rows, err = queryEventRows(ctx, tx, where, args, q.Limit+1)
		}
		return err
	})
	if err != nil {
		return EventLogPage{}, fmt.Errorf("db: events log: %w", err)
	}
	if p.More = len(p.Rows) > q.Limit; p.More {
		p.Rows = p.Rows[:q.Limit]
	}
	return p, nil
}

func queryEventRows(ctx context.Context, db queryer, where []string, args []any, limit int) ([]EventRow, error) {
	return queryEventRowsOrder(ctx, db, where, args, limit, "DESC")
}

func queryEventRowsOrder(ctx context.Context, db queryer, where []string, args []any, limit int, dir string) ([]EventRow, error) {
	rows, err := db.QueryContext(ctx, eventRowsSQLOrder(where, dir), append(args[:len(args):len(args)], limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]EventRow, 0, min(limit, 1000))
	var occ, recv, last string
	for rows.Next() {
		var r EventRow
		if err := rows.Scan(&r.ID, &r.EventID, &r.Event, &r.AccountID, &r.EndUserID, &r.LinkTokenID, &r.Outcome, &occ, &recv, &last, &r.DeliveryCount, &r.Projection, &r.Origin); err != nil {
			return nil, err
		}
		r.OccurredAt, r.ReceivedAt, r.LastReceivedAt = ParseTime(occ), ParseTime(recv), ParseTime(last)
		out = append(out, r)
	}
	return out, rows.Err()
}

// eventWhere builds the WHERE terms of an event query. ok is false when a
// named entity does not exist (nothing can match). The last term is always
// the upper id bound "e.id < ?" and its value the last argument, so that a
// caller paging on (the export) replaces it rather than adding a second
// bound, which SQLite would only filter with.
func (s *Store) eventWhere(ctx context.Context, tx queryer, q EventQuery) (where []string, args []any, ok bool, err error) {
	where = []string{"1=1"}
	for _, c := range []struct{ col, table, key, val string }{
		{"e.account_ref", "accounts", "account_id", q.AccountID},
		{"e.end_user_ref", "end_users", "end_user_id", q.EndUserID},
		{"e.link_token_ref", "link_tokens_seen", "link_token_id", q.LinkTokenID},
	} {
		if c.val == "" {
			continue
		}
		var ref int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM `+c.table+` WHERE `+c.key+` = ?`, c.val).Scan(&ref)
		if err == sql.ErrNoRows {
			return nil, nil, false, nil
		}
		if err != nil {
			return nil, nil, false, err
		}
		where, args = append(where, c.col+" = ?"), append(args, ref)
	}
	if q.Type != "" {
		where, args = append(where, "e.event = ?"), append(args, q.Type)
	}
	if q.Outcome != "" {
		where, args = append(where, "e.outcome = ?"), append(args, q.Outcome)
		if q.Outcome != "success" {
			where = append(where, "e.outcome IN ('error', 'pending')")
		}
	}
	if q.Status == StatusDuplicate {
		where = append(where, "e.delivery_count > 1")
	}
	hi := q.Before
	if !q.From.IsZero() || !q.To.IsZero() {
		lo, top, err := idRange(ctx, tx, q.From, q.To)
		if err != nil {
			return nil, nil, false, err
		}
		if lo > top {
			return nil, nil, false, nil
		}
		if hi <= 0 || top+1 < hi {
			hi = top + 1
		}
		where, args = append(where, "e.id >= ?"), append(args, lo)
		if !q.From.IsZero() {
			where, args = append(where, "e.received_at >= ?"), append(args, FormatTime(q.From))
		}
		if !q.To.IsZero() {
			where, args = append(where, "e.received_at < ?"), append(args, FormatTime(q.To))
		}
	}
	if hi <= 0 {
		hi = 1 << 62 // page one is a keyset range too
	}
	where, args = append(where, "e.id < ?"), append(args, hi)
	return where, args, true, nil
}

// receiveSlack is how far the receive order of ids may stray from the
// order of received_at. Ids are given in commit order, received_at when the
// request arrives, so the two disagree only among deliveries in flight at
// the same time: a time filter is exact while fewer than receiveSlack
// webhooks are in flight at once (`linkdesk seed` with 512 concurrent
// deliveries displaced ids by at most 441 over 1M events).
const receiveSlack = 2048

// idRange turns a receive-time range into the id range that holds it,
// without an index on received_at: ids follow receive order, so a binary
// search over the primary key finds the edges (about 20 probes), widened by
// receiveSlack; the exact received_at terms then filter the few rows at the
// edges. top < lo means the range is empty. The searches run inside the
// database, all in one statement (idSearchSQL): on PostgreSQL each
// statement is a round trip, and 40 probes sent one by one cost more than
// the page's own query.
func idRange(ctx context.Context, tx queryer, from, to time.Time) (lo, top int64, err error) {
	// MIN and MAX each in a subquery of its own: SQLite reads either
	// alone from the end of the primary key, but both in one SELECT scan
	// the table.
	q := `SELECT COALESCE((SELECT MIN(id) FROM events), 0), COALESCE((SELECT MAX(id) FROM events), 0)`
	var ctes []string
	var args []any
	for _, e := range []struct {
		name string
		t    time.Time
	}{{"f", from}, {"t", to}} {
		if e.t.IsZero() {
			q += `, 0`
			continue
		}
		ctes = append(ctes, idSearchSQL(e.name, "events", "received_at"))
		args = append(args, FormatTime(e.t), FormatTime(e.t))
		q += `, (SELECT lo FROM ` + e.name + ` WHERE lo >= hi)`
	}
	if len(ctes) > 0 {
		q = `WITH RECURSIVE ` + strings.Join(ctes, ", ") + ` ` + q
	}
	var minID, maxID, first, past int64
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&minID, &maxID, &first, &past); err != nil {
		return 0, 0, err
	}
	if maxID == 0 {
		return 1, 0, nil
	}
	lo, top = minID, maxID
	if !from.IsZero() {
		lo = max(minID, first-receiveSlack)
	}
	if !to.IsZero() {
		top = min(maxID, past-1+receiveSlack)
	}
	return lo, top, nil
}

// idSearchSQL is a recursive common table expression name(lo, hi) that
// binary-searches table's primary key for the first id whose col is at or
// after the time given twice as its parameters, col growing with id: each
// step probes the first row at or after the middle of [lo, hi) and keeps
// the half that holds the answer. Its last row has lo >= hi and lo the
// answer: the first such id (or a number in the gap of ids before it), one
// past the last id when none is, 0 for an empty table. Every probe is a
// primary-key lookup, on SQLite and on PostgreSQL (TestIDSearch).
func idSearchSQL(name, table, col string) string {
	probe := func(c string) string {
		return `(SELECT ` + c + ` FROM ` + table + ` WHERE id >= ` + name + `.lo + (` + name + `.hi - ` + name + `.lo) / 2 ORDER BY id LIMIT 1)`
	}
	return name + `(lo, hi) AS (
  SELECT COALESCE((SELECT MIN(id) FROM ` + table + `), 0), COALESCE((SELECT MAX(id) FROM ` + table + `), 0) + 1
  UNION ALL
  SELECT CASE WHEN ` + probe(col) + ` < ? THEN ` + probe("id") + ` + 1 ELSE ` + name + `.lo END,
         CASE WHEN ` + probe(col) + ` < ? THEN ` + name + `.hi ELSE ` + name + `.lo + (` + name + `.hi - ` + name + `.lo) / 2 END
  FROM ` + name + ` WHERE ` + name + `.lo < ` + name + `.hi)`
}

// firstIDAtOrAfterIn returns the first id of table whose col is at or
// after t (one past the last id when none is), by a binary search over the
// primary key (idSearchSQL), col growing with id.
func firstIDAtOrAfterIn(ctx context.Context, q queryer, table, col, t string) (int64, error) {
	var lo int64
	err := q.QueryRowContext(ctx, `WITH RECURSIVE `+idSearchSQL("s", table, col)+` SELECT lo FROM s WHERE lo >= hi`, t, t).Scan(&lo)
	return lo, err
}

// RejectionReasons returns the reasons seen (from the counters, not the
// rows), for the filter of the rejections page.
func (s *Store) RejectionReasons(ctx context.Context) ([]FacetCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT reason, '', SUM(n) FROM rejection_counts GROUP BY reason ORDER BY reason`)
	if err != nil {
		return nil, fmt.Errorf("db: rejection reasons: %w", err)
	}
	out, err := scanFacets(rows)
	if err != nil {
		return nil, fmt.Errorf("db: rejection reasons: %w", err)
	}
	return out, nil
}
