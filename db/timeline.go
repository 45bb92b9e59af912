package db

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timelines: one stream per account or end user that merges the webhook
// events Pinwheel sent about it, the staff actions taken on it (audit rows
// whose target is the account, the end user, their customer record, or a
// launch link made for one of their accounts) and the Link events their
// launch pages reported. Each source is
// read newest first through its own (ref, id) index and the streams are
// merged by time; a page's cursor holds one position per source, so paging
// never skips or repeats an entry however the sources interleave.

// Timeline entry kinds, also the values of the ?kind= filter.
const (
	KindWebhook = "webhook"
	KindStaff   = "staff"
	KindLink    = "link"
)

// BodyPrefix is how much of each stored body a list (a timeline, the
// rejected deliveries) reads: pages show at most pii.CapEntry of each, so
// a page of 50 one-megabyte bodies costs a few megabytes, not fifty. The
// whole body is one click away (the event page, the raw download).
const BodyPrefix = 64 << 10

// bodyPrefixSQL is BodyPrefix in SQL. substr counts characters, so a
// prefix is at most four times BodyPrefix bytes.
var bodyPrefixSQL = strconv.Itoa(BodyPrefix)

// TimelineKinds lists the kinds in filter order.
var TimelineKinds = []string{KindWebhook, KindStaff, KindLink}

// TimelineCursor is a position in each source: the id of the last entry
// shown (paging back) or seen (live). 0 means "none yet".
type TimelineCursor struct {
	Event, Audit, Link int64
}

// IsZero reports whether no source has a position.
func (c TimelineCursor) IsZero() bool { return c == TimelineCursor{} }

// String encodes c for a URL or an SSE id: "e12.a3.l0" (also when zero:
// the live stream tells "from the start" from "no position given").
func (c TimelineCursor) String() string {
	return "e" + strconv.FormatInt(c.Event, 10) + ".a" + strconv.FormatInt(c.Audit, 10) + ".l" + strconv.FormatInt(c.Link, 10)
}

// ParseTimelineCursor decodes TimelineCursor.String; "" gives the zero
// cursor.
func ParseTimelineCursor(s string) (TimelineCursor, error) {
	var c TimelineCursor
	if s == "" {
		return c, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return c, ErrBadCursor
	}
	for i, dst := range []*int64{&c.Event, &c.Audit, &c.Link} {
		p := parts[i]
		if len(p) < 2 || p[0] != "eal"[i] {
			return c, ErrBadCursor
		}
		n, err := strconv.ParseInt(p[1:], 10, 64)
		if err != nil || n < 0 {
			return c, ErrBadCursor
		}
		*dst = n
	}
	return c, nil
}

// TimelineQuery selects a timeline: of one account or one end user.
type TimelineQuery struct {
	AccountID string
	EndUserID string
	// Kinds keeps only these kinds; empty means all.
	Kinds []string
	// Before pages back: entries older than these positions.
	Before TimelineCursor
	// Limit is the page size; 0 means 50.
	Limit int
	// Screens includes the Link events that only say the user moved to
	// another screen (screen_transition): noise unless someone asks.
	Screens bool
}

// quietLinkEvents are the Link events a timeline leaves out unless asked
// (TimelineQuery.Screens).
var quietLinkEvents = []string{LinkEventScreenTransition}

// Validate refuses unknown kinds.
func (q TimelineQuery) Validate() error {
	for _, k := range q.Kinds {
		if !oneOf(k, TimelineKinds) {
			return FieldErrors{"kind": "Choose webhook, staff or link."}
		}
	}
	return nil
}

func (q TimelineQuery) wants(kind string) bool {
	return len(q.Kinds) == 0 || oneOf(kind, q.Kinds)
}

