package db

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The read side of live pages (handlers/live.go): what changed since a
// page was drawn. Every page's stream polls two kinds of question, each a
// handful of index probes:
//
//   - Stamps: a short text that changes whenever anything a page's panels
//     show changes (an account's row, its newest snapshot, launch event,
//     link, mint). The stream re-renders the panels only when the stamp
//     moves, and sends only those whose HTML changed.
//   - Toasts: the links a staff member created that reached an outcome
//     since a position in the launch events and the webhook events.

// ToastCursor is a position in the launch events and the webhook events:
// the newest ids a page has seen.
type ToastCursor struct {
	Launch, Event int64
}

// String encodes c for a URL or an SSE id: "l12.e340".
func (c ToastCursor) String() string {
	return "l" + strconv.FormatInt(c.Launch, 10) + ".e" + strconv.FormatInt(c.Event, 10)
}

// ParseToastCursor decodes ToastCursor.String.
func ParseToastCursor(s string) (ToastCursor, error) {
	var c ToastCursor
	l, e, ok := strings.Cut(s, ".")
	if !ok || len(l) < 2 || len(e) < 2 || l[0] != 'l' || e[0] != 'e' {
		return c, ErrBadCursor
	}
	var err1, err2 error
	c.Launch, err1 = strconv.ParseInt(l[1:], 10, 64)
	c.Event, err2 = strconv.ParseInt(e[1:], 10, 64)
	if err1 != nil || err2 != nil || c.Launch < 0 || c.Event < 0 {
		return ToastCursor{}, ErrBadCursor
	}
	return c, nil
}

