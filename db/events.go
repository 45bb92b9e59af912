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
	// Origin is "" for a delivery Pinwheel sent, OriginReconciled for an
	// event a reconcile wrote from the API.
	Origin string
}

const eventColumns = `e.id, e.event_id, e.event, COALESCE(a.account_id, ''), COALESCE(u.end_user_id, ''), COALESCE(l.link_token_id, ''),
  COALESCE(e.outcome, ''), COALESCE(e.occurred_at, ''), COALESCE(e.sent_at, ''), e.received_at, e.last_received_at,
  e.delivery_count, e.projection, COALESCE(e.projection_error, ''), COALESCE(e.webhook_id, ''), COALESCE(e.api_version, ''),
  COALESCE(e.signature, ''), e.body, COALESCE(e.origin, '')`

const eventFrom = ` FROM events e
LEFT JOIN accounts a ON a.id = e.account_ref
LEFT JOIN end_users u ON u.id = e.end_user_ref
LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref`

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var occ, sent, recv, last string
	err := sc.Scan(&e.ID, &e.EventID, &e.Event, &e.AccountID, &e.EndUserID, &e.LinkTokenID, &e.Outcome, &occ, &sent, &recv, &last,
		&e.DeliveryCount, &e.Projection, &e.ProjectionError, &e.WebhookID, &e.APIVersion, &e.Signature, &e.Body, &e.Origin)
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
	// Body is set only when the signature was valid: its first BodyPrefix
	// characters in lists (ListRejections), all of it from RejectionByID.
	Body []byte
}

// RejectionByID returns one refused delivery with its whole body.
func (s *Store) RejectionByID(ctx context.Context, id int64) (WebhookRejection, error) {
	var r WebhookRejection
	var at string
	err := s.r.QueryRowContext(ctx, `SELECT id, at, reason, status, remote_addr, headers, body_size, body_sha256, body FROM webhook_rejections WHERE id = ?`, id).
		Scan(&r.ID, &at, &r.Reason, &r.Status, &r.RemoteAddr, &r.Headers, &r.BodySize, &r.BodySHA256, &r.Body)
	if err != nil {
		return r, fmt.Errorf("db: rejection %d: %w", id, notFound(err))
	}
	r.At = ParseTime(at)
	return r, nil
}

// ListRejections returns refused deliveries newest first (keyset on id via
// before), optionally of one reason, and whether more follow.
func (s *Store) ListRejections(ctx context.Context, reason string, before int64, limit int) ([]WebhookRejection, bool, error) {
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT id, at, reason, status, remote_addr, headers, body_size, body_sha256, substr(body, 1, ` + bodyPrefixSQL + `) FROM webhook_rejections`
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
	out := map[string]int64{}
	if err := s.rtx(ctx, func(tx *sql.Tx) error { return scanTotals(ctx, tx, out) }); err != nil {
		return nil, fmt.Errorf("db: totals: %w", err)
	}
	return out, nil
}

// nullTime parses a nullable stored time.
func nullTime(ns sql.NullString) time.Time {
	if !ns.Valid {
		return time.Time{}
	}
	return ParseTime(ns.String)
}