// TimelineEntry is one line of a timeline. Which fields are set depends on
// Kind.
type TimelineEntry struct {
	Kind string
	// ID is the row id within its source.
	ID int64
	// At is when it happened: receive time of a webhook event, time of a
	// staff action or Link event.
	At time.Time

	// Webhook events.
	EventID       string
	Event         string
	Outcome       string
	OccurredAt    time.Time
	DeliveryCount int
	AccountID     string
	EndUserID     string
	LinkTokenID   string
	// Body is the raw webhook body (webhook) or the detail JSON (staff,
	// link). A webhook body is read up to BodyPrefix bytes: BodySize says
	// how long it is.
	Body     string
	BodySize int
	// Origin is OriginReconciled for a webhook event a reconcile wrote from
	// the API (it was not received).
	Origin string

	// Staff actions and Link events: Action is the audit action or the
	// Link event's name.
	Action     string
	ActorEmail string
	// TokenID is Linkdesk's id of the launch link (Link events).
	TokenID string
	// CampaignID and CampaignName: the campaign whose launch link the
	// entry is about (Link events, and webhooks naming a Pinwheel token a
	// campaign link minted); 0 and "" otherwise.
	CampaignID   int64
	CampaignName string
}

// TimelinePage is one page of a timeline.
type TimelinePage struct {
	Entries []TimelineEntry
	// Next pages back; zero when there is nothing older.
	Next TimelineCursor
	// Latest is the newest position of each source when the page was read:
	// the live stream continues from it.
	Latest TimelineCursor
}

// timelineRefs resolves the query's subject: the events ref column and
// value, and the audit targets.
type timelineRefs struct {
	eventCol  string
	ref       int64
	targets   [][2]string // (target_type, target_id)
	accountID []string    // accounts whose Link events belong here
	screens   bool        // include screen changes (TimelineQuery.Screens)
}