// ToastPosition is the newest launch event and webhook event: where a page
// drawn now starts listening for finished links.
func (s *Store) ToastPosition(ctx context.Context) (ToastCursor, error) {
	var c ToastCursor
	// Not past an event that may still commit below it (events_horizon.go).
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(id), 0) FROM launch_events), `+s.newestEventSQL("")).Scan(&c.Launch, &c.Event)
	if err != nil {
		return c, fmt.Errorf("db: toast position: %w", err)
	}
	return c, nil
}

// maxToastScan bounds the events one poll reads: a page that was asleep
// for a long time hears only of the latest.
const maxToastScan = 5000

// FinishedLinks returns the links created by staffID that got news since
// after (a launch event the lifecycle reads, or a job outcome webhook for
// one of their Pinwheel tokens) and now have an outcome (success, error,
// pending) or were closed by the user (exited), with the new position.
func (s *Store) FinishedLinks(ctx context.Context, staffID int64, after ToastCursor) ([]LinkSummary, ToastCursor, error) {
	next := after
	var out []LinkSummary
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		var top ToastCursor
		// Not past an event that may still commit below it (events_horizon.go).
		err := tx.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(id), 0) FROM launch_events), `+s.newestEventSQL("")).Scan(&top.Launch, &top.Event)
		if err != nil {
			return err
		}
		from := after
		from.Launch = max(from.Launch, top.Launch-maxToastScan)
		from.Event = max(from.Event, top.Event-maxToastScan)
		next = top
		if top.Launch <= from.Launch && top.Event <= from.Event {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT t.id FROM launch_events e JOIN link_tokens t ON t.id = e.link_ref
WHERE e.id > ? AND e.id <= ? AND e.name IN ('success', 'error', 'exit') AND t.created_by = ?
UNION
SELECT DISTINCT m.link_ref FROM events e
JOIN link_tokens_seen p ON p.id = e.link_token_ref
JOIN link_token_mints m ON m.link_token_id = p.link_token_id
JOIN link_tokens t ON t.id = m.link_ref
WHERE e.id > ? AND e.id <= ? AND e.outcome IS NOT NULL AND t.created_by = ?`,
			from.Launch, top.Launch, staffID, from.Event, top.Event, staffID)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		links, err := linksByRef(ctx, tx, ids)
		if err != nil {
			return err
		}
		events, hooks, err := s.lifecycleInputs(ctx, tx, links, true)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		for _, t := range links {
			lc := ComputeLifecycle(t, events[t.ID], hooks[t.ID], now)
			if lc.Outcome != "" || lc.State == StageExited {
				out = append(out, LinkSummary{Link: t, Lifecycle: lc})
			}
		}
		return nil
	})
	if err != nil {
		return nil, after, fmt.Errorf("db: finished links: %w", err)
	}
	return out, next, nil
}

func linksByRef(ctx context.Context, tx *sql.Tx, ids []any) ([]Link, error) {
	rows, err := tx.QueryContext(ctx, linkSelect+` WHERE t.id IN (`+sqlParams(len(ids))+`) ORDER BY t.id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Link
	for rows.Next() {
		t, err := scanLink(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// stamp joins the values of one row of a stamp query, with the minute
// (lifecycles expire with time alone).
func (s *Store) stamp(ctx context.Context, query string, args ...any) (string, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return "", err
		}
		return "", ErrNotFound
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(s.now().UTC().Truncate(time.Minute).Format("1504"))
	for _, v := range vals {
		b.WriteByte('|')
		b.WriteString(v.String)
	}
	return b.String(), rows.Err()
}

// AccountStamp changes whenever the account page's panels may have: the
// account row, its newest snapshot, verdict, launch event, link, mint and
// revocation.
func (s *Store) AccountStamp(ctx context.Context, accountID string) (string, error) {
	st, err := s.stamp(ctx, `SELECT a.last_event_at, a.event_count, COALESCE(a.monitoring_status, ''), COALESCE(a.monitoring_status_at, ''),
  COALESCE(a.connected, -1), COALESCE(a.last_job_at, ''),
  (SELECT COALESCE(MAX(d.id), 0) FROM data_snapshots d WHERE d.account_ref = a.id),
  (SELECT COALESCE(MAX(v.computed_at), '') FROM identity_verdicts v WHERE v.account_id = a.account_id),
  (SELECT COALESCE(MAX(e.id), 0) FROM launch_events e WHERE e.account_id = a.account_id),
  (SELECT COALESCE(MAX(t.id), 0) || ':' || COUNT(t.revoked_at) || ':' || COALESCE(SUM(t.mint_attempts), 0) FROM link_tokens t WHERE t.account_id = a.account_id)
FROM accounts a WHERE a.account_id = ?`, accountID)
	if err != nil {
		return "", fmt.Errorf("db: account stamp: %w", err)
	}
	return st, nil
}

// EndUserStamp changes whenever the end user page's panels may have: the
// end user's row and the status of any of their accounts.
func (s *Store) EndUserStamp(ctx context.Context, endUserID string) (string, error) {
	st, err := s.stamp(ctx, `SELECT u.last_seen_at, u.account_count, u.event_count,
  (SELECT COALESCE(MAX(a.monitoring_status_at), '') || ':' || COALESCE(MAX(a.last_event_at), '') || ':' || COALESCE(SUM(a.connected), 0)
   FROM accounts a WHERE a.end_user_ref = u.id)
FROM end_users u WHERE u.end_user_id = ?`, endUserID)
	if err != nil {
		return "", fmt.Errorf("db: end user stamp: %w", err)
	}
	return st, nil
}

// LinkStamp changes whenever a token page may have: its row, its mints,
// its launch events and the webhooks of its Pinwheel tokens.
func (s *Store) LinkStamp(ctx context.Context, tokenID string) (string, error) {
	st, err := s.stamp(ctx, `SELECT COALESCE(t.revoked_at, ''), COALESCE(t.closed_at, ''), t.mint_attempts,
  (SELECT COALESCE(MAX(e.id), 0) FROM launch_events e WHERE e.link_ref = t.id),
  (SELECT COALESCE(MAX(e.id), 0) FROM link_token_mints m JOIN link_tokens_seen p ON p.link_token_id = m.link_token_id
     JOIN events e ON e.link_token_ref = p.id WHERE m.link_ref = t.id)
FROM link_tokens t WHERE t.token_id = ?`, tokenID)
	if err != nil {
		return "", fmt.Errorf("db: link stamp: %w", err)
	}
	return st, nil
}

// LinksStamp changes whenever the /tokens list may have: a new link, a
// revocation, a mint, a launch event, a webhook naming one of Linkdesk's
// tokens.
func (s *Store) LinksStamp(ctx context.Context) (string, error) {
	st, err := s.stamp(ctx, `SELECT (SELECT COALESCE(MAX(id), 0) FROM link_tokens),
  (SELECT COALESCE(MAX(id), 0) FROM link_token_mints),
  (SELECT COALESCE(MAX(id), 0) FROM launch_events),
  (SELECT COALESCE(MAX(id), 0) FROM audit_log),
  (SELECT COALESCE(MAX(id), 0) FROM events)`)
	if err != nil {
		return "", fmt.Errorf("db: links stamp: %w", err)
	}
	return st, nil
}

// DashboardStamp changes whenever a dashboard figure may have: the totals,
// the job queue's counters, the link funnel.
func (s *Store) DashboardStamp(ctx context.Context) (string, error) {
	st, err := s.stamp(ctx, `SELECT (SELECT group_concat(name || '=' || n) FROM totals),
  (SELECT group_concat(kind || state || '=' || n) FROM job_state_counts), (SELECT COALESCE(MAX(id), 0) FROM job_state_deltas),
  (SELECT COALESCE(MAX(id), 0) FROM link_tokens),
  (SELECT COALESCE(MAX(id), 0) FROM launch_events),
  (SELECT COALESCE(SUM(n), 0) FROM status_counts WHERE monitoring_status = 'user_action_required')`)
	if err != nil {
		return "", fmt.Errorf("db: dashboard stamp: %w", err)
	}
	return st, nil
}

// PageHeader is what the layout of a signed-in staff member's page reads
// besides the page itself.
type PageHeader struct {
	// OpenAlerts counts the alerts in state open (the header's badge).
	OpenAlerts int
	// TimeZone is the staff member's time zone (DefaultTimeZone if unset).
	TimeZone string
	// Toast is where the page's live stream of toasts starts.
	Toast ToastCursor
}

// PageHeader reads OpenAlerts, StaffTimeZone and ToastPosition in one
// statement: every page shows them, and on PostgreSQL each read is a round
// trip of its own.
func (s *Store) PageHeader(ctx context.Context, staffID int64) (PageHeader, error) {
	var h PageHeader
	// The toasts start below any event that may still commit (events_horizon.go).
	err := s.r.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM alerts WHERE state = 'open'),
  COALESCE((SELECT time_zone FROM staff_preferences WHERE staff_id = ?), ''),
  (SELECT COALESCE(MAX(id), 0) FROM launch_events), `+s.newestEventSQL(""), staffID).Scan(&h.OpenAlerts, &h.TimeZone, &h.Toast.Launch, &h.Toast.Event)
	if err != nil {
		return PageHeader{}, fmt.Errorf("db: page header: %w", err)
	}
	if h.TimeZone == "" {
		h.TimeZone = DefaultTimeZone
	}
	return h, nil
}
