package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Alerts: what the rules (alert_rules.go) found. A rule's check returns the
// conditions that hold now (Findings); applyFindings turns them into alert
// rows in one transaction: a condition without an alert opens one, an
// alert whose condition no longer holds is resolved ("cleared"), and the
// others get fresh evidence. The unique index on (rule, scope) of alerts
// that are not resolved (migration 051) makes "the same condition never
// opens two alerts" a property of the database, not of the code. Opening
// and resolving queue the notifications (alert_notify.go) in the same
// transaction. Staff acknowledge, snooze or resolve by hand; each is
// audited.

// Alert states.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertSnoozed      = "snoozed"
	AlertResolved     = "resolved"
)

// AlertStates lists the states in filter order.
var AlertStates = []string{AlertOpen, AlertAcknowledged, AlertSnoozed, AlertResolved}

// How an alert was resolved.
const (
	ResolvedCleared = "cleared"
	ResolvedManual  = "manual"
)

// EvidenceItem is one thing behind an alert: an event, a refused delivery,
// an account, a job, a batch, a check. Kind tells the page how to link it.
type EvidenceItem struct {
	Kind  string    `json:"kind"`
	ID    string    `json:"id"`
	Label string    `json:"label"`
	At    time.Time `json:"at,omitzero"`
}

// Evidence item kinds.
const (
	EvidenceEvent     = "event"
	EvidenceRejection = "rejection"
	EvidenceAccount   = "account"
	EvidenceJob       = "job"
	EvidenceBatch     = "batch"
	EvidenceCheck     = "check"
	EvidencePlatform  = "platform"
)

// AlertEvidence is why an alert holds: the figure measured against its
// threshold and the first items behind it (More counts those left out).
type AlertEvidence struct {
	Value     float64        `json:"value"`
	Threshold float64        `json:"threshold"`
	Summary   string         `json:"summary"`
	Items     []EvidenceItem `json:"items,omitempty"`
	More      int            `json:"more,omitempty"`
}

// maxEvidenceItems bounds the items an alert keeps.
const maxEvidenceItems = 20

// Finding is a condition that holds now: one alert's worth.
type Finding struct {
	Scope    string
	Subject  string
	Evidence AlertEvidence
}

// Alert is one alert.
type Alert struct {
	ID        int64
	Rule      string
	Scope     string
	Subject   string
	State     string
	OpenedAt  time.Time
	UpdatedAt time.Time
	// CheckedAt is the last check that saw the condition hold.
	CheckedAt time.Time
	Evidence  AlertEvidence

	AcknowledgedBy string // staff name
	AcknowledgedAt time.Time
	SnoozedBy      string
	SnoozedUntil   time.Time
	ResolvedBy     string
	ResolvedAt     time.Time
	Resolution     string
}

// Active reports whether the alert is not resolved.
func (a Alert) Active() bool { return a.State != AlertResolved }

// RuleLabel names the alert's rule for people.
func (a Alert) RuleLabel() string { return RuleLabel(a.Rule) }

const alertColumns = `a.id, a.rule, a.scope, a.subject, a.state, a.opened_at, a.updated_at, a.checked_at, a.evidence,
  COALESCE(ak.name, ''), COALESCE(a.acknowledged_at, ''), COALESCE(sn.name, ''), COALESCE(a.snoozed_until, ''),
  COALESCE(rs.name, ''), COALESCE(a.resolved_at, ''), COALESCE(a.resolution, '')`

const alertFrom = ` FROM alerts a LEFT JOIN staff ak ON ak.id = a.acknowledged_by LEFT JOIN staff sn ON sn.id = a.snoozed_by
LEFT JOIN staff rs ON rs.id = a.resolved_by`

func scanAlert(sc interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var opened, updated, checked, evidence, acked, snoozed, resolved string
	err := sc.Scan(&a.ID, &a.Rule, &a.Scope, &a.Subject, &a.State, &opened, &updated, &checked, &evidence,
		&a.AcknowledgedBy, &acked, &a.SnoozedBy, &snoozed, &a.ResolvedBy, &resolved, &a.Resolution)
	if err != nil {
		return a, err
	}
	a.OpenedAt, a.UpdatedAt, a.CheckedAt = ParseTime(opened), ParseTime(updated), ParseTime(checked)
	a.AcknowledgedAt, a.SnoozedUntil, a.ResolvedAt = ParseTime(acked), ParseTime(snoozed), ParseTime(resolved)
	_ = json.Unmarshal([]byte(evidence), &a.Evidence)
	return a, nil
}

