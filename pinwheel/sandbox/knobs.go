package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Emulator-only knobs for showing a webhook consumer's monitoring at work
// (docs/sandbox.md#emulator-only-controls): rules that drop or delay the
// webhooks of events generated from now on, and a switch that moves every
// account of a platform to a monitoring status at once. Pinwheel has none
// of them; they live under /emulator/, outside /v1, and need the API
// secret.

// Delivery rule actions.
const (
	RuleDrop  = "drop"
	RuleDelay = "delay"
	// RuleBadSignature sends the deliveries signed with a wrong secret, as
	// a sender with a stale secret (or an impostor) would: the receiver
	// refuses them and they are retried until they give up.
	RuleBadSignature = "bad_signature"
)

// JobEvents is the Event pattern that matches every event reporting a job
// (identity.added, paystubs.added, …) and nothing else.
const JobEvents = "@jobs"

// DeliveryRule drops, delays or spoils the webhooks of matching events
// generated after it is set. A dropped delivery is kept with state
// "dropped" and is never sent; a delayed one waits DelaySeconds (wall
// clock) before its first attempt; a bad_signature one is signed with a
// wrong secret. Count limits how many events it applies to (0: until the
// rule is deleted).
type DeliveryRule struct {
	ID     int64  `json:"id"`
	Action string `json:"action"`
	// Event is a pattern of event names (path.Match: "*.added",
	// "identity.added"), JobEvents for every job event; "" or "*" matches
	// every event.
	Event string `json:"event"`
	// AccountID limits the rule to one account's events ("" any).
	AccountID string `json:"account_id,omitempty"`
	// DelaySeconds is the delay of a delay rule.
	DelaySeconds int `json:"delay_seconds,omitempty"`
	// Count is how many events the rule still applies to; 0 means no
	// limit.
	Count int `json:"count,omitempty"`
	// Matched counts the events it applied to.
	Matched int `json:"matched"`
}

// matches reports whether the rule applies to an event.
func (r *DeliveryRule) matches(ev *event) bool {
	if r.AccountID != "" && r.AccountID != ev.AccountID {
		return false
	}
	switch r.Event {
	case "", "*":
		return true
	case JobEvents:
		return ev.job != nil
	}
	ok, err := path.Match(r.Event, ev.Name)
	return err == nil && ok
}

// maxRules bounds the delivery rules: each generated event is checked
// against all of them.
const maxRules = 100

// maxRuleDelay bounds a delay (a day).
const maxRuleDelay = 24 * 60 * 60

// loadRules reads the delivery rules still in force, oldest first.
func loadRules(ctx context.Context, q querier) ([]*DeliveryRule, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, action, event, account_id, delay_ms, remaining, matched FROM delivery_rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sandbox: delivery rules: %w", err)
	}
	defer rows.Close()
	var out []*DeliveryRule
	for rows.Next() {
		var r DeliveryRule
		var delayMs int64
		if err := rows.Scan(&r.ID, &r.Action, &r.Event, &r.AccountID, &delayMs, &r.Count, &r.Matched); err != nil {
			return nil, err
		}
		r.DelaySeconds = int(delayMs / 1000)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// applyRule finds the first rule in force for an event, counts the match
// and retires a rule whose count is spent. nil means none applies.
func applyRule(ctx context.Context, tx *sql.Tx, rules []*DeliveryRule, ev *event) (*DeliveryRule, error) {
	for _, r := range rules {
		if r.Count < 0 || !r.matches(ev) {
			continue
		}
		r.Matched++
		if r.Count > 0 {
			r.Count--
			if r.Count == 0 {
				r.Count = -1 // spent: no longer in force
				_, err := tx.ExecContext(ctx, `DELETE FROM delivery_rules WHERE id = ?`, r.ID)
				return r, err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE delivery_rules SET remaining = ?, matched = ? WHERE id = ?`, r.Count, r.Matched, r.ID)
		return r, err
	}
	return nil, nil
}

// emulatorRules handles GET /emulator/webhooks/rules: the rules in force.
func (e *Emulator) emulatorRules(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	rules, err := loadRules(r.Context(), e.store.db)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	if rules == nil {
		rules = []*DeliveryRule{}
	}
	e.writeJSON(w, http.StatusOK, map[string]any{"data": rules})
}

// emulatorAddRule handles POST /emulator/webhooks/rules {action, event,
// account_id, delay_seconds, count}.
func (e *Emulator) emulatorAddRule(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	var in DeliveryRule
	if !e.decodeBody(w, r, &in) {
		return
	}
	v := &fieldErrs{}
	switch in.Action {
	case RuleDrop, RuleBadSignature:
		in.DelaySeconds = 0
	case RuleDelay:
		if in.DelaySeconds < 1 || in.DelaySeconds > maxRuleDelay {
			v.add(codeValidation, "delay_seconds", fmt.Sprintf("Must be 1 to %d.", maxRuleDelay))
		}
	default:
		v.add(codeValidation, "action", enumMsg([]string{RuleDrop, RuleDelay, RuleBadSignature}))
	}
	if _, err := path.Match(in.Event, ""); (err != nil && in.Event != JobEvents) || len(in.Event) > 128 {
		v.add(codeValidation, "event", "Must be an event name or a pattern such as *.added.")
	}
	if in.Count < 0 || in.Count > 1_000_000 {
		v.add(codeValidation, "count", "Must be 0 (no limit) to 1000000.")
	}
	if len(in.AccountID) > 255 {
		v.add(codeValidation, "account_id", "Too long.")
	}
	if fe := v.err(); fe != nil {
		e.writeError(w, fe)
		return
	}
	in.AccountID = strings.ToLower(in.AccountID)
	err := e.store.tx(r.Context(), func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM delivery_rules`).Scan(&n); err != nil {
			return err
		}
		if n >= maxRules {
			return errTooManyRules
		}
		return tx.QueryRowContext(r.Context(), `INSERT INTO delivery_rules (action, event, account_id, delay_ms, remaining, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, in.Action, in.Event, in.AccountID, int64(in.DelaySeconds)*1000, in.Count, dbTime(e.now())).Scan(&in.ID)
	})
	if errors.Is(err, errTooManyRules) {
		e.writeError(w, invalid(codeValidation, "Validation error.", pinwheel.FieldError{Name: "action", Message: fmt.Sprintf("At most %d rules; delete some first.", maxRules)}))
		return
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeJSON(w, http.StatusOK, map[string]any{"data": in})
}

var errTooManyRules = errors.New("sandbox: too many delivery rules")

// emulatorDeleteRule handles DELETE /emulator/webhooks/rules/{id}, and
// DELETE /emulator/webhooks/rules (every rule).
func (e *Emulator) emulatorDeleteRule(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	q, args := `DELETE FROM delivery_rules`, []any{}
	if id := r.PathValue("id"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			e.writeError(w, notFound("No rule found with the given id."))
			return
		}
		q, args = q+` WHERE id = ?`, append(args, n)
	}
	if _, err := e.store.db.ExecContext(r.Context(), q, args...); err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeJSON(w, http.StatusOK, map[string]any{})
}

// emulatorPlatformStatus handles POST
// /emulator/platforms/{id}/monitoring_status {"monitoring_status": any of
// the five}: every account on the platform takes the status, and each one
// that changed sends account.monitoring_status.updated, as if the
// platform had gone bad (or recovered) for everyone at once.
func (e *Emulator) emulatorPlatformStatus(w http.ResponseWriter, r *http.Request) {
	if !e.authorized(w, r) {
		return
	}
	var body statusBody
	if !e.decodeBody(w, r, &body) {
		return
	}
	if body.MonitoringStatus == nil || !slices.Contains(monitoringStatuses, *body.MonitoringStatus) {
		e.writeError(w, invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: "monitoring_status", Message: enumMsg(monitoringStatuses)}))
		return
	}
	status := *body.MonitoringStatus
	platform := strings.ToLower(r.PathValue("id"))
	if _, ok := findPlatform(platform); !ok {
		e.writeError(w, notFound("No platform found with the given id."))
		return
	}
	ctx := r.Context()
	changed := 0
	err := e.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE platform_id = ? AND monitoring_status <> ? ORDER BY seq`, platform, status)
		if err != nil {
			return err
		}
		var list []*account
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				rows.Close()
				return err
			}
			list = append(list, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range list {
			a.MonitoringStatus = status
			if err := updateAccount(ctx, tx, a); err != nil {
				return err
			}
			if err := e.emit(ctx, tx, accountEvent(pinwheel.EventMonitoringStatusUpdated, a, a.LinkTokenID)); err != nil {
				return err
			}
		}
		changed = len(list)
		return nil
	})
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"platform_id": platform, "monitoring_status": status, "changed": changed}})
}