func (s *Store) resolveTimeline(ctx context.Context, tx *sql.Tx, q TimelineQuery) (timelineRefs, error) {
	r := timelineRefs{screens: q.Screens}
	switch {
	case q.AccountID != "":
		r.eventCol = "account_ref"
		if err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE account_id = ?`, q.AccountID).Scan(&r.ref); err != nil {
			return r, notFound(err)
		}
		r.targets = [][2]string{{"account", q.AccountID}}
		r.accountID = []string{q.AccountID}
		if err := s.addTokenTargets(ctx, tx, &r); err != nil {
			return r, err
		}
		return r, addDecisionTargets(ctx, tx, &r, `SELECT DISTINCT decision_id FROM underwriting_decision_items WHERE account_id = ?
ORDER BY decision_id DESC LIMIT 200`, q.AccountID)
	case q.EndUserID != "":
		r.eventCol = "end_user_ref"
		if err := tx.QueryRowContext(ctx, `SELECT id FROM end_users WHERE end_user_id = ?`, q.EndUserID).Scan(&r.ref); err != nil {
			return r, notFound(err)
		}
		r.targets = [][2]string{{"end_user", q.EndUserID}, {"customer", q.EndUserID}}
		rows, err := tx.QueryContext(ctx, `SELECT account_id FROM accounts WHERE end_user_ref = ? ORDER BY id LIMIT 200`, r.ref)
		if err != nil {
			return r, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return r, err
			}
			r.targets = append(r.targets, [2]string{"account", id})
			r.accountID = append(r.accountID, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return r, err
		}
		if err := s.addTokenTargets(ctx, tx, &r); err != nil {
			return r, err
		}
		return r, addDecisionTargets(ctx, tx, &r, `SELECT id FROM underwriting_decisions WHERE end_user_id = ? ORDER BY id DESC LIMIT 200`, q.EndUserID)
	}
	return r, ErrNotFound
}

// addDecisionTargets adds the underwriting decisions about the subject
// (decisions.go): each is audited with itself as the target, and shows on
// the timeline of every account it was bound to and of the end user.
func addDecisionTargets(ctx context.Context, tx *sql.Tx, r *timelineRefs, query, id string) error {
	rows, err := tx.QueryContext(ctx, query, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return err
		}
		r.targets = append(r.targets, [2]string{"underwriting_decision", strconv.FormatInt(d, 10)})
	}
	return rows.Err()
}

// addTokenTargets adds the launch links made for the subject's accounts:
// staff actions on them (created, minted, revoked) are audited with the
// link as their target.
func (s *Store) addTokenTargets(ctx context.Context, tx *sql.Tx, r *timelineRefs) error {
	for _, acc := range r.accountID {
		rows, err := tx.QueryContext(ctx, `SELECT token_id FROM link_tokens WHERE account_id = ? ORDER BY id DESC LIMIT 200`, acc)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			r.targets = append(r.targets, [2]string{"link_token", id})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Timeline returns a page of an account's or end user's timeline, newest
// first, or ErrNotFound when the subject does not exist.
func (s *Store) Timeline(ctx context.Context, q TimelineQuery) (TimelinePage, error) {
	if err := q.Validate(); err != nil {
		return TimelinePage{}, err
	}
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 50
	}
	var pg TimelinePage
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		r, err := s.resolveTimeline(ctx, tx, q)
		if err != nil {
			return err
		}
		if pg.Latest, err = s.latestPositions(ctx, tx, q, r); err != nil {
			return err
		}
		var streams [][]TimelineEntry
		if q.wants(KindWebhook) {
			// The first page stops where its live stream starts (Latest):
			// an event above it arrives through the stream, not twice.
			bound := before(q.Before.Event)
			if q.Before.Event == 0 {
				bound = pg.Latest.Event + 1
			}
			es, err := s.timelineEvents(ctx, tx, r, "id < ?", bound, "DESC", q.Limit+1)
			if err != nil {
				return err
			}
			streams = append(streams, es)
		}
		if q.wants(KindStaff) {
			as, err := s.timelineAudit(ctx, tx, r, "id < ?", before(q.Before.Audit), "DESC", q.Limit+1)
			if err != nil {
				return err
			}
			streams = append(streams, as)
		}
		if q.wants(KindLink) {
			ls, err := s.timelineLinks(ctx, tx, r, "id < ?", before(q.Before.Link), "DESC", q.Limit+1)
			if err != nil {
				return err
			}
			streams = append(streams, ls)
		}
		pg.Entries, pg.Next = mergeNewestFirst(streams, q.Limit, q.Before)
		return nil
	})
	if err != nil {
		return TimelinePage{}, fmt.Errorf("db: timeline: %w", err)
	}
	return pg, nil
}

// before turns a "none yet" position into an unbounded one.
func before(id int64) int64 {
	if id <= 0 {
		return 1 << 62
	}
	return id
}

// mergeNewestFirst merges streams (each newest first in its own id order)
// by time, newest first, up to limit entries, and returns the cursor of the
// next page (zero when every stream is exhausted). A stream is consumed in
// its own order, so its cursor is simply the last id taken from it.
func mergeNewestFirst(streams [][]TimelineEntry, limit int, from TimelineCursor) ([]TimelineEntry, TimelineCursor) {
	next := from
	heads := make([]int, len(streams))
	var out []TimelineEntry
	for len(out) < limit {
		best := -1
		for i, st := range streams {
			if heads[i] >= len(st) {
				continue
			}
			if best < 0 || st[heads[i]].At.After(streams[best][heads[best]].At) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		e := streams[best][heads[best]]
		heads[best]++
		out = append(out, e)
		setPosition(&next, e)
	}
	for i, st := range streams {
		if heads[i] < len(st) {
			return out, next
		}
	}
	return out, TimelineCursor{}
}

func setPosition(c *TimelineCursor, e TimelineEntry) {
	switch e.Kind {
	case KindWebhook:
		c.Event = e.ID
	case KindStaff:
		c.Audit = e.ID
	case KindLink:
		c.Link = e.ID
	}
}

// TimelineSince returns the entries that arrived after the positions in
// after, oldest first (at most limit per source, 0 meaning 200), and the
// new positions. The live stream polls it: each source is an index range
// above the last id seen, so a poll with nothing new costs a few index
// probes.
func (s *Store) TimelineSince(ctx context.Context, q TimelineQuery, after TimelineCursor, limit int) ([]TimelineEntry, TimelineCursor, error) {
	if err := q.Validate(); err != nil {
		return nil, after, err
	}
	if limit <= 0 {
		limit = 200
	}
	var out []TimelineEntry
	next := after
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		r, err := s.resolveTimeline(ctx, tx, q)
		if err != nil {
			return err
		}
		latest, err := s.latestPositions(ctx, tx, q, r)
		if err != nil {
			return err
		}
		type source struct {
			kind string
			pos  *int64
			top  int64
			read func(int64) ([]TimelineEntry, error)
		}
		sources := []source{
			{KindWebhook, &next.Event, latest.Event, func(id int64) ([]TimelineEntry, error) {
				return s.timelineEvents(ctx, tx, r, "id > ?", id, "ASC", limit)
			}},
			{KindStaff, &next.Audit, latest.Audit, func(id int64) ([]TimelineEntry, error) {
				return s.timelineAudit(ctx, tx, r, "id > ?", id, "ASC", limit)
			}},
			{KindLink, &next.Link, latest.Link, func(id int64) ([]TimelineEntry, error) {
				return s.timelineLinks(ctx, tx, r, "id > ?", id, "ASC", limit)
			}},
		}
		for _, src := range sources {
			if !q.wants(src.kind) || *src.pos >= src.top {
				continue
			}
			es, err := src.read(*src.pos)
			if err != nil {
				return err
			}
			read := len(es)
			// Only up to the top: above it an event may still commit
			// below one read now (events_horizon.go).
			for i, e := range es {
				if e.ID > src.top {
					es = es[:i]
					break
				}
			}
			for _, e := range es {
				*src.pos = e.ID
			}
			if read < limit || len(es) < read {
				// Everything up to the top was read (entries left out,
				// such as screen changes, included).
				*src.pos = src.top
			}
			out = append(out, es...)
		}
		return nil
	})
	if err != nil {
		return nil, after, fmt.Errorf("db: timeline since: %w", err)
	}
	sortOldestFirst(out)
	return out, next, nil
}

// sortOldestFirst orders live entries by time (insertion sort: a poll
// returns a handful).
func sortOldestFirst(es []TimelineEntry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].At.Before(es[j-1].At); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// TimelinePositions returns the newest position of each source of a
// timeline: where a live stream without a cursor starts.
func (s *Store) TimelinePositions(ctx context.Context, q TimelineQuery) (TimelineCursor, error) {
	var c TimelineCursor
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		r, err := s.resolveTimeline(ctx, tx, q)
		if err != nil {
			return err
		}
		c, err = s.latestPositions(ctx, tx, q, r)
		return err
	})
	if err != nil {
		return c, fmt.Errorf("db: timeline positions: %w", err)
	}
	return c, nil
}

// latestPositions returns the newest id of each source (0 when empty).
func (s *Store) latestPositions(ctx context.Context, tx *sql.Tx, q TimelineQuery, r timelineRefs) (TimelineCursor, error) {
	var c TimelineCursor
	// Not past an event that may still commit below it (events_horizon.go).
	if err := tx.QueryRowContext(ctx, `SELECT `+s.newestEventSQL(r.eventCol), r.ref).Scan(&c.Event); err != nil {
		return c, err
	}
	for _, t := range r.targets {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM audit_log WHERE target_type = ? AND target_id = ?`, t[0], t[1]).Scan(&id); err != nil {
			return c, err
		}
		c.Audit = max(c.Audit, id)
	}
	var err error
	c.Link, err = s.latestLinkPosition(ctx, tx, r)
	return c, err
}

