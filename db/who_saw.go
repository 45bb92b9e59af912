package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Who saw personal data: the "Who saw this" panel of an account or an end
// user (Reveals of its identity fields, events exports whose rows included
// it, exports of its paystubs, exports of campaign members that held it, evidence packs built of it, erasures), and the report of Reveals by
// person and period. Both are read from the audit trail: the trail is the
// record of access.

// Kinds of access.
const (
	SawReveal   = "reveal"
	SawExport   = "export"
	SawEvidence = "evidence"
	SawErasure  = "erasure"
	// SawPayExport is an export of paystubs and shifts.
	SawPayExport = "pay_export"
	// SawCampaignExport is an export of a campaign's members (names and
	// emails from customer records) that held one of the subject's
	// accounts.
	SawCampaignExport = "campaign_export"
)

// Sighting is one access to a subject's personal data.
type Sighting struct {
	Kind       string
	At         time.Time
	AuditID    int64
	ActorEmail string
	ActorName  string
	// AccountID is the account revealed or packed ("" for an end user's
	// pack and for exports).
	AccountID string
	// Fields are the fields a Reveal showed.
	Fields []string
	// Reason is the reason given (Reveal, erasure).
	Reason string
	// Format and Filter describe an export.
	Format string
	Filter map[string]string
	// CampaignID is the campaign whose members were exported.
	CampaignID int64
}

// WhoSawQuery names the subject: an account or an end user.
type WhoSawQuery struct {
	AccountID string
	EndUserID string
	// Limit is how many sightings; 0 means 20.
	Limit int
}

// whoSawExportScan bounds the events exports examined per panel: each is
// checked against the subject's events, newest first.
const whoSawExportScan = 200

// WhoSaw lists the newest accesses to a subject's personal data and
// whether there are more (the audit page, filtered, has them all).
func (s *Store) WhoSaw(ctx context.Context, q WhoSawQuery) ([]Sighting, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 20
	}
	var out []Sighting
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		accounts, endUser, err := whoSawSubject(ctx, tx, q)
		if err != nil {
			return err
		}
		var targets [][2]string
		for _, a := range accounts {
			targets = append(targets, [2]string{"account", a})
		}
		if endUser != "" {
			targets = append(targets, [2]string{"end_user", endUser})
		}
		for _, t := range targets {
			for _, action := range []string{ActionPIIRevealed, ActionEvidenceExported, ActionEndUserErased, ActionPayItemsExported} {
				rows, err := tx.QueryContext(ctx, auditSelect+` WHERE a.target_type = ? AND a.target_id = ? AND a.action = ? ORDER BY a.id DESC LIMIT ?`,
					t[0], t[1], action, q.Limit+1)
				if err != nil {
					return err
				}
				for rows.Next() {
					e, err := scanAuditFull(rows)
					if err != nil {
						rows.Close()
						return err
					}
					out = append(out, sightingOf(e))
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
		}
		exports, err := s.exportsIncluding(ctx, tx, accounts, endUser, q.AccountID == "", q.Limit+1)
		if err != nil {
			return err
		}
		out = append(out, exports...)
		members, err := campaignExportsIncluding(ctx, tx, accounts, q.Limit+1)
		out = append(out, members...)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("db: who saw: %w", err)
	}
	slices.SortFunc(out, func(a, b Sighting) int { return int(b.AuditID - a.AuditID) })
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	return out, more, nil
}

// whoSawSubject resolves the query into the account ids and the end user
// it covers: an account and its end user's packs, or an end user and all
// their accounts.
func whoSawSubject(ctx context.Context, tx *sql.Tx, q WhoSawQuery) ([]string, string, error) {
	if q.AccountID != "" {
		var eu string
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(u.end_user_id, '') FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE a.account_id = ?`,
			q.AccountID).Scan(&eu)
		if err != nil && err != sql.ErrNoRows {
			return nil, "", err
		}
		return []string{q.AccountID}, eu, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT a.account_id FROM accounts a JOIN end_users u ON u.id = a.end_user_ref WHERE u.end_user_id = ? ORDER BY a.id`, q.EndUserID)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, q.EndUserID, rows.Err()
}

