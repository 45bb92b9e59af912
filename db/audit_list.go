package db

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Reading the audit trail: /audit's filters (actor, action, target, time
// range), keyset pages newest first, and a count.
//
// A filter is answered as a merge of index ranges, one per value of each
// filtered dimension (an actor's rows of one action, a target's rows of
// one action, an action's rows …): each range is read newest first from
// the index made for it (migrations/040_audit_trail.sql) and stops after a
// page, so a page costs a few dozen index probes whatever the trail's size
// and however rare the match; the page's rows are then read by id. A time
// range becomes an id range (rows are appended in time order: see
// auditIDRange), so every range stays inside its index.

// AuditFilter selects audit rows. Nil slices mean any value; an empty
// non-nil slice matches nothing (an actor that names nobody).
type AuditFilter struct {
	// Before is a keyset cursor: only rows with a smaller id.
	Before int64
	// Limit is the page size; 0 means 50, at most 500.
	Limit int
	// Actors are actor_email values (see ResolveActors).
	Actors []string
	// Actions are action codes; Action adds one.
	Actions []string
	Action  string
	// TargetType and TargetID select what the rows concern (an id without
	// its type is checked row by row: give both).
	TargetType string
	TargetID   string
	// From and To bound the time: From <= at < To (zero: open).
	From, To time.Time
}

// actions is the filter's action set (nil: any).
func (f AuditFilter) actions() []string {
	if f.Action == "" {
		return f.Actions
	}
	return append(slices.Clone(f.Actions), f.Action)
}

// AuditPage is one page of a filtered trail.
type AuditPage struct {
	Rows []AuditEntry
	// More is set when older rows follow.
	More bool
	// Count is how many rows match the filter (every page, not just this
	// one); when CountCapped it is a lower bound.
	Count       int64
	CountCapped bool
}

// auditCountCap bounds the work of counting a combined filter: past it the
// page says "more than".
const auditCountCap = 10000

// maxAuditStreams bounds the index ranges of one filter (actors × actions).
const maxAuditStreams = 64

// auditStream is one index range: conditions that match an index prefix,
// and conditions checked on the rows it yields.
type auditStream struct {
	where []string
	args  []any
}

// auditPlan is a filter turned into streams, with the bounds every stream
// shares.
type auditPlan struct {
	streams []auditStream
	post    []string
	postArg []any
	lo, hi  int64 // id bounds from the time range (0: open)
	empty   bool  // nothing can match
}

// plan builds the streams of f (see the top of this file). Which index a
// stream uses follows from its equality conditions: (target_type,
// target_id[, action], id), (actor_email[, action], id), (action, id),
// (target_type, id), or the primary key.
func (f AuditFilter) plan() auditPlan {
	var p auditPlan
	actions, actors := f.actions(), f.Actors
	if (actions != nil && len(actions) == 0) || (actors != nil && len(actors) == 0) {
		p.empty = true
		return p
	}
	actions, actors = sortedUniq(actions), sortedUniq(actors)
	each := func(col string, vals []string, base auditStream) []auditStream {
		if len(vals) == 0 {
			return []auditStream{base}
		}
		out := make([]auditStream, 0, len(vals))
		for _, v := range vals {
			out = append(out, auditStream{append(slices.Clone(base.where), col+" = ?"), append(slices.Clone(base.args), v)})
		}
		return out
	}
	in := func(col string, vals []string) {
		p.post = append(p.post, col+" IN ("+sqlParams(len(vals))+")")
		for _, v := range vals {
			p.postArg = append(p.postArg, v)
		}
	}
	if f.TargetID != "" && f.TargetType == "" {
		// A target id without its type (tests, old links): checked on the rows.
		p.post = append(p.post, "target_id = ?")
		p.postArg = append(p.postArg, f.TargetID)
		f.TargetID = ""
	}
	switch {
	case f.TargetID != "":
		p.streams = each("action", actions, auditStream{[]string{"target_type = ?", "target_id = ?"}, []any{f.TargetType, f.TargetID}})
		if len(actors) > 0 {
			in("actor_email", actors)
		}
	case len(actors) > 0 && len(actions) > 0 && len(actors)*len(actions) <= maxAuditStreams:
		for _, s := range each("actor_email", actors, auditStream{}) {
			p.streams = append(p.streams, each("action", actions, s)...)
		}
	case len(actors) > 0:
		p.streams = each("actor_email", actors, auditStream{})
		if len(actions) > 0 {
			in("action", actions)
		}
	case len(actions) > 0:
		p.streams = each("action", actions, auditStream{})
	case f.TargetType != "":
		p.streams = []auditStream{{[]string{"target_type = ?"}, []any{f.TargetType}}}
	default:
		p.streams = []auditStream{{}}
	}
	if f.TargetType != "" && f.TargetID == "" && (len(actors) > 0 || len(actions) > 0) {
		p.post = append(p.post, "target_type = ?")
		p.postArg = append(p.postArg, f.TargetType)
	}
	return p
}

