package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Exports: long reads streamed to a client that may read slowly or not at
// all. Every export's Store method reads through exportChunks, which
// decides how an export may use the database:
//
//   - it reads from its own small pool of read-only connections (Store.x,
//     Options.Exporters), never from the pool pages use, so however many
//     downloads run, pages, sign-in and /readyz find their connections;
//   - it reads in keyset chunks of at most exportChunkRows rows and about
//     exportChunkBytes bytes, each chunk read completely into memory and
//     its connection handed back before a single row is written to the
//     client: a client that stops reading holds a chunk of memory, never a
//     connection or a read transaction;
//   - the first chunk fixes where the export starts (events received
//     after it began are not included), each next one continues below the
//     last key read.
//
// The handlers' export skeleton (handlers/export.go) adds the rest: at most
// a few downloads per person, a write deadline per piece written, and the
// headers every download needs.

// ActionEventsExported is the audit action of an export.
const ActionEventsExported = "events.exported"

// Bounds of one chunk of an export.
const (
	exportChunkRows  = 2000
	exportChunkBytes = 4 << 20
)

// exportQuery is a keyset-paged export query: sql reads rows whose key is
// below the key of the previous chunk's last row (args end with that key,
// then the limit), scan reads one row and returns it with its key and its
// size in bytes.
type exportQuery[T any] struct {
	sql   string
	args  []any // the last one is the key bound; the limit is appended
	scan  func(*sql.Rows) (row T, key int64, size int, err error)
	label string // in errors: "export events"
}

// exportChunks streams every row of q to fn, a chunk at a time (see above),
// and returns how many rows it passed.
func exportChunks[T any](ctx context.Context, s *Store, q exportQuery[T], fn func(T) error) (int64, error) {
	args := append(q.args[:len(q.args):len(q.args)], exportChunkRows)
	var n int64
	chunk := make([]T, 0, 256)
	for {
		var last int64
		var full bool
		var err error
		chunk, last, full, err = readChunk(ctx, s.x, q, args, chunk[:0])
		if err != nil {
			return n, fmt.Errorf("db: %s: %w", q.label, err)
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return n, err
			}
			n++
		}
		if !full {
			return n, nil
		}
		args[len(args)-2] = last // the next chunk: below the last row
	}
}

// readChunk reads one chunk of q into dst on a connection of pool and
// releases it. full says the chunk stopped at a bound (more may follow).
func readChunk[T any](ctx context.Context, pool *sql.DB, q exportQuery[T], args []any, dst []T) ([]T, int64, bool, error) {
	rows, err := pool.QueryContext(ctx, q.sql, args...)
	if err != nil {
		return dst, 0, false, err
	}
	defer rows.Close()
	var last int64
	var bytes int
	for rows.Next() {
		r, key, size, err := q.scan(rows)
		if err != nil {
			return dst, 0, false, err
		}
		dst, last, bytes = append(dst, r), key, bytes+size
		if bytes >= exportChunkBytes {
			return dst, last, true, rows.Close()
		}
	}
	if err := rows.Err(); err != nil {
		return dst, 0, false, err
	}
	return dst, last, len(dst) == exportChunkRows, nil
}

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
	where, args, ok, err := s.eventWhere(ctx, s.x, q)
	if err != nil {
		return 0, fmt.Errorf("db: export events: %w", err)
	}
	if !ok {
		return 0, nil
	}
	return exportChunks(ctx, s, exportQuery[ExportRow]{sql: exportSQL(where, withBody), args: args, label: "export events",
		scan: func(rows *sql.Rows) (ExportRow, int64, int, error) {
			var r ExportRow
			var id int64
			dst := []any{&id, &r.EventID, &r.Event, &r.ReceivedAt, &r.OccurredAt, &r.Outcome, &r.AccountID, &r.EndUserID, &r.LinkTokenID,
				&r.DeliveryCount, &r.LastReceivedAt, &r.Projection}
			if withBody {
				dst = append(dst, &r.Body)
			}
			err := rows.Scan(dst...)
			return r, id, 256 + len(r.Body), err
		}}, fn)
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

// exportConn takes a connection of the export pool for a long read that
// is not written to a client as it goes (a whole-trail verification) or
// has not moved to exportChunks yet. It never takes a connection pages
// need; but a connection held while writing to a client is held for as
// long as the client stalls, so a download reads through exportChunks.
func (s *Store) exportConn(ctx context.Context) (*sql.Conn, error) { return s.x.Conn(ctx) }

// releaseExportConn returns a connection exportConn took.
func (s *Store) releaseExportConn(conn *sql.Conn) { conn.Close() }