// AlertByID returns one alert.
func (s *Store) AlertByID(ctx context.Context, id int64) (Alert, error) {
	a, err := scanAlert(s.r.QueryRowContext(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.id = ?`, id))
	if err != nil {
		return a, fmt.Errorf("db: alert %d: %w", id, notFound(err))
	}
	return a, nil
}

// AlertQuery selects alerts for /alerts.
type AlertQuery struct {
	// State is one of AlertStates, or "active" (every state but resolved);
	// "" means active.
	State string
	// Rule is one of the rule names; "" means every rule.
	Rule string
	// Before is the keyset cursor (an alert id); Limit the page size (0
	// means 50).
	Before int64
	Limit  int
}

// AlertStateActive is the filter value of every state but resolved.
const AlertStateActive = "active"

// Validate refuses values that cannot match.
func (q AlertQuery) Validate() error {
	fe := FieldErrors{}
	if q.State != "" && q.State != AlertStateActive && !oneOf(q.State, AlertStates) {
		fe["state"] = "Choose a state from the list."
	}
	if q.Rule != "" && RuleLabel(q.Rule) == "" {
		fe["rule"] = "Choose a rule from the list."
	}
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// ListAlerts returns a page of alerts, newest first, and the cursor of the
// next page (0 at the end). Each state is its own range of alerts_state.
func (s *Store) ListAlerts(ctx context.Context, q AlertQuery) ([]Alert, int64, error) {
	if err := q.Validate(); err != nil {
		return nil, 0, err
	}
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	where, args := q.where()
	if q.Before > 0 {
		where, args = append(where, `a.id < ?`), append(args, q.Before)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+alertColumns+alertFrom+` WHERE `+strings.Join(where, " AND ")+` ORDER BY a.id DESC LIMIT ?`,
		append(args, q.Limit+1)...)
	if err != nil {
		return nil, 0, fmt.Errorf("db: list alerts: %w", err)
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("db: list alerts: %w", err)
		}
		out = append(out, a)
	}
	var next int64
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[q.Limit-1].ID
	}
	return out, next, rows.Err()
}

// where is the condition of q's state and rule (not its page).
func (q AlertQuery) where() ([]string, []any) {
	var where []string
	var args []any
	switch q.State {
	case "", AlertStateActive:
		where = append(where, `a.state IN ('open', 'acknowledged', 'snoozed')`)
	default:
		where, args = append(where, `a.state = ?`), append(args, q.State)
	}
	if q.Rule != "" {
		where, args = append(where, `a.rule = ?`), append(args, q.Rule)
	}
	return where, args
}

// CountAlerts counts the alerts q lists (every page), up to limit: more
// says there are more than n. One index range of alerts_state or
// alerts_rule, bounded by limit. total counts every alert, resolved too
// (the covering index alerts_state).
func (s *Store) CountAlerts(ctx context.Context, q AlertQuery, limit int) (n int64, more bool, total int64, err error) {
	if err := q.Validate(); err != nil {
		return 0, false, 0, err
	}
	where, args := q.where()
	if n, more, err = countRows(ctx, s.r, "alerts a", where, args, limit); err != nil {
		return 0, false, 0, fmt.Errorf("db: count alerts: %w", err)
	}
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts`).Scan(&total); err != nil {
		return 0, false, 0, fmt.Errorf("db: count alerts: %w", err)
	}
	return n, more, total, nil
}

// AlertCounts counts the alerts that are not resolved, by state: what the
// header and the alerts page show. A handful of rows (one per condition at
// most), read through alerts_state.
func (s *Store) AlertCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, COUNT(*) FROM alerts WHERE state IN ('open', 'acknowledged', 'snoozed') GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("db: alert counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("db: alert counts: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// OpenAlerts counts the open alerts (not acknowledged, not snoozed): the
// number the header shows on every page. One index range of alerts_state.
func (s *Store) OpenAlerts(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM alerts WHERE state = 'open'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: open alerts: %w", err)
	}
	return n, nil
}

// activeAlerts reads a rule's alerts that are not resolved, by scope.
func activeAlerts(ctx context.Context, tx *sql.Tx, rule string) (map[string]Alert, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.rule = ? AND a.state <> 'resolved'`, rule)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out[a.Scope] = a
	}
	return out, rows.Err()
}

// AlertChange is what one check did to one alert.
type AlertChange struct {
	AlertID int64
	Scope   string
	// Kind is "opened", "resolved", "updated" or "unsnoozed".
	Kind string
}

// Kinds of AlertChange.
const (
	ChangeOpened    = "opened"
	ChangeResolved  = "resolved"
	ChangeUpdated   = "updated"
	ChangeUnsnoozed = "unsnoozed"
)

// planAlerts decides what a check does: the active alerts of a rule by
// scope against the findings by scope. A finding without an alert opens
// one; an alert without a finding is resolved; the others are updated (and
// a snooze that has ended returns the alert to open). Pure, for table
// tests; the alert ids of opened ones are 0.
func planAlerts(active map[string]Alert, findings []Finding, now time.Time) []AlertChange {
	var out []AlertChange
	seen := map[string]bool{}
	for _, f := range findings {
		if seen[f.Scope] {
			continue // one alert per condition, even if a rule repeats itself
		}
		seen[f.Scope] = true
		a, ok := active[f.Scope]
		switch {
		case !ok:
			out = append(out, AlertChange{Scope: f.Scope, Kind: ChangeOpened})
		case a.State == AlertSnoozed && !a.SnoozedUntil.After(now):
			out = append(out, AlertChange{AlertID: a.ID, Scope: f.Scope, Kind: ChangeUnsnoozed})
		default:
			out = append(out, AlertChange{AlertID: a.ID, Scope: f.Scope, Kind: ChangeUpdated})
		}
	}
	var gone []string
	for scope := range active {
		if !seen[scope] {
			gone = append(gone, scope)
		}
	}
	slices.Sort(gone)
	for _, scope := range gone {
		out = append(out, AlertChange{AlertID: active[scope].ID, Scope: scope, Kind: ChangeResolved})
	}
	return out
}

// applyFindings brings a rule's alerts in line with its findings inside tx
// and queues the notifications of what opened or resolved.
func (s *Store) applyFindings(ctx context.Context, tx *sql.Tx, rule string, findings []Finding, now time.Time) ([]AlertChange, error) {
	active, err := activeAlerts(ctx, tx, rule)
	if err != nil {
		return nil, err
	}
	byScope := map[string]Finding{}
	for _, f := range findings {
		if _, ok := byScope[f.Scope]; !ok {
			byScope[f.Scope] = f
		}
	}
	at := FormatTime(now)
	changes := planAlerts(active, findings, now)
	for i, c := range changes {
		f := byScope[c.Scope]
		ev, _ := json.Marshal(f.Evidence)
		switch c.Kind {
		case ChangeOpened:
			err := tx.QueryRowContext(ctx, `INSERT INTO alerts (rule, scope, subject, state, opened_at, updated_at, checked_at, evidence)
VALUES (?, ?, ?, 'open', ?, ?, ?, ?) RETURNING id`, rule, c.Scope, truncate(f.Subject, 500), at, at, at, string(ev)).Scan(&changes[i].AlertID)
			if err != nil {
				return nil, fmt.Errorf("open alert %s/%s: %w", rule, c.Scope, err)
			}
			if err := s.queueNotifications(ctx, tx, changes[i].AlertID, NotifyOpened, now); err != nil {
				return nil, err
			}
		case ChangeUpdated, ChangeUnsnoozed:
			q := `UPDATE alerts SET subject = ?, evidence = ?, checked_at = ?, updated_at = ? WHERE id = ?`
			if c.Kind == ChangeUnsnoozed {
				q = `UPDATE alerts SET subject = ?, evidence = ?, checked_at = ?, updated_at = ?, state = CASE WHEN acknowledged_at IS NULL THEN 'open' ELSE 'acknowledged' END, snoozed_until = NULL WHERE id = ?`
			}
			if _, err := tx.ExecContext(ctx, q, truncate(f.Subject, 500), string(ev), at, at, c.AlertID); err != nil {
				return nil, fmt.Errorf("update alert %d: %w", c.AlertID, err)
			}
		case ChangeResolved:
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET state = 'resolved', resolved_at = ?, resolution = 'cleared', updated_at = ?, snoozed_until = NULL
WHERE id = ? AND state <> 'resolved'`, at, at, c.AlertID); err != nil {
				return nil, fmt.Errorf("resolve alert %d: %w", c.AlertID, err)
			}
			if err := s.queueNotifications(ctx, tx, c.AlertID, NotifyResolved, now); err != nil {
				return nil, err
			}
		}
	}
	return changes, nil
}

