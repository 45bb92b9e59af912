package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
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
func (s *Store) ExportEvents(ctx context.Context, a Actor, q EventQuery, format string, withBody bool, fn func(ExportRow) error) (int64, error) {
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
	conn, err := s.exportConn(ctx)
	if err != nil {
		return 0, fmt.Errorf("db: export events: %w", err)
	}
	defer s.releaseExportConn(conn)
	where, args, ok, err := s.eventWhere(ctx, conn, q)
	if err != nil {
		return 0, fmt.Errorf("db: export events: %w", err)
	}
	if !ok {
		return 0, nil
	}
	query := exportSQL(where, withBody)
	var n int64
	for {
		got, last, err := exportChunkRows(ctx, conn, query, append(args, exportChunk), withBody, fn)
		n += got
		if err != nil {
			return n, err
		}
		if got < exportChunk {
			return n, nil
		}
		args[len(args)-1] = last // the next chunk: below the last row
	}
}

// ExportRow is one exported event, its times as stored (TimeFormat text):
// an export writes them as they are, without parsing and formatting a
// million times.
type ExportRow struct {
	EventID, Event, ReceivedAt, OccurredAt, Outcome string
	AccountID, EndUserID, LinkTokenID               string
	DeliveryCount                                   int
	LastReceivedAt, Projection                      string
	// Body is set only when the export asked for bodies.
	Body string
}

// exportSQL is the events log query of an export, columns as stored.
func exportSQL(where []string, body bool) string {
	cols := `e.id, e.event_id, e.event, e.received_at, COALESCE(e.occurred_at, ''), COALESCE(e.outcome, ''), COALESCE(a.account_id, ''),
  COALESCE(u.end_user_id, ''), COALESCE(l.link_token_id, ''), e.delivery_count, e.last_received_at, e.projection`
	if body {
		cols += ", e.body"
	}
	return `SELECT ` + cols + ` FROM events e
LEFT JOIN accounts a ON a.id = e.account_ref
LEFT JOIN end_users u ON u.id = e.end_user_ref
LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref
WHERE ` + strings.Join(where, " AND ") + ` ORDER BY e.id DESC LIMIT ?`
}

// exportChunkRows streams one chunk to fn and returns how many rows it
// had and the id of the last.
func exportChunkRows(ctx context.Context, conn *sql.Conn, query string, args []any, body bool, fn func(ExportRow) error) (int64, int64, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("db: export events: %w", err)
	}
	defer rows.Close()
	var n, id int64
	var r ExportRow
	dst := []any{&id, &r.EventID, &r.Event, &r.ReceivedAt, &r.OccurredAt, &r.Outcome, &r.AccountID, &r.EndUserID, &r.LinkTokenID,
		&r.DeliveryCount, &r.LastReceivedAt, &r.Projection}
	if body {
		dst = append(dst, &r.Body)
	}
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return n, id, fmt.Errorf("db: export events: %w", err)
		}
		if err := fn(r); err != nil {
			return n, id, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, id, fmt.Errorf("db: export events: %w", err)
	}
	return n, id, nil
}

// exportConn takes a reader connection for an export.
func (s *Store) exportConn(ctx context.Context) (*sql.Conn, error) {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, s.d.exportMemory); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// releaseExportConn restores the pool's memory settings and returns the
// connection.
func (s *Store) releaseExportConn(conn *sql.Conn) {
	conn.ExecContext(context.Background(), s.d.poolMemory)
	conn.Close()
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
