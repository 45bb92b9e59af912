package db

import (
	"context"
	"database/sql"
	"fmt"
)

// Export: the filtered events log as a stream, for auditors. Rows are read
// in keyset chunks (each a short read, newest first), so memory stays flat
// whatever the size, and no read transaction is held open for the whole
// export. Events received after the export began are not included: the
// first chunk fixes the top id.

// ActionEventsExported is the audit action of an export.
const ActionEventsExported = "events.exported"

// exportChunk is how many rows one read returns.
const exportChunk = 2000

// ExportEvents records the export in the audit trail (with its filter and
// format), then calls fn for every event matching q, newest first. withBody
// adds the raw body to each row. It returns the number of rows exported.
// q.Before and q.Limit are ignored.
func (s *Store) ExportEvents(ctx context.Context, a Actor, q EventQuery, format string, withBody bool, fn func(EventRow) error) (int64, error) {
	if err := q.Validate(); err != nil {
		return 0, err
	}
	q.Before, q.Limit = 0, 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return s.appendAudit(ctx, tx, a, ActionEventsExported, "events", "", map[string]any{"format": format, "filter": q.auditFilter()})
	})
	if err != nil {
		return 0, fmt.Errorf("db: export events: %w", err)
	}
	where, args, ok, err := s.eventWhere(ctx, s.r, q)
	if err != nil {
		return 0, fmt.Errorf("db: export events: %w", err)
	}
	if !ok {
		return 0, nil
	}
	var n int64
	var before int64
	for {
		w, ar := where, args
		if before > 0 {
			w, ar = append(w[:len(w):len(w)], "e.id < ?"), append(ar[:len(ar):len(ar)], before)
		}
		rows, err := queryEventRows(ctx, s.r, w, ar, exportChunk, withBody)
		if err != nil {
			return n, fmt.Errorf("db: export events: %w", err)
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return n, err
			}
			n++
		}
		if len(rows) < exportChunk {
			return n, nil
		}
		before = rows[len(rows)-1].ID
	}
}

// auditFilter is the filter as recorded in the audit trail: the fields
// that were set.
func (q EventQuery) auditFilter() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"type": q.Type, "outcome": q.Outcome, "account": q.AccountID, "end_user": q.EndUserID,
		"link_token": q.LinkTokenID, "status": q.Status} {
		if v != "" {
			m[k] = v
		}
	}
	if !q.From.IsZero() {
		m["from"] = FormatTime(q.From)
	}
	if !q.To.IsZero() {
		m["to"] = FormatTime(q.To)
	}
	return m
}