// bound resolves the time range into the plan's id range, inside tx.
func (p *auditPlan) bound(ctx context.Context, tx queryer, f AuditFilter) error {
	var ok bool
	var err error
	p.lo, p.hi, ok, err = auditIDRange(ctx, tx, f.From, f.To)
	p.empty = p.empty || !ok
	return err
}

// auditIDRange turns a time range into the ids that hold it: the first row
// at or after from and the last row before to, found through the
// audit_log_at index. Rows are appended in time order (their times come
// from the Store's clock as they are written), so the ids between are the
// rows of the range; a clock set back would blur the edges by the rows
// written meanwhile. ok is false when no row can match; 0 leaves a side
// open.
func auditIDRange(ctx context.Context, q queryer, from, to time.Time) (lo, hi int64, ok bool, err error) {
	if !from.IsZero() {
		err := q.QueryRowContext(ctx, `SELECT id FROM audit_log WHERE at >= ? ORDER BY at, id LIMIT 1`, FormatTime(from)).Scan(&lo)
		if err == sql.ErrNoRows {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
	}
	if !to.IsZero() {
		err := q.QueryRowContext(ctx, `SELECT id FROM audit_log WHERE at < ? ORDER BY at DESC, id DESC LIMIT 1`, FormatTime(to)).Scan(&hi)
		if err == sql.ErrNoRows {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
	}
	if lo > 0 && hi > 0 && lo > hi {
		return 0, 0, false, nil
	}
	return lo, hi, true, nil
}

// streamSQL is stream s with the plan's bounds and checks, below before
// (0: no cursor).
func (p *auditPlan) streamSQL(s auditStream, before int64) (string, []any) {
	where := slices.Clone(s.where)
	args := slices.Clone(s.args)
	if before > 0 {
		where, args = append(where, "id < ?"), append(args, before)
	}
	if p.lo > 0 {
		where, args = append(where, "id >= ?"), append(args, p.lo)
	}
	if p.hi > 0 {
		where, args = append(where, "id <= ?"), append(args, p.hi)
	}
	where, args = append(where, p.post...), append(args, p.postArg...)
	if len(where) == 0 {
		where = []string{"1 = 1"}
	}
	return strings.Join(where, " AND "), args
}

// auditSelect reads whole rows with the names of the staff they mention.
const auditSelect = `SELECT a.id, a.at, COALESCE(a.actor_id, 0), a.actor_email, a.action, a.target_type, a.target_id, a.ip, a.user_agent,
  a.detail, a.prev_hash, a.hash, COALESCE(sa.name, ''), COALESCE(st.name, '')
FROM audit_log a
LEFT JOIN staff sa ON sa.id = a.actor_id
LEFT JOIN staff st ON a.target_type = 'staff' AND CAST(st.id AS TEXT) = a.target_id`

func scanAuditFull(sc interface{ Scan(...any) error }) (AuditEntry, error) {
	var e AuditEntry
	var at string
	err := sc.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &e.Action, &e.TargetType, &e.TargetID, &e.IP, &e.UserAgent, &e.Detail,
		&e.PrevHash, &e.Hash, &e.ActorName, &e.TargetName)
	e.At = ParseTime(at)
	return e, err
}

// ListAudit returns audit rows newest first, at most f.Limit (default 50),
// and whether more rows follow.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, bool, error) {
	p, err := s.searchAudit(ctx, f, false)
	return p.Rows, p.More, err
}

