package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Cohorts: which accounts a campaign is for. A cohort is a filter over
// cohort_accounts (migrations/030_campaigns.sql), kept in the URL as query
// parameters and on the campaign as their canonical query string, and
// evaluated twice: as a live preview (count and a sample of 20) while the
// draft is edited, and once more when the launch freezes it into members.
// Every filter is a column of cohort_accounts, so a count reads that one
// narrow table through an index range; the plan test (cohort_plan_test.go)
// holds it to that.

// Cohort allocation filters (CohortFilter.Alloc).
const (
	CohortAllocNone      = "none"
	CohortAllocAmount    = "amount_below"
	CohortAllocPercent   = "percent_below"
	CohortAllocRemainder = "remainder"
	CohortAllocUnknown   = "unknown"
)

// CohortAllocs lists the allocation filters in the order the form shows.
var CohortAllocs = []string{CohortAllocNone, CohortAllocAmount, CohortAllocPercent, CohortAllocRemainder, CohortAllocUnknown}

// VerdictUnchecked is the verdict filter of accounts never checked.
const VerdictUnchecked = "unchecked"

// CohortVerdicts are the values of the identity verdict filter.
var CohortVerdicts = []string{VerdictMatch, VerdictPartial, VerdictMismatch, VerdictNoCustomerRecord, VerdictUnchecked}

// CohortFilter is a cohort's filter. Zero values filter nothing, except
// ExcludeLive, which a parsed filter sets unless told otherwise.
type CohortFilter struct {
	// Platform is a platform_id; Status a monitoring status.
	Platform string
	Status   string
	// Connected is "", "yes" or "no".
	Connected string
	// Supports keeps accounts whose platform supports the goal's job (by
	// the platform capabilities Linkdesk cached from Pinwheel).
	Supports bool
	// Alloc is one of the CohortAlloc* constants ("": any); AllocBelowCents
	// and AllocBelowPct are the bounds of amount_below and percent_below.
	Alloc           string
	AllocBelowCents int64
	AllocBelowPct   float64
	// SwitchOlderDays keeps accounts whose last successful deposit switch
	// (if any) is older than this many days.
	SwitchOlderDays int
	// Verdict is an identity verdict or VerdictUnchecked.
	Verdict string
	// AddedFrom and AddedTo bound the day the account was created
	// (inclusive, UTC dates; zero: open).
	AddedFrom, AddedTo time.Time
	// ExcludeLive leaves out members of another launched campaign that has
	// not ended.
	ExcludeLive bool
	// ExcludeLinkedDays leaves out accounts given a launch link in the last
	// this many days.
	ExcludeLinkedDays int
}

// cohortKeys are the query parameters of a cohort, in canonical order.
var cohortKeys = []string{"platform", "status", "connected", "supports", "alloc", "alloc_amount", "alloc_pct", "switch_days",
	"verdict", "added_from", "added_to", "exclude_live", "exclude_linked_days"}

// CohortKeys returns the query parameters a cohort filter reads.
func CohortKeys() []string { return slices.Clone(cohortKeys) }

