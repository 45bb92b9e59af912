package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Alert settings: the rules' thresholds, changed by admins on
// /alerts/settings and kept as one JSON settings row. Every value has a
// default that suits a small fintech's traffic, and a range outside which
// a rule would either never fire or never stop.

// settingAlerts is the settings row of the thresholds.
const settingAlerts = "alert_settings"

// AlertSettings are the rules' switches and thresholds.
type AlertSettings struct {
	// Off lists the rules turned off.
	Off []string `json:"off"`

	SignatureThreshold     int `json:"signature_threshold"`
	SignatureWindowMinutes int `json:"signature_window_minutes"`
	SilenceMinutes         int `json:"silence_minutes"`
	MissingLinkMinutes     int `json:"missing_link_minutes"`
	MissingJobHours        int `json:"missing_job_hours"`
	FetchFailThreshold     int `json:"fetch_fail_threshold"`
	FetchFailWindowMinutes int `json:"fetch_fail_window_minutes"`
	FetchStuckMinutes      int `json:"fetch_stuck_minutes"`
	PlatformSharePercent   int `json:"platform_share_percent"`
	PlatformMinAccounts    int `json:"platform_min_accounts"`
	BulkStuckMinutes       int `json:"bulk_stuck_minutes"`
}

// DefaultAlertSettings are the thresholds until an admin changes them.
// Silence is off: a quiet night is normal for a small volume.
func DefaultAlertSettings() AlertSettings {
	return AlertSettings{
		Off:                    []string{RuleSilence},
		SignatureThreshold:     10,
		SignatureWindowMinutes: 10,
		SilenceMinutes:         60,
		MissingLinkMinutes:     15,
		MissingJobHours:        2,
		FetchFailThreshold:     5,
		FetchFailWindowMinutes: 60,
		FetchStuckMinutes:      15,
		PlatformSharePercent:   20,
		PlatformMinAccounts:    5,
		BulkStuckMinutes:       10,
	}
}

// On reports whether a rule is turned on.
func (a AlertSettings) On(rule string) bool {
	for _, r := range a.Off {
		if r == rule {
			return false
		}
	}
	return true
}

// AlertSetting describes one threshold for the settings form: its field
// name (also the JSON key), label, unit, range and rule.
type AlertSetting struct {
	Name, Label, Unit, Rule string
	Min, Max                int
	field                   func(*AlertSettings) *int
}

// Value is the setting's value in a.
func (s AlertSetting) Value(a AlertSettings) int { return *s.field(&a) }

// AlertSettingFields lists the thresholds in form order.
var AlertSettingFields = []AlertSetting{
	{"signature_threshold", "Refused deliveries", "deliveries", RuleSignatureFailures, 1, 100_000, func(a *AlertSettings) *int { return &a.SignatureThreshold }},
	{"signature_window_minutes", "within", "minutes", RuleSignatureFailures, 1, 1440, func(a *AlertSettings) *int { return &a.SignatureWindowMinutes }},
	{"silence_minutes", "No webhook for", "minutes", RuleSilence, 5, 10080, func(a *AlertSettings) *int { return &a.SilenceMinutes }},
	{"missing_link_minutes", "No job webhook after a Link success within", "minutes", RuleMissingLinkWebhooks, 1, 1440, func(a *AlertSettings) *int { return &a.MissingLinkMinutes }},
	{"missing_job_hours", "No job webhook after an account was added, within", "hours", RuleMissingJobWebhooks, 1, 168, func(a *AlertSettings) *int { return &a.MissingJobHours }},
	{"fetch_fail_threshold", "Failing fetches", "fetches", RuleFetchFailing, 1, 100_000, func(a *AlertSettings) *int { return &a.FetchFailThreshold }},
	{"fetch_fail_window_minutes", "within", "minutes", RuleFetchFailing, 5, 1440, func(a *AlertSettings) *int { return &a.FetchFailWindowMinutes }},
	{"fetch_stuck_minutes", "A fetch due and not run for", "minutes", RuleFetchStuck, 1, 1440, func(a *AlertSettings) *int { return &a.FetchStuckMinutes }},
	{"platform_share_percent", "Share of a platform's accounts that left active in 24 h", "%", RulePlatformDegraded, 1, 100, func(a *AlertSettings) *int { return &a.PlatformSharePercent }},
	{"platform_min_accounts", "and at least", "accounts", RulePlatformDegraded, 1, 100_000, func(a *AlertSettings) *int { return &a.PlatformMinAccounts }},
	{"bulk_stuck_minutes", "No progress of a bulk job for", "minutes", RuleBulkStuck, 1, 1440, func(a *AlertSettings) *int { return &a.BulkStuckMinutes }},
}

// AlertSettingsForm is the settings form as submitted: raw text by field
// name, and the rules ticked on.
type AlertSettingsForm struct {
	Values map[string]string
	On     []string
}

// ParseAlertSettings checks the form and returns the settings, or
// FieldErrors by field name. Pure, for table tests.
func ParseAlertSettings(f AlertSettingsForm) (AlertSettings, FieldErrors) {
	out := DefaultAlertSettings()
	out.Off = nil
	fe := FieldErrors{}
	for _, r := range Rules {
		if !oneOf(r.Name, f.On) {
			out.Off = append(out.Off, r.Name)
		}
	}
	for _, st := range AlertSettingFields {
		raw := strings.TrimSpace(f.Values[st.Name])
		n, err := strconv.Atoi(raw)
		switch {
		case raw == "":
			fe[st.Name] = "Enter a number."
		case err != nil:
			fe[st.Name] = "Enter a whole number."
		case n < st.Min || n > st.Max:
			fe[st.Name] = fmt.Sprintf("Enter %d to %d %s.", st.Min, st.Max, st.Unit)
		default:
			*st.field(&out) = n
		}
	}
	if len(fe) > 0 {
		return out, fe
	}
	return out, nil
}

// AlertSettings returns the thresholds (the defaults until an admin saves
// some; a value missing from the stored row keeps its default).
func (s *Store) AlertSettings(ctx context.Context) (AlertSettings, error) {
	set := DefaultAlertSettings()
	v, err := s.Setting(ctx, settingAlerts)
	if errors.Is(err, ErrNotFound) {
		return set, nil
	}
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal([]byte(v), &set); err != nil {
		return DefaultAlertSettings(), fmt.Errorf("db: alert settings: %w", err)
	}
	return set, nil
}

// UpdateAlertSettings validates the form and saves the thresholds, audited
// with what changed.
func (s *Store) UpdateAlertSettings(ctx context.Context, a Actor, f AlertSettingsForm) (AlertSettings, error) {
	set, fe := ParseAlertSettings(f)
	if fe != nil {
		return set, fe
	}
	old, err := s.AlertSettings(ctx)
	if err != nil {
		return set, err
	}
	b, _ := json.Marshal(set)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingAlerts, string(b), FormatTime(s.now())); err != nil {
			return err
		}
		changed := map[string]any{}
		for _, st := range AlertSettingFields {
			if st.Value(old) != st.Value(set) {
				changed[st.Name] = map[string]int{"from": st.Value(old), "to": st.Value(set)}
			}
		}
		for _, r := range Rules {
			if old.On(r.Name) != set.On(r.Name) {
				changed[r.Name] = map[string]bool{"from": old.On(r.Name), "to": set.On(r.Name)}
			}
		}
		return s.appendAudit(ctx, tx, a, ActionAlertSettingsUpdated, "settings", settingAlerts, map[string]any{"changed": changed})
	})
	if err != nil {
		return set, fmt.Errorf("db: update alert settings: %w", err)
	}
	return set, nil
}