// sightingOf reads a Reveal, evidence pack or erasure row.
func sightingOf(e AuditEntry) Sighting {
	sg := Sighting{At: e.At, AuditID: e.ID, ActorEmail: e.ActorEmail, ActorName: e.ActorName}
	var d struct {
		Fields []string `json:"fields"`
		Reason string   `json:"reason"`
	}
	json.Unmarshal([]byte(e.Detail), &d)
	sg.Fields, sg.Reason = d.Fields, d.Reason
	switch e.Action {
	case ActionPIIRevealed:
		sg.Kind, sg.AccountID = SawReveal, e.TargetID
	case ActionEvidenceExported:
		sg.Kind = SawEvidence
		if e.TargetType == "account" {
			sg.AccountID = e.TargetID
		}
	case ActionEndUserErased:
		sg.Kind = SawErasure
	case ActionPayItemsExported:
		var f struct {
			Format string `json:"format"`
		}
		json.Unmarshal([]byte(e.Detail), &f)
		sg.Kind, sg.Format = SawPayExport, f.Format
		if e.TargetType == "account" {
			sg.AccountID = e.TargetID
		}
	}
	return sg
}

// campaignExportsIncluding returns the exports of the members of the
// campaigns the accounts belong to that held them: made after the member
// was frozen into the campaign, with no group filter or the member's
// group (a stage filter is not judged: the member's stage then is not
// kept, so such an export is listed as one that may have held it). At most
// limit per account and campaign, through the members' account index and
// the trail's target index.
func campaignExportsIncluding(ctx context.Context, tx *sql.Tx, accounts []string, limit int) ([]Sighting, error) {
	type membership struct {
		campaign int64
		grp      string
		frozen   time.Time
	}
	var ms []membership
	for _, a := range accounts {
		rows, err := tx.QueryContext(ctx, `SELECT m.campaign_id, m.grp, m.frozen_at FROM campaign_members m
WHERE m.account_ref = (SELECT id FROM accounts WHERE account_id = ?) ORDER BY m.campaign_id`, a)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var m membership
			var frozen string
			if err := rows.Scan(&m.campaign, &m.grp, &frozen); err != nil {
				rows.Close()
				return nil, err
			}
			m.frozen = ParseTime(frozen)
			ms = append(ms, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var out []Sighting
	for _, m := range ms {
		rows, err := tx.QueryContext(ctx, auditSelect+` WHERE a.target_type = 'campaign' AND a.target_id = ? AND a.action = ? ORDER BY a.id DESC LIMIT ?`,
			strconv.FormatInt(m.campaign, 10), ActionCampaignMembersExport, limit)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			e, err := scanAuditFull(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			var d struct {
				Format string `json:"format"`
				Group  string `json:"group"`
				Stage  string `json:"stage"`
			}
			json.Unmarshal([]byte(e.Detail), &d)
			if e.At.Before(m.frozen) || (d.Group != "" && d.Group != m.grp) {
				continue
			}
			filter := map[string]string{}
			if d.Group != "" {
				filter["group"] = d.Group
			}
			if d.Stage != "" {
				filter["stage"] = d.Stage
			}
			out = append(out, Sighting{Kind: SawCampaignExport, At: e.At, AuditID: e.ID, ActorEmail: e.ActorEmail, ActorName: e.ActorName,
				Format: d.Format, Filter: filter, CampaignID: m.campaign})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// exportsIncluding returns the events exports, newest first, whose rows
// included an event of the subject: the export's recorded filter, with the
// subject put in, matches an event received before the export.
func (s *Store) exportsIncluding(ctx context.Context, tx *sql.Tx, accounts []string, endUser string, byEndUser bool, limit int) ([]Sighting, error) {
	if len(accounts) == 0 && endUser == "" {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, auditSelect+` WHERE a.action = ? ORDER BY a.id DESC LIMIT ?`, ActionEventsExported, whoSawExportScan)
	if err != nil {
		return nil, err
	}
	var exports []AuditEntry
	for rows.Next() {
		e, err := scanAuditFull(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		exports = append(exports, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Sighting
	for _, e := range exports {
		var d struct {
			Format string            `json:"format"`
			Filter map[string]string `json:"filter"`
		}
		json.Unmarshal([]byte(e.Detail), &d)
		included, err := s.exportIncluded(ctx, tx, d.Filter, accounts, endUser, byEndUser, e.At)
		if err != nil {
			return nil, err
		}
		if included {
			out = append(out, Sighting{Kind: SawExport, At: e.At, AuditID: e.ID, ActorEmail: e.ActorEmail, ActorName: e.ActorName,
				Format: d.Format, Filter: d.Filter})
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// exportIncluded reports whether an events export with filter f, made at
// at, held an event of the subject (the accounts, or with byEndUser the
// end user's events).
func (s *Store) exportIncluded(ctx context.Context, tx *sql.Tx, f map[string]string, accounts []string, endUser string, byEndUser bool, at time.Time) (bool, error) {
	base := EventQuery{Type: f["type"], Outcome: f["outcome"], LinkTokenID: f["link_token"], Status: f["status"],
		From: ParseTime(f["from"]), To: ParseTime(f["to"])}
	if a := f["account"]; a != "" && !slices.Contains(accounts, a) {
		return false, nil
	}
	if u := f["end_user"]; u != "" && u != endUser {
		return false, nil
	}
	var subjects []EventQuery
	switch {
	case f["account"] != "":
		q := base
		q.AccountID = f["account"]
		subjects = append(subjects, q)
	case byEndUser:
		q := base
		q.EndUserID = endUser
		subjects = append(subjects, q)
	default:
		for _, a := range accounts {
			q := base
			q.AccountID = a
			subjects = append(subjects, q)
		}
	}
	for _, q := range subjects {
		where, args, ok, err := s.eventWhere(ctx, tx, q)
		if err != nil || !ok {
			return false, err
		}
		where, args = append(where, "e.received_at <= ?"), append(args, FormatTime(at))
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM events e WHERE `+strings.Join(where, " AND ")+` LIMIT 1`, args...).Scan(&one)
		if err == nil {
			return true, nil
		}
		if err != sql.ErrNoRows {
			return false, err
		}
	}
	return false, nil
}

// RevealQuery selects Reveals for the report.
type RevealQuery struct {
	From, To time.Time
	// Actors are actor_email values (nil: anyone).
	Actors []string
	// EndUserID or AccountID narrows to one person's accounts.
	EndUserID string
	AccountID string
	// Limit is how many rows to list; 0 means 200.
	Limit int
}

// Reveal is one Reveal in the report.
type Reveal struct {
	AuditID    int64
	At         time.Time
	ActorEmail string
	ActorName  string
	AccountID  string
	EndUserID  string
	Fields     []string
	Reason     string
}

// RevealPerson sums one person's Reveals in the period.
type RevealPerson struct {
	ActorEmail, ActorName string
	Reveals               int64
	Accounts              int64
	WithoutReason         int64
	First, Last           time.Time
}

// RevealReport is the report of Reveals by person and period.
type RevealReport struct {
	People []RevealPerson
	Rows   []Reveal
	// Total is every Reveal matching; Rows may hold fewer (Limit).
	Total int64
	// Summarized is how many of the newest Reveals People sums: all of
	// them, or revealSummaryCap when there are more.
	Summarized int64
}

// revealSummaryCap bounds the Reveals the per-person summary reads.
const revealSummaryCap = 2000

// Reveals returns the report of Reveals matching q: per person (count,
// distinct accounts, how many without a reason, first and last) over the
// newest revealSummaryCap of them, the total, and the Reveals themselves,
// newest first. The period becomes an id range (auditIDRange), so every
// read stays inside an index range: the total is counted in the index, and
// only the summarized rows are read.
func (s *Store) Reveals(ctx context.Context, q RevealQuery) (RevealReport, error) {
	if q.Limit <= 0 {
		q.Limit = 200
	}
	var r RevealReport
	if q.Actors != nil && len(q.Actors) == 0 {
		return r, nil
	}
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		lo, hi, ok, err := auditIDRange(ctx, tx, q.From, q.To)
		if err != nil || !ok {
			return err
		}
		where, args := []string{"a.action = ?"}, []any{ActionPIIRevealed}
		if lo > 0 {
			where, args = append(where, "a.id >= ?"), append(args, lo)
		}
		if hi > 0 {
			where, args = append(where, "a.id <= ?"), append(args, hi)
		}
		if q.Actors != nil {
			where = append(where, "a.actor_email IN ("+sqlParams(len(q.Actors))+")")
			for _, e := range q.Actors {
				args = append(args, e)
			}
		}
		var accounts []string
		switch {
		case q.AccountID != "":
			accounts = []string{q.AccountID}
		case q.EndUserID != "":
			if accounts, _, err = whoSawSubject(ctx, tx, WhoSawQuery{EndUserID: q.EndUserID}); err != nil {
				return err
			}
			if len(accounts) == 0 {
				return nil
			}
		}
		if len(accounts) > 0 {
			where = append(where, "a.target_type = 'account'", "a.target_id IN ("+sqlParams(len(accounts))+")")
			for _, id := range accounts {
				args = append(args, id)
			}
		}
		cond := strings.Join(where, " AND ")
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_log a WHERE `+cond, args...).Scan(&r.Total); err != nil {
			return err
		}
		r.Summarized = min(r.Total, revealSummaryCap)
		rows, err := tx.QueryContext(ctx, `SELECT t.actor_email, COALESCE(MAX(sa.name), ''), COUNT(*), COUNT(DISTINCT t.target_id),
  SUM(CASE WHEN `+s.d.jsonText("t.detail", "$.reason")+` IS NULL THEN 1 ELSE 0 END), MIN(t.at), MAX(t.at)
FROM (SELECT a.actor_email, a.actor_id, a.target_id, a.detail, a.at FROM audit_log a WHERE `+cond+` ORDER BY a.id DESC LIMIT ?) t
LEFT JOIN staff sa ON sa.id = t.actor_id GROUP BY t.actor_email ORDER BY COUNT(*) DESC, t.actor_email`, append(append([]any{}, args...), revealSummaryCap)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var p RevealPerson
			var first, last string
			if err := rows.Scan(&p.ActorEmail, &p.ActorName, &p.Reveals, &p.Accounts, &p.WithoutReason, &first, &last); err != nil {
				rows.Close()
				return err
			}
			p.First, p.Last = ParseTime(first), ParseTime(last)
			r.People = append(r.People, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT a.id, a.at, a.actor_email, COALESCE(sa.name, ''), a.target_id, COALESCE(u.end_user_id, ''), a.detail
FROM audit_log a LEFT JOIN staff sa ON sa.id = a.actor_id
LEFT JOIN accounts ac ON ac.account_id = a.target_id LEFT JOIN end_users u ON u.id = ac.end_user_ref
WHERE `+cond+` ORDER BY a.id DESC LIMIT ?`, append(args, q.Limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v Reveal
			var at, detail string
			if err := rows.Scan(&v.AuditID, &at, &v.ActorEmail, &v.ActorName, &v.AccountID, &v.EndUserID, &detail); err != nil {
				return err
			}
			v.At = ParseTime(at)
			var d struct {
				Fields []string `json:"fields"`
				Reason string   `json:"reason"`
			}
			json.Unmarshal([]byte(detail), &d)
			v.Fields, v.Reason = d.Fields, d.Reason
			r.Rows = append(r.Rows, v)
		}
		return rows.Err()
	})
	if err != nil {
		return RevealReport{}, fmt.Errorf("db: reveals: %w", err)
	}
	return r, nil
}