// ParseCohort reads a cohort filter from query or form values; knownPlatform
// reports whether a platform id exists. Bad values become field errors
// named after their parameter.
func ParseCohort(v url.Values, knownPlatform func(string) bool) (CohortFilter, FieldErrors) {
	f := CohortFilter{ExcludeLive: true}
	fe := FieldErrors{}
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	if p := get("platform"); p != "" {
		if knownPlatform != nil && !knownPlatform(p) {
			fe["platform"] = "No account is on that platform; choose one from the list."
		}
		f.Platform = p
	}
	if st := get("status"); st != "" {
		if !slices.Contains(MonitoringStatuses, st) {
			fe["status"] = "Choose a monitoring status from the list."
		}
		f.Status = st
	}
	switch c := get("connected"); c {
	case "", "yes", "no":
		f.Connected = c
	default:
		fe["connected"] = "Choose yes or no."
	}
	switch get("supports") {
	case "", "any":
	case "yes":
		f.Supports = true
	default:
		fe["supports"] = "Choose any or yes."
	}
	switch a := get("alloc"); a {
	case "", "any":
	case CohortAllocNone, CohortAllocRemainder, CohortAllocUnknown:
		f.Alloc = a
	case CohortAllocAmount:
		f.Alloc = a
		d, err := strconv.ParseFloat(get("alloc_amount"), 64)
		switch {
		case get("alloc_amount") == "":
			fe["alloc_amount"] = "Enter the amount in dollars, e.g. 100."
		case err != nil || math.IsNaN(d) || d <= 0 || d > 100000:
			fe["alloc_amount"] = "Enter an amount from $0.01 to $100,000."
		default:
			f.AllocBelowCents = int64(math.Round(d * 100))
		}
	case CohortAllocPercent:
		f.Alloc = a
		p, err := strconv.ParseFloat(get("alloc_pct"), 64)
		switch {
		case get("alloc_pct") == "":
			fe["alloc_pct"] = "Enter a percentage, e.g. 20."
		case err != nil || math.IsNaN(p) || p <= 0 || p > 100:
			fe["alloc_pct"] = "Enter a percentage above 0 and at most 100."
		default:
			f.AllocBelowPct = p
		}
	default:
		fe["alloc"] = "Choose an allocation from the list."
	}
	f.SwitchOlderDays = intParam(get("switch_days"), 1, 3650, "switch_days", "Enter a number of days from 1 to 3650.", fe)
	if vd := get("verdict"); vd != "" {
		if !slices.Contains(CohortVerdicts, vd) {
			fe["verdict"] = "Choose an identity verdict from the list."
		}
		f.Verdict = vd
	}
	for _, d := range []struct {
		key string
		dst *time.Time
	}{{"added_from", &f.AddedFrom}, {"added_to", &f.AddedTo}} {
		if s := get(d.key); s != "" {
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				fe[d.key] = "Enter a date as YYYY-MM-DD."
				continue
			}
			*d.dst = t.UTC()
		}
	}
	if !f.AddedFrom.IsZero() && !f.AddedTo.IsZero() && f.AddedTo.Before(f.AddedFrom) && fe["added_to"] == "" {
		fe["added_to"] = "The end date is before the start date."
	}
	switch get("exclude_live") {
	case "", "yes":
	case "no":
		f.ExcludeLive = false
	default:
		fe["exclude_live"] = "Choose yes or no."
	}
	f.ExcludeLinkedDays = intParam(get("exclude_linked_days"), 1, 365, "exclude_linked_days", "Enter a number of days from 1 to 365.", fe)
	if len(fe) == 0 {
		return f, nil
	}
	return f, fe
}

// intParam parses an optional whole number in [lo, hi].
func intParam(s string, lo, hi int, key, msg string, fe FieldErrors) int {
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		fe[key] = msg
		return 0
	}
	return n
}

// Values is the filter as query parameters (only those that are set; an
// ExcludeLive turned off is "exclude_live=no").
func (f CohortFilter) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("platform", f.Platform)
	set("status", f.Status)
	set("connected", f.Connected)
	if f.Supports {
		v.Set("supports", "yes")
	}
	set("alloc", f.Alloc)
	if f.Alloc == CohortAllocAmount {
		v.Set("alloc_amount", strconv.FormatFloat(float64(f.AllocBelowCents)/100, 'f', -1, 64))
	}
	if f.Alloc == CohortAllocPercent {
		v.Set("alloc_pct", strconv.FormatFloat(f.AllocBelowPct, 'f', -1, 64))
	}
	if f.SwitchOlderDays > 0 {
		v.Set("switch_days", strconv.Itoa(f.SwitchOlderDays))
	}
	set("verdict", f.Verdict)
	if !f.AddedFrom.IsZero() {
		v.Set("added_from", f.AddedFrom.Format("2006-01-02"))
	}
	if !f.AddedTo.IsZero() {
		v.Set("added_to", f.AddedTo.Format("2006-01-02"))
	}
	if !f.ExcludeLive {
		v.Set("exclude_live", "no")
	}
	if f.ExcludeLinkedDays > 0 {
		v.Set("exclude_linked_days", strconv.Itoa(f.ExcludeLinkedDays))
	}
	return v
}

// String is the canonical query string (sorted keys), as a campaign stores
// it.
func (f CohortFilter) String() string { return f.Values().Encode() }

