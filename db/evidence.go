package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Evidence packs: what Linkdesk holds about an account or an end user,
// read for the evidence package (which writes the ZIP): the webhooks
// Pinwheel sent with their signatures and times, the data snapshots, the
// launch links and their lifecycle, the staff actions touching the subject
// with their chain hashes, and a timeline of all of it. Building a pack is
// audited before anything is read, so the chain head the pack names is its
// own audit row.

// ActionEvidenceExported is the audit action of an evidence pack.
const ActionEvidenceExported = "evidence.exported"

// Evidence subject kinds.
const (
	SubjectAccount = "account"
	SubjectEndUser = "end_user"
)

// Evidence is a pack being built: its subject resolved, and the chain head
// at its start (the pack's own audit row).
type Evidence struct {
	Kind string
	ID   string
	// EndUserID is the subject's end user ("" for an account without one).
	EndUserID string
	// Accounts are the accounts covered: the account, or the end user's.
	Accounts []string
	Head     ChainHead
	// KeyedFrom is the first keyed row of the trail (rows before it carry
	// the unkeyed hash).
	KeyedFrom   int64
	GeneratedAt time.Time
	By          Actor

	accountRefs []int64
	endUserRef  int64
}

// StartEvidence resolves the subject (ErrNotFound for one Linkdesk knows
// nothing about) and records the pack in the audit trail.
func (s *Store) StartEvidence(ctx context.Context, a Actor, kind, id string) (*Evidence, error) {
	ev := &Evidence{Kind: kind, ID: id, By: a}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		switch kind {
		case SubjectAccount:
			var ref int64
			var eu sql.NullString
			var euRef sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT a.id, u.end_user_id, u.id FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.account_id = ?`, id).
				Scan(&ref, &eu, &euRef)
			if err != nil {
				return notFound(err)
			}
			ev.Accounts, ev.accountRefs, ev.EndUserID = []string{id}, []int64{ref}, eu.String
		case SubjectEndUser:
			sc, err := scopeOf(ctx, tx, id)
			if err != nil {
				return err
			}
			ev.Accounts, ev.accountRefs, ev.endUserRef, ev.EndUserID = sc.accountIDs, sc.accounts, sc.endUserRef, id
		default:
			return fmt.Errorf("unknown subject %q", kind)
		}
		if err := s.appendAudit(ctx, tx, a, ActionEvidenceExported, kind, id, map[string]any{"accounts": ev.Accounts}); err != nil {
			return err
		}
		var err error
		if ev.Head, err = chainHead(ctx, tx); err != nil {
			return err
		}
		ev.KeyedFrom, err = keyedFrom(ctx, tx)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("db: evidence of %s %s: %w", kind, id, err)
	}
	ev.GeneratedAt = ev.Head.At
	return ev, nil
}

// eventsWhere selects the subject's events: its end user's and its
// accounts'.
func (ev *Evidence) eventsWhere() (string, []any) {
	var terms []string
	var args []any
	if ev.endUserRef != 0 {
		terms, args = append(terms, "e.end_user_ref = ?"), append(args, ev.endUserRef)
	}
	if len(ev.accountRefs) > 0 {
		terms = append(terms, "e.account_ref IN ("+sqlParams(len(ev.accountRefs))+")")
		for _, r := range ev.accountRefs {
			args = append(args, r)
		}
	}
	if len(terms) == 0 {
		return "0 = 1", nil
	}
	return "(" + strings.Join(terms, " OR ") + ")", args
}

// EvidenceWebhook is a stored webhook as a pack shows it.
type EvidenceWebhook struct {
	Event
	// BodyRemoved is "retention" or "erasure" when the body was replaced
	// by what identifies it, at BodyRemovedAt.
	BodyRemoved   string
	BodyRemovedAt time.Time
}

// evidenceChunk is how many rows one read of a pack returns.
const evidenceChunk = 1000

// EvidenceWebhooks calls fn for each of the subject's webhooks, oldest
// first, in keyset chunks.
func (s *Store) EvidenceWebhooks(ctx context.Context, ev *Evidence, fn func(EvidenceWebhook) error) error {
	cond, args := ev.eventsWhere()
	after := int64(0)
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT `+eventColumns+`, COALESCE(e.body_removed, ''), COALESCE(e.body_removed_at, '')`+eventFrom+
			` WHERE `+cond+` AND e.id > ? ORDER BY e.id LIMIT ?`, append(append([]any{}, args...), after, evidenceChunk)...)
		if err != nil {
			return fmt.Errorf("db: evidence webhooks: %w", err)
		}
		var batch []EvidenceWebhook
		for rows.Next() {
			var w EvidenceWebhook
			var removedAt string
			var err error
			w.Event, err = scanEvent(scanWith(rows, &w.BodyRemoved, &removedAt))
			if err != nil {
				rows.Close()
				return fmt.Errorf("db: evidence webhooks: %w", err)
			}
			w.BodyRemovedAt = ParseTime(removedAt)
			batch = append(batch, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: evidence webhooks: %w", err)
		}
		for _, w := range batch {
			if err := fn(w); err != nil {
				return err
			}
			after = w.ID
		}
		if len(batch) < evidenceChunk {
			return nil
		}
	}
}