// timelineEvents reads webhook events of the subject through the
// (account_ref, id) or (end_user_ref, id) index.
func (s *Store) timelineEvents(ctx context.Context, tx *sql.Tx, r timelineRefs, bound string, id int64, dir string, limit int) ([]TimelineEntry, error) {
	rows, err := tx.QueryContext(ctx, timelineEventsSQL(r.eventCol, bound, dir), r.ref, id, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		e := TimelineEntry{Kind: KindWebhook}
		var occ, recv string
		if err := rows.Scan(&e.ID, &e.EventID, &e.Event, &e.Outcome, &occ, &recv, &e.DeliveryCount, &e.AccountID, &e.EndUserID, &e.LinkTokenID, &e.Body, &e.BodySize, &e.Origin,
			&e.CampaignID, &e.CampaignName); err != nil {
			return nil, err
		}
		e.OccurredAt, e.At = ParseTime(occ), ParseTime(recv)
		out = append(out, e)
	}
	return out, rows.Err()
}

// timelineEventsSQL reads one subject's events above or below an id, each
// body up to BodyPrefix.
func timelineEventsSQL(col, bound, dir string) string {
	return `SELECT e.id, e.event_id, e.event, COALESCE(e.outcome, ''), COALESCE(e.occurred_at, ''), e.received_at,
  e.delivery_count, COALESCE(a.account_id, ''), COALESCE(u.end_user_id, ''), COALESCE(l.link_token_id, ''),
  substr(e.body, 1, ` + bodyPrefixSQL + `), octet_length(e.body), COALESCE(e.origin, ''), COALESCE(cp.id, 0), COALESCE(cp.name, '')
FROM events e
LEFT JOIN accounts a ON a.id = e.account_ref
LEFT JOIN end_users u ON u.id = e.end_user_ref
LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref
LEFT JOIN link_token_mints mt ON mt.link_token_id = l.link_token_id
LEFT JOIN link_tokens lt ON lt.id = mt.link_ref
LEFT JOIN campaigns cp ON cp.id = lt.campaign_id
WHERE e.` + col + ` = ? AND e.` + bound + ` ORDER BY e.id ` + dir + ` LIMIT ?`
}