// ---- the Driver's side ----

// emulatorCall sends one request to an emulator-only endpoint with the
// secret and decodes {"data": out}.
func (d *Driver) emulatorCall(ctx context.Context, method, p string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(d.BaseURL, "/")+p, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-secret", d.Secret)
	resp, err := d.client().Do(req)
	if err != nil {
		return fmt.Errorf("sandbox: %s %s: %w", method, p, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandbox: %s %s: %s: %s", method, p, resp.Status, raw)
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("sandbox: %s %s: %w", method, p, err)
	}
	return json.Unmarshal(env.Data, out)
}

// AddDeliveryRule sets a rule that drops or delays the webhooks of
// matching events from now on (POST /emulator/webhooks/rules) and returns
// it with its id. Needs Driver.Secret.
func (d *Driver) AddDeliveryRule(ctx context.Context, r DeliveryRule) (DeliveryRule, error) {
	var out DeliveryRule
	err := d.emulatorCall(ctx, http.MethodPost, "/emulator/webhooks/rules", r, &out)
	return out, err
}

// DeliveryRules lists the rules in force.
func (d *Driver) DeliveryRules(ctx context.Context) ([]DeliveryRule, error) {
	var out []DeliveryRule
	err := d.emulatorCall(ctx, http.MethodGet, "/emulator/webhooks/rules", nil, &out)
	return out, err
}

// DeleteDeliveryRules removes one rule, or every rule with id 0.
func (d *Driver) DeleteDeliveryRules(ctx context.Context, id int64) error {
	p := "/emulator/webhooks/rules"
	if id != 0 {
		p += "/" + strconv.FormatInt(id, 10)
	}
	return d.emulatorCall(ctx, http.MethodDelete, p, nil, nil)
}

// SetPlatformStatus moves every account of a platform to a monitoring
// status (POST /emulator/platforms/{id}/monitoring_status) and returns how
// many changed; each sends account.monitoring_status.updated.
func (d *Driver) SetPlatformStatus(ctx context.Context, platformID, status string) (int, error) {
	var out struct {
		Changed int `json:"changed"`
	}
	err := d.emulatorCall(ctx, http.MethodPost, "/emulator/platforms/"+url.PathEscape(platformID)+"/monitoring_status",
		map[string]string{"monitoring_status": status}, &out)
	return out.Changed, err
}

// ruleDelayUntil is when a delivery delayed by r may first go out.
func ruleDelayUntil(r *DeliveryRule, wall time.Time) int64 {
	return wall.Add(time.Duration(r.DelaySeconds) * time.Second).UnixMilli()
}