// Describe is the filter in words, for the campaign page and the audit.
func (f CohortFilter) Describe(platformName func(string) string) []string {
	var out []string
	if f.Platform != "" {
		name := f.Platform
		if platformName != nil {
			name = platformName(f.Platform)
		}
		out = append(out, "platform "+name)
	}
	if f.Status != "" {
		out = append(out, "monitoring "+f.Status)
	}
	if f.Connected != "" {
		out = append(out, "connected: "+f.Connected)
	}
	if f.Supports {
		out = append(out, "the platform supports the goal's job")
	}
	switch f.Alloc {
	case CohortAllocNone:
		out = append(out, "no allocation to us")
	case CohortAllocAmount:
		out = append(out, fmt.Sprintf("sends us a fixed amount below $%s (or nothing)", strconv.FormatFloat(float64(f.AllocBelowCents)/100, 'f', -1, 64)))
	case CohortAllocPercent:
		out = append(out, fmt.Sprintf("sends us less than %s%% (or nothing)", strconv.FormatFloat(f.AllocBelowPct, 'f', -1, 64)))
	case CohortAllocRemainder:
		out = append(out, "sends us the remainder")
	case CohortAllocUnknown:
		out = append(out, "allocations not known yet")
	}
	if f.SwitchOlderDays > 0 {
		out = append(out, fmt.Sprintf("no deposit switch in the last %d days", f.SwitchOlderDays))
	}
	if f.Verdict != "" {
		out = append(out, "identity "+f.Verdict)
	}
	if !f.AddedFrom.IsZero() {
		out = append(out, "added on or after "+f.AddedFrom.Format("2006-01-02"))
	}
	if !f.AddedTo.IsZero() {
		out = append(out, "added on or before "+f.AddedTo.Format("2006-01-02"))
	}
	if f.ExcludeLive {
		out = append(out, "not in another live campaign")
	}
	if f.ExcludeLinkedDays > 0 {
		out = append(out, fmt.Sprintf("no launch link in the last %d days", f.ExcludeLinkedDays))
	}
	if len(out) == 0 {
		out = append(out, "every account")
	}
	return out
}

// cohortWhere is the WHERE clause of a filter over cohort_accounts c.
// supporting lists the platforms that support the goal's job (used when
// f.Supports); now anchors the day filters.
func cohortWhere(f CohortFilter, now time.Time, supporting []string) ([]string, []any) {
	where, args := []string{"1=1"}, []any{}
	add := func(w string, a ...any) { where, args = append(where, w), append(args, a...) }
	switch f.Alloc {
	case "":
		// Every value: no filter, but it lets a count walk the allocation
		// index, which covers every column filtered on, instead of rows.
		add("c.alloc IN ('unknown', 'none', 'amount', 'percentage', 'remainder')")
	case CohortAllocNone:
		add("c.alloc = 'none'")
	case CohortAllocAmount:
		add("c.alloc IN ('none', 'amount') AND c.alloc_cents < ?", f.AllocBelowCents)
	case CohortAllocPercent:
		add("c.alloc IN ('none', 'amount', 'percentage') AND c.alloc_pct < ?", f.AllocBelowPct)
	case CohortAllocRemainder:
		add("c.alloc = 'remainder'")
	case CohortAllocUnknown:
		add("c.alloc = 'unknown'")
	}
	if f.Platform != "" {
		add("c.platform_id = ?", f.Platform)
	}
	if f.Supports {
		if len(supporting) == 0 {
			add("1=0")
		} else {
			ps := make([]any, len(supporting))
			for i, p := range supporting {
				ps[i] = p
			}
			add("c.platform_id IN ("+sqlParams(len(ps))+")", ps...)
		}
	}
	if f.Status != "" {
		add("c.monitoring_status = ?", f.Status)
	}
	switch f.Connected {
	case "yes":
		add("c.connected = 1")
	case "no":
		add("c.connected = 0")
	}
	if f.ExcludeLive {
		add("c.live_campaigns = 0")
	}
	if f.SwitchOlderDays > 0 {
		add("(c.last_switch_at IS NULL OR c.last_switch_at < ?)", FormatTime(now.AddDate(0, 0, -f.SwitchOlderDays)))
	}
	if f.ExcludeLinkedDays > 0 {
		add("(c.last_link_at IS NULL OR c.last_link_at < ?)", FormatTime(now.AddDate(0, 0, -f.ExcludeLinkedDays)))
	}
	switch f.Verdict {
	case "":
	case VerdictUnchecked:
		add("c.verdict = ''")
	default:
		add("c.verdict = ?", f.Verdict)
	}
	if !f.AddedFrom.IsZero() {
		add("c.created_at >= ?", FormatTime(f.AddedFrom))
	}
	if !f.AddedTo.IsZero() {
		add("c.created_at < ?", FormatTime(f.AddedTo.AddDate(0, 0, 1)))
	}
	return where, args
}

// cohortCountSQL counts the accounts of a cohort.
func cohortCountSQL(where []string) string {
	return `SELECT COUNT(*) FROM cohort_accounts c WHERE ` + strings.Join(where, " AND ")
}