// timelineAudit reads staff actions on the subject through the
// (target_type, target_id, id) index; an end user's timeline includes the
// actions on their accounts.
func (s *Store) timelineAudit(ctx context.Context, tx *sql.Tx, r timelineRefs, bound string, id int64, dir string, limit int) ([]TimelineEntry, error) {
	var terms []string
	var args []any
	for _, t := range r.targets {
		terms = append(terms, "(target_type = ? AND target_id = ? AND "+bound+")")
		args = append(args, t[0], t[1], id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, at, action, actor_email, target_type, target_id, detail FROM audit_log
WHERE `+strings.Join(terms, " OR ")+` ORDER BY id `+dir+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		e := TimelineEntry{Kind: KindStaff}
		var at, tt, tid string
		if err := rows.Scan(&e.ID, &at, &e.Action, &e.ActorEmail, &tt, &tid, &e.Body); err != nil {
			return nil, err
		}
		e.At = ParseTime(at)
		switch tt {
		case "account":
			e.AccountID = tid
		case "end_user", "customer":
			e.EndUserID = tid
		case "link_token":
			e.TokenID = tid
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// timelineLinks reads the Link launch events (launch_events, written by
// the launch pages of On Demand Updates) of the subject's accounts through
// the (account_id, id) index.
func (s *Store) timelineLinks(ctx context.Context, tx *sql.Tx, r timelineRefs, bound string, id int64, dir string, limit int) ([]TimelineEntry, error) {
	if len(r.accountID) == 0 {
		return nil, nil
	}
	var terms []string
	var args []any
	for _, a := range r.accountID {
		terms = append(terms, "(e.account_id = ? AND e."+bound+")")
		args = append(args, a, id)
	}
	quiet := ""
	if !r.screens {
		quiet = " AND e.name NOT IN (" + sqlParams(len(quietLinkEvents)) + ")"
		for _, n := range quietLinkEvents {
			args = append(args, n)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT e.id, e.at, e.name, e.account_id, e.end_user_id, COALESCE(e.link_token_id, ''), t.token_id, e.payload,
  COALESCE(t.campaign_id, 0), COALESCE(cp.name, '')
FROM launch_events e JOIN link_tokens t ON t.id = e.link_ref LEFT JOIN campaigns cp ON cp.id = t.campaign_id
WHERE (`+strings.Join(terms, " OR ")+`)`+quiet+` ORDER BY e.id `+dir+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		e := TimelineEntry{Kind: KindLink}
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Action, &e.AccountID, &e.EndUserID, &e.LinkTokenID, &e.TokenID, &e.Body, &e.CampaignID, &e.CampaignName); err != nil {
			return nil, err
		}
		e.At = ParseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// latestLinkPosition is the newest launch event id of the subject's
// accounts.
func (s *Store) latestLinkPosition(ctx context.Context, tx *sql.Tx, r timelineRefs) (int64, error) {
	var top int64
	for _, a := range r.accountID {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM launch_events WHERE account_id = ?`, a).Scan(&id); err != nil {
			return 0, err
		}
		top = max(top, id)
	}
	return top, nil
}
