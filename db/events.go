package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Event is a stored webhook event.
type Event struct {
	ID      int64
	EventID string
	Event   string
	// AccountID, EndUserID and LinkTokenID are the Pinwheel ids of the
	// entities the event was linked to ("" when none).
	AccountID   string
	EndUserID   string
	LinkTokenID string
	Outcome     string
	// OccurredAt is the payload's own time (zero when it has none).
	OccurredAt     time.Time
	SentAt         time.Time
	ReceivedAt     time.Time
	LastReceivedAt time.Time
	DeliveryCount  int
	// Projection is "projected", "unknown" or "failed".
	Projection      string
	ProjectionError string
	WebhookID       string
	APIVersion      string
	Signature       string
	Body            string
}

const eventColumns = `e.id, e.event_id, e.event, COALESCE(a.account_id, ''), COALESCE(u.end_user_id, ''), COALESCE(l.link_token_id, ''),
  COALESCE(e.outcome, ''), COALESCE(e.occurred_at, ''), COALESCE(e.sent_at, ''), e.received_at, e.last_received_at,
  e.delivery_count, e.projection, COALESCE(e.projection_error, ''), COALESCE(e.webhook_id, ''), COALESCE(e.api_version, ''),
  COALESCE(e.signature, ''), e.body`

const eventFrom = ` FROM events e
LEFT JOIN accounts a ON a.id = e.account_ref
LEFT JOIN end_users u ON u.id = e.end_user_ref
LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref`

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var occ, sent, recv, last string
	err := sc.Scan(&e.ID, &e.EventID, &e.Event, &e.AccountID, &e.EndUserID, &e.LinkTokenID, &e.Outcome, &occ, &sent, &recv, &last,
		&e.DeliveryCount, &e.Projection, &e.ProjectionError, &e.WebhookID, &e.APIVersion, &e.Signature, &e.Body)
	e.OccurredAt, e.SentAt, e.ReceivedAt, e.LastReceivedAt = ParseTime(occ), ParseTime(sent), ParseTime(recv), ParseTime(last)
	return e, err
}

// EventByEventID returns the event with Pinwheel's event_id, or ErrNotFound.
func (s *Store) EventByEventID(ctx context.Context, eventID string) (Event, error) {
	e, err := scanEvent(s.r.QueryRowContext(ctx, `SELECT `+eventColumns+eventFrom+` WHERE e.event_id = ?`, eventID))
	if err != nil {
		return Event{}, fmt.Errorf("db: event %s: %w", eventID, notFound(err))
	}
	return e, nil
}

// EventFilter narrows ListEvents. Empty fields do not filter. Before is a
// keyset cursor: only events with a smaller id (older) are listed.
type EventFilter struct {
	AccountID   string
	EndUserID   string
	LinkTokenID string
	Event       string
	Before      int64
	// Limit is the page size; 0 means 50.
	Limit int
}

// ListEvents returns events newest first, and whether more follow. Each
// filter uses an index on (ref, id), so a page costs the same at any depth.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]Event, bool, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, table, key, val string }{
		{"e.account_ref", "accounts", "account_id", f.AccountID},
		{"e.end_user_ref", "end_users", "end_user_id", f.EndUserID},
		{"e.link_token_ref", "link_tokens_seen", "link_token_id", f.LinkTokenID},
	} {
		if c.val != "" {
			where = append(where, c.col+" = (SELECT id FROM "+c.table+" WHERE "+c.key+" = ?)")
			args = append(args, c.val)
		}
	}
	if f.Event != "" {
		where = append(where, "e.event = ?")
		args = append(args, f.Event)
	}
	if f.Before > 0 {
		where = append(where, "e.id < ?")
		args = append(args, f.Before)
	}
	q := `SELECT ` + eventColumns + eventFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY e.id DESC LIMIT ?"
	args = append(args, f.Limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("db: list events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, false, fmt.Errorf("db: list events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("db: list events: %w", err)
	}
	more := len(out) > f.Limit
	if more {
		out = out[:f.Limit]
	}
	return out, more, nil
}