// cohortSampleSQL reads 20 accounts of a cohort, in the order the plan
// meets them (no sort: a sample, not a list).
func cohortSampleSQL(where []string) string {
	return `SELECT a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_name, ''), c.monitoring_status,
  c.alloc, c.alloc_cents, c.alloc_pct, c.alloc_est_cents
FROM (SELECT c.account_ref, c.monitoring_status, c.alloc, c.alloc_cents, c.alloc_pct, c.alloc_est_cents FROM cohort_accounts c
  WHERE ` + strings.Join(where, " AND ") + ` LIMIT 20) c
JOIN accounts a ON a.id = c.account_ref LEFT JOIN end_users u ON u.id = a.end_user_ref`
}

// CohortAccount is one account of a cohort sample.
type CohortAccount struct {
	AccountID    string
	EndUserID    string
	PlatformName string
	Status       string
	Alloc        AllocationLevel
}

// CohortPreview is a cohort's size and a sample of its accounts.
type CohortPreview struct {
	Count  int64
	Sample []CohortAccount
	// Took is how long the two queries took (shown beside the count).
	Took time.Duration
}

// GoalJob is the Pinwheel job a campaign goal asks for.
func GoalJob(goal string) string {
	switch goal {
	case GoalIdentity:
		return FetchIdentity
	case GoalIncome:
		return FetchIncome
	case GoalEmployment:
		return FetchEmployment
	}
	return pinwheel.JobDDSwitch
}

// supportingPlatforms lists the cached platforms that support job.
func supportingPlatforms(ctx context.Context, q readQuerier, job string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT platform_id, supported_jobs FROM platforms_cache`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, jobs string
		if err := rows.Scan(&id, &jobs); err != nil {
			return nil, err
		}
		var list []string
		if json.Unmarshal([]byte(jobs), &list) == nil && slices.Contains(list, job) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// PreviewCohort counts the accounts of a filter for a campaign goal and
// returns a sample of 20 of them, in one read snapshot.
func (s *Store) PreviewCohort(ctx context.Context, f CohortFilter, goal string) (CohortPreview, error) {
	var p CohortPreview
	start := time.Now()
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		sup, err := supportingPlatforms(ctx, tx, GoalJob(goal))
		if err != nil {
			return err
		}
		where, args := cohortWhere(f, s.now().UTC(), sup)
		if err := tx.QueryRowContext(ctx, cohortCountSQL(where), args...).Scan(&p.Count); err != nil {
			return err
		}
		if p.Count == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, cohortSampleSQL(where), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a CohortAccount
			var est sql.NullInt64
			if err := rows.Scan(&a.AccountID, &a.EndUserID, &a.PlatformName, &a.Status, &a.Alloc.Kind, &a.Alloc.Cents, &a.Alloc.Pct, &est); err != nil {
				return err
			}
			a.Alloc.EstCents, a.Alloc.EstKnown = est.Int64, est.Valid
			p.Sample = append(p.Sample, a)
		}
		return rows.Err()
	})
	if err != nil {
		return CohortPreview{}, fmt.Errorf("db: preview cohort: %w", err)
	}
	p.Took = time.Since(start)
	return p, nil
}

// CohortPlatform is a platform accounts are on, for the filter.
type CohortPlatform struct {
	ID, Name string
	Accounts int64
	// Supports lists the cached capabilities (nil: not cached).
	Supports []string
}

// CohortPlatforms lists the platforms of known accounts (from the facet
// counters) with their cached capabilities.
func (s *Store) CohortPlatforms(ctx context.Context) ([]CohortPlatform, error) {
	var out []CohortPlatform
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT f.value, f.label, f.n, p.supported_jobs FROM account_facet_counts f
LEFT JOIN platforms_cache p ON p.platform_id = f.value WHERE f.facet = 'platform' AND f.n > 0 AND f.value <> '' ORDER BY f.label, f.value`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p CohortPlatform
			var jobs sql.NullString
			if err := rows.Scan(&p.ID, &p.Name, &p.Accounts, &jobs); err != nil {
				return err
			}
			if jobs.Valid {
				p.Supports = []string{}
				_ = json.Unmarshal([]byte(jobs.String), &p.Supports)
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("db: cohort platforms: %w", err)
	}
	return out, nil
}

// PlatformsCachedAt is when the oldest cached platform capabilities were
// fetched (zero when none are cached).
func (s *Store) PlatformsCachedAt(ctx context.Context) (time.Time, error) {
	var at sql.NullString
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(fetched_at) FROM platforms_cache`).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("db: platforms cached at: %w", err)
	}
	return ParseTime(at.String), nil
}