// SearchAudit returns a page of the filtered trail with the count of every
// matching row.
func (s *Store) SearchAudit(ctx context.Context, f AuditFilter) (AuditPage, error) {
	return s.searchAudit(ctx, f, true)
}

func (s *Store) searchAudit(ctx context.Context, f AuditFilter, count bool) (AuditPage, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var page AuditPage
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		p := f.plan()
		if !p.empty {
			if err := p.bound(ctx, tx, f); err != nil {
				return err
			}
		}
		if p.empty {
			return nil
		}
		ids, err := p.ids(ctx, tx, f.Before, f.Limit+1)
		if err != nil {
			return err
		}
		if page.More = len(ids) > f.Limit; page.More {
			ids = ids[:f.Limit]
		}
		if page.Rows, err = auditRowsByID(ctx, tx, ids); err != nil {
			return err
		}
		if count {
			page.Count, page.CountCapped, err = p.count(ctx, tx, f)
		}
		return err
	})
	if err != nil {
		return AuditPage{}, fmt.Errorf("db: list audit: %w", err)
	}
	return page, nil
}

// ids reads up to limit ids of every stream below before and merges them,
// newest first.
func (p *auditPlan) ids(ctx context.Context, tx queryer, before int64, limit int) ([]int64, error) {
	var all []int64
	for _, st := range p.streams {
		where, args := p.streamSQL(st, before)
		rows, err := tx.QueryContext(ctx, `SELECT id FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			all = append(all, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(all, func(a, b int64) int { return int(b - a) })
	all = slices.Compact(all)
	if len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}

// auditRowsByID reads the rows with the given ids, newest first.
func auditRowsByID(ctx context.Context, tx *sql.Tx, ids []int64) ([]AuditEntry, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, auditSelect+` WHERE a.id IN (`+sqlParams(len(ids))+`) ORDER BY a.id DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]AuditEntry, 0, len(ids))
	for rows.Next() {
		e, err := scanAuditFull(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// count counts the rows of the filter: exactly from audit_action_counts
// when only actions (or nothing) are filtered, else by counting each
// stream's index range up to auditCountCap in all.
func (p *auditPlan) count(ctx context.Context, tx *sql.Tx, f AuditFilter) (int64, bool, error) {
	if f.Actors == nil && f.TargetType == "" && f.TargetID == "" && f.From.IsZero() && f.To.IsZero() {
		q, args := `SELECT COALESCE(SUM(n), 0) FROM audit_action_counts`, []any{}
		if acts := f.actions(); acts != nil {
			acts = sortedUniq(acts)
			q += ` WHERE action IN (` + sqlParams(len(acts)) + `)`
			for _, a := range acts {
				args = append(args, a)
			}
		}
		var n int64
		err := tx.QueryRowContext(ctx, q, args...).Scan(&n)
		return n, false, err
	}
	var total int64
	for _, st := range p.streams {
		where, args := p.streamSQL(st, 0)
		var n int64
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM audit_log WHERE `+where+` LIMIT ?) c`,
			append(args, auditCountCap+1-total)...).Scan(&n)
		if err != nil {
			return 0, false, err
		}
		if total += n; total > auditCountCap {
			return auditCountCap, true, nil
		}
	}
	return total, false, nil
}

// AuditEntryByID returns one row of the trail.
func (s *Store) AuditEntryByID(ctx context.Context, id int64) (AuditEntry, error) {
	e, err := scanAuditFull(s.r.QueryRowContext(ctx, auditSelect+` WHERE a.id = ?`, id))
	if err != nil {
		return AuditEntry{}, fmt.Errorf("db: audit row %d: %w", id, notFound(err))
	}
	return e, nil
}

// maxActorMatches bounds the actor_email values one actor term resolves to.
const maxActorMatches = 20

// ResolveActors returns the actor_email values a term names: staff whose
// email, email name (before the @) or name (or one word of it) is the term,
// case-insensitively, and actors recorded in the trail whose email is the
// term or starts with "term@" or "term (" (the console). A term that names
// nobody returns an empty, non-nil list: the filter then matches nothing.
func (s *Store) ResolveActors(ctx context.Context, terms ...string) ([]string, error) {
	out := []string{}
	staff, err := s.ListStaff(ctx)
	if err != nil {
		return nil, err
	}
	for _, term := range terms {
		t := strings.ToLower(strings.TrimSpace(term))
		if t == "" {
			continue
		}
		for _, st := range staff {
			local, _, _ := strings.Cut(st.Email, "@")
			if st.Email == t || local == t || strings.ToLower(st.Name) == t || slices.Contains(strings.Fields(strings.ToLower(st.Name)), t) {
				out = append(out, st.Email)
			}
		}
		out = append(out, t)
		for _, prefix := range []string{t + "@", t + " ("} {
			found, err := s.actorsWithPrefix(ctx, prefix)
			if err != nil {
				return nil, err
			}
			out = append(out, found...)
		}
	}
	out = sortedUniq(out)
	// Keep only actors the trail holds, so that a filter stays small.
	kept := out[:0]
	for _, e := range out {
		var one int
		err := s.r.QueryRowContext(ctx, `SELECT 1 FROM audit_log WHERE actor_email = ? LIMIT 1`, e).Scan(&one)
		if err == nil {
			kept = append(kept, e)
		} else if err != sql.ErrNoRows {
			return nil, fmt.Errorf("db: resolve actor: %w", err)
		}
	}
	if len(kept) > maxActorMatches {
		kept = kept[:maxActorMatches]
	}
	return kept, nil
}

// actorsWithPrefix lists the distinct actor_email values with prefix,
// seeking from one to the next in the (actor_email, id) index rather than
// reading every row.
func (s *Store) actorsWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	cur := prefix
	op := ">="
	for len(out) < maxActorMatches {
		var e string
		err := s.r.QueryRowContext(ctx, `SELECT actor_email FROM audit_log WHERE actor_email `+op+` ? AND actor_email < ? ORDER BY actor_email LIMIT 1`,
			cur, prefix+"\U0010FFFF").Scan(&e)
		if err == sql.ErrNoRows {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("db: resolve actor: %w", err)
		}
		out = append(out, e)
		cur, op = e, ">"
	}
	return out, nil
}

// ActionCount is an action code and how many rows hold it.
type ActionCount struct {
	Action string
	N      int64
}

// AuditActionCounts lists the actions the trail holds, with their counts.
func (s *Store) AuditActionCounts(ctx context.Context) ([]ActionCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT action, n FROM audit_action_counts WHERE n > 0 ORDER BY action`)
	if err != nil {
		return nil, fmt.Errorf("db: audit actions: %w", err)
	}
	defer rows.Close()
	var out []ActionCount
	for rows.Next() {
		var c ActionCount
		if err := rows.Scan(&c.Action, &c.N); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ResolveActions returns the action codes a pattern names: "GROUP.*" or
// "GROUP" is a group's catalogued actions; "PREFIX.*" every action (in the
// catalogue or in the trail) that starts with "PREFIX."; anything else the
// code itself.
func (s *Store) ResolveActions(ctx context.Context, patterns ...string) ([]string, error) {
	out := []string{}
	var seen []ActionCount
	for _, pat := range patterns {
		pat = strings.TrimSpace(pat)
		base, wild := strings.CutSuffix(pat, "*")
		base = strings.TrimSuffix(base, ".")
		if _, isGroup := AuditGroupOf(base); isGroup && (wild || base == pat) {
			out = append(out, ActionsOfGroup(base)...)
			if !wild {
				continue
			}
		}
		if !wild {
			out = append(out, pat)
			continue
		}
		if seen == nil {
			var err error
			if seen, err = s.AuditActionCounts(ctx); err != nil {
				return nil, err
			}
		}
		for _, a := range AuditActions {
			if strings.HasPrefix(a.Code, base+".") || base == "" {
				out = append(out, a.Code)
			}
		}
		for _, c := range seen {
			if strings.HasPrefix(c.Action, base+".") || base == "" {
				out = append(out, c.Action)
			}
		}
	}
	return sortedUniq(out), nil
}