// WebhookRejection is a refused delivery.
type WebhookRejection struct {
	ID         int64
	At         time.Time
	Reason     string
	Status     int
	RemoteAddr string
	// Headers is a JSON object of the headers that matter.
	Headers    string
	BodySize   int64
	BodySHA256 string
	// Body is set only when the signature was valid.
	Body []byte
}

// ListRejections returns refused deliveries newest first (keyset on id via
// before), optionally of one reason, and whether more follow.
func (s *Store) ListRejections(ctx context.Context, reason string, before int64, limit int) ([]WebhookRejection, bool, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT id, at, reason, status, remote_addr, headers, body_size, body_sha256, body FROM webhook_rejections`
	var where []string
	var args []any
	if reason != "" {
		where, args = append(where, "reason = ?"), append(args, reason)
	}
	if before > 0 {
		where, args = append(where, "id < ?"), append(args, before)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("db: list rejections: %w", err)
	}
	defer rows.Close()
	var out []WebhookRejection
	for rows.Next() {
		var r WebhookRejection
		var at string
		if err := rows.Scan(&r.ID, &at, &r.Reason, &r.Status, &r.RemoteAddr, &r.Headers, &r.BodySize, &r.BodySHA256, &r.Body); err != nil {
			return nil, false, fmt.Errorf("db: list rejections: %w", err)
		}
		r.At = ParseTime(at)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("db: list rejections: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// Totals returns the running totals kept by ingestion: events, deliveries,
// duplicates, end_users, accounts, link_tokens, rejections,
// rejections_unrecorded (missing names are 0).
func (s *Store) Totals(ctx context.Context) (map[string]int64, error) {
	return s.counterMap(ctx, `SELECT name, n FROM totals`)
}

// StatusCounts returns how many accounts have each current monitoring
// status; "" counts accounts whose status is not known yet.
func (s *Store) StatusCounts(ctx context.Context) (map[string]int64, error) {
	return s.counterMap(ctx, `SELECT monitoring_status, n FROM status_counts WHERE n <> 0`)
}

func (s *Store) counterMap(ctx context.Context, q string) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("db: counters: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("db: counters: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

// HourCount is one counter bucket.
type HourCount struct {
	Hour time.Time
	// Key is the event name, "job/outcome" or the rejection reason.
	Key        string
	N          int64
	Duplicates int64
}

// EventCountsSince returns accepted and duplicate counts per hour and event
// name from since on, oldest first.
func (s *Store) EventCountsSince(ctx context.Context, since time.Time) ([]HourCount, error) {
	return s.hourCounts(ctx, `SELECT hour, event, accepted, duplicates FROM event_counts WHERE hour >= ? ORDER BY hour, event`, since)
}

// JobOutcomeCountsSince returns job outcomes per hour ("identity/success").
func (s *Store) JobOutcomeCountsSince(ctx context.Context, since time.Time) ([]HourCount, error) {
	return s.hourCounts(ctx, `SELECT hour, job || '/' || outcome, n, 0 FROM job_outcome_counts WHERE hour >= ? ORDER BY hour, job, outcome`, since)
}

// RejectionCountsSince returns refused deliveries per hour and reason.
func (s *Store) RejectionCountsSince(ctx context.Context, since time.Time) ([]HourCount, error) {
	return s.hourCounts(ctx, `SELECT hour, reason, n, 0 FROM rejection_counts WHERE hour >= ? ORDER BY hour, reason`, since)
}

func (s *Store) hourCounts(ctx context.Context, q string, since time.Time) ([]HourCount, error) {
	rows, err := s.r.QueryContext(ctx, q, hourOf(since))
	if err != nil {
		return nil, fmt.Errorf("db: hour counts: %w", err)
	}
	defer rows.Close()
	var out []HourCount
	for rows.Next() {
		var h HourCount
		var hour string
		if err := rows.Scan(&hour, &h.Key, &h.N, &h.Duplicates); err != nil {
			return nil, fmt.Errorf("db: hour counts: %w", err)
		}
		h.Hour = ParseTime(hour)
		out = append(out, h)
	}
	return out, rows.Err()
}

// nullTime parses a nullable stored time.
func nullTime(ns sql.NullString) time.Time {
	if !ns.Valid {
		return time.Time{}
	}
	return ParseTime(ns.String)
}