// scanWith is a scanner that appends extra destinations to every Scan.
type extraScanner struct {
	sc    interface{ Scan(...any) error }
	extra []any
}

func (x extraScanner) Scan(dst ...any) error { return x.sc.Scan(append(dst, x.extra...)...) }

func scanWith(sc interface{ Scan(...any) error }, extra ...any) extraScanner {
	return extraScanner{sc, extra}
}

// EvidenceSnapshot is a data snapshot as a pack shows it.
type EvidenceSnapshot struct {
	Snapshot
	ErasedAt time.Time
}

// EvidenceSnapshots calls fn for each of the subject's data snapshots,
// oldest first.
func (s *Store) EvidenceSnapshots(ctx context.Context, ev *Evidence, fn func(EvidenceSnapshot) error) error {
	if len(ev.accountRefs) == 0 {
		return nil
	}
	args := make([]any, 0, len(ev.accountRefs)+2)
	for _, r := range ev.accountRefs {
		args = append(args, r)
	}
	after := int64(0)
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT d.id, a.account_id, d.kind, d.fetched_at, COALESCE(d.refreshed_at, ''), COALESCE(e.event_id, ''),
  d.body_sha256, d.body, COALESCE(d.erased_at, '')
FROM data_snapshots d JOIN accounts a ON a.id = d.account_ref LEFT JOIN events e ON e.id = d.source_event_ref
WHERE d.account_ref IN (`+sqlParams(len(ev.accountRefs))+`) AND d.id > ? ORDER BY d.id LIMIT ?`, append(append([]any{}, args...), after, evidenceChunk)...)
		if err != nil {
			return fmt.Errorf("db: evidence snapshots: %w", err)
		}
		var batch []EvidenceSnapshot
		for rows.Next() {
			var sn EvidenceSnapshot
			var fetched, refreshed, erased string
			if err := rows.Scan(&sn.ID, &sn.AccountID, &sn.Kind, &fetched, &refreshed, &sn.SourceEventID, &sn.BodySHA256, &sn.Body, &erased); err != nil {
				rows.Close()
				return fmt.Errorf("db: evidence snapshots: %w", err)
			}
			sn.FetchedAt, sn.RefreshedAt, sn.ErasedAt = ParseTime(fetched), ParseTime(refreshed), ParseTime(erased)
			batch = append(batch, sn)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: evidence snapshots: %w", err)
		}
		for _, sn := range batch {
			if err := fn(sn); err != nil {
				return err
			}
			after = sn.ID
		}
		if len(batch) < evidenceChunk {
			return nil
		}
	}
}

// EvidenceLinks returns the launch links of the subject's accounts with
// their mints, launch events, webhooks and lifecycle, oldest first.
func (s *Store) EvidenceLinks(ctx context.Context, ev *Evidence) ([]LinkDetail, error) {
	var out []LinkDetail
	for _, a := range ev.Accounts {
		var before int64
		var ids []string
		for {
			links, next, err := s.ListLinks(ctx, LinkFilter{AccountID: a, Before: before, Limit: 200})
			if err != nil {
				return nil, err
			}
			for _, l := range links {
				ids = append(ids, l.TokenID)
			}
			if next == 0 {
				break
			}
			before = next
		}
		for i := len(ids) - 1; i >= 0; i-- {
			d, err := s.LinkByID(ctx, ids[i])
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// evidenceTargets are the audit targets of the subject: its accounts, its
// end user and customer record, and its accounts' launch links.
func (s *Store) evidenceTargets(ctx context.Context, ev *Evidence) ([][2]string, error) {
	var t [][2]string
	for _, a := range ev.Accounts {
		t = append(t, [2]string{"account", a})
	}
	if ev.EndUserID != "" {
		t = append(t, [2]string{"end_user", ev.EndUserID}, [2]string{"customer", ev.EndUserID})
	}
	for _, a := range ev.Accounts {
		rows, err := s.r.QueryContext(ctx, `SELECT token_id FROM link_tokens WHERE account_id = ? ORDER BY id`, a)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			t = append(t, [2]string{"link_token", id})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	// Underwriting decisions bound to its data, or made about its end user.
	var ids []any
	cond := "0 = 1"
	if len(ev.Accounts) > 0 {
		cond = "id IN (SELECT decision_id FROM underwriting_decision_items WHERE account_id IN (" + sqlParams(len(ev.Accounts)) + "))"
		for _, a := range ev.Accounts {
			ids = append(ids, a)
		}
	}
	if ev.EndUserID != "" {
		cond += " OR end_user_id = ?"
		ids = append(ids, ev.EndUserID)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM underwriting_decisions WHERE `+cond+` ORDER BY id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		t = append(t, [2]string{"underwriting_decision", strconv.FormatInt(id, 10)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// EvidenceStaffActions calls fn for each audit row touching the subject,
// up to the pack's chain head, oldest first.
func (s *Store) EvidenceStaffActions(ctx context.Context, ev *Evidence, fn func(AuditEntry) error) error {
	targets, err := s.evidenceTargets(ctx, ev)
	if err != nil {
		return fmt.Errorf("db: evidence staff actions: %w", err)
	}
	var terms []string
	var args []any
	for _, t := range targets {
		terms = append(terms, "(a.target_type = ? AND a.target_id = ?)")
		args = append(args, t[0], t[1])
	}
	after := int64(0)
	for {
		rows, err := s.r.QueryContext(ctx, auditSelect+` WHERE (`+strings.Join(terms, " OR ")+`) AND a.id > ? AND a.id <= ? ORDER BY a.id LIMIT ?`,
			append(append([]any{}, args...), after, ev.Head.Seq, evidenceChunk)...)
		if err != nil {
			return fmt.Errorf("db: evidence staff actions: %w", err)
		}
		var batch []AuditEntry
		for rows.Next() {
			e, err := scanAuditFull(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("db: evidence staff actions: %w", err)
			}
			batch = append(batch, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: evidence staff actions: %w", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
			after = e.ID
		}
		if len(batch) < evidenceChunk {
			return nil
		}
	}
}

// TimelineLine is one line of a pack's timeline.
type TimelineLine struct {
	At time.Time
	// Source is "webhook", "staff" or "link".
	Source    string
	Name      string
	Outcome   string
	Reference string
	AccountID string
	// Staff is the audit row of a staff line (for its sentence).
	Staff *AuditEntry
}

// EvidenceTimeline calls fn for every webhook, staff action and launch
// event of the subject in time order (webhooks by when they were
// received). SQLite sorts the subject's rows (a subject holds thousands at
// most).
func (s *Store) EvidenceTimeline(ctx context.Context, ev *Evidence, fn func(TimelineLine) error) error {
	targets, err := s.evidenceTargets(ctx, ev)
	if err != nil {
		return fmt.Errorf("db: evidence timeline: %w", err)
	}
	econd, eargs := ev.eventsWhere()
	var terms []string
	var targs []any
	for _, t := range targets {
		terms = append(terms, "(target_type = ? AND target_id = ?)")
		targs = append(targs, t[0], t[1])
	}
	lcond, largs := "0 = 1", []any{}
	if len(ev.Accounts) > 0 {
		lcond = "l.account_id IN (" + sqlParams(len(ev.Accounts)) + ")"
		for _, a := range ev.Accounts {
			largs = append(largs, a)
		}
	}
	q := `SELECT e.received_at AS at, 'webhook', e.event, COALESCE(e.outcome, ''), e.event_id, COALESCE(a.account_id, ''), 0 AS seq FROM events e
  LEFT JOIN accounts a ON a.id = e.account_ref WHERE ` + econd + `
UNION ALL SELECT at, 'staff', action, '', CAST(id AS TEXT), '', id FROM audit_log WHERE (` + strings.Join(terms, " OR ") + `) AND id <= ?
UNION ALL SELECT l.at, 'link', l.name, '', t.token_id, l.account_id, 0 FROM launch_events l JOIN link_tokens t ON t.id = l.link_ref WHERE ` + lcond + `
ORDER BY 1, 2, 5`
	args := append(append(append(append([]any{}, eargs...), targs...), ev.Head.Seq), largs...)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("db: evidence timeline: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l TimelineLine
		var at string
		var seq int64
		if err := rows.Scan(&at, &l.Source, &l.Name, &l.Outcome, &l.Reference, &l.AccountID, &seq); err != nil {
			return fmt.Errorf("db: evidence timeline: %w", err)
		}
		l.At = ParseTime(at)
		if seq > 0 {
			e, err := s.AuditEntryByID(ctx, seq)
			if err != nil {
				return err
			}
			l.Staff = &e
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}