// ErrAlertResolved means a staff action asked of an alert that is already
// resolved.
var ErrAlertResolved = errors.New("db: alert already resolved")

// AcknowledgeAlert marks an open (or snoozed) alert as seen by a: it leaves
// the header's count but stays until its condition clears.
func (s *Store) AcknowledgeAlert(ctx context.Context, a Actor, id int64) error {
	return s.alertAction(ctx, a, id, ActionAlertAcknowledged, nil, func(tx *sql.Tx, al Alert, at string) error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET state = 'acknowledged', acknowledged_by = ?, acknowledged_at = ?, snoozed_until = NULL, updated_at = ? WHERE id = ?`,
			a.StaffID, at, at, id)
		return err
	})
}

// Snooze durations staff may choose.
var SnoozeChoices = []time.Duration{time.Hour, 4 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// SnoozeAlert silences an alert for d (one of SnoozeChoices): it leaves the
// header's count until then. A condition that clears meanwhile resolves it
// as usual; one that still holds afterwards puts it back.
func (s *Store) SnoozeAlert(ctx context.Context, a Actor, id int64, d time.Duration) error {
	if !slices.Contains(SnoozeChoices, d) {
		return FieldErrors{"for": "Choose how long from the list."}
	}
	until := s.now().Add(d)
	return s.alertAction(ctx, a, id, ActionAlertSnoozed, map[string]any{"until": FormatTime(until)}, func(tx *sql.Tx, al Alert, at string) error {
		_, err := tx.ExecContext(ctx, `UPDATE alerts SET state = 'snoozed', snoozed_by = ?, snoozed_until = ?, updated_at = ? WHERE id = ?`,
			a.StaffID, FormatTime(until), at, id)
		return err
	})
}

// ResolveAlert resolves an alert by hand. The rule may open a new alert at
// its next check if the condition still holds, except for missing
// webhooks: resolving that alert dismisses the expectations it lists
// (staff accept that those webhooks will not come).
func (s *Store) ResolveAlert(ctx context.Context, a Actor, id int64, note string) error {
	note = strings.TrimSpace(note)
	if len([]rune(note)) > maxReasonLen {
		return FieldErrors{"note": fmt.Sprintf("Keep it under %d characters.", maxReasonLen)}
	}
	return s.alertAction(ctx, a, id, ActionAlertResolved, map[string]any{"note": note}, func(tx *sql.Tx, al Alert, at string) error {
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET state = 'resolved', resolved_by = ?, resolved_at = ?, resolution = 'manual', snoozed_until = NULL, updated_at = ? WHERE id = ?`,
			a.StaffID, at, at, id); err != nil {
			return err
		}
		if kind := expectationKindOf(al.Rule); kind != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_expectations SET dismissed_at = ? WHERE kind = ? AND dismissed_at IS NULL AND since <= ?`,
				at, kind, FormatTime(al.CheckedAt)); err != nil {
				return err
			}
		}
		return s.queueNotifications(ctx, tx, id, NotifyResolved, s.now())
	})
}

// alertAction runs a staff action on an active alert with its audit row.
func (s *Store) alertAction(ctx context.Context, a Actor, id int64, action string, detail map[string]any, fn func(tx *sql.Tx, al Alert, at string) error) error {
	if a.StaffID == 0 {
		return errors.New("db: alert action without a staff member")
	}
	at := FormatTime(s.now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		al, err := scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+alertFrom+` WHERE a.id = ?`, id))
		if err != nil {
			return notFound(err)
		}
		if !al.Active() {
			return ErrAlertResolved
		}
		if err := fn(tx, al, at); err != nil {
			return err
		}
		if detail == nil {
			detail = map[string]any{}
		}
		detail["rule"], detail["subject"] = al.Rule, al.Subject
		return s.appendAudit(ctx, tx, a, action, "alert", fmt.Sprint(id), detail)
	})
	if err != nil {
		return fmt.Errorf("db: %s %d: %w", action, id, err)
	}
	return nil
}

// AlertCount is how many alerts of one rule are in one state.
type AlertCount struct {
	Rule, State string
	N           int
}

// ActiveAlertCounts counts the alerts that are not resolved by rule and
// state, for the metrics (a handful of rows through alerts_state).
func (s *Store) ActiveAlertCounts(ctx context.Context) ([]AlertCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rule, state, COUNT(*) FROM alerts WHERE state IN ('open', 'acknowledged', 'snoozed') GROUP BY rule, state ORDER BY rule, state`)
	if err != nil {
		return nil, fmt.Errorf("db: active alert counts: %w", err)
	}
	defer rows.Close()
	var out []AlertCount
	for rows.Next() {
		var c AlertCount
		if err := rows.Scan(&c.Rule, &c.State, &c.N); err != nil {
			return nil, fmt.Errorf("db: active alert counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
