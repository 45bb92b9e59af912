package db

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// The income and employment report of underwriting (issue 16): for one
// account, or summed over an end user's accounts, what the person earns
// according to Pinwheel's employment and income data and to their
// paystubs and shifts, how regularly, how fresh each figure is, and what
// was decided on it. IncomeReport reads everything in one read
// transaction and builds the report with the pure functions of
// income_analysis.go; the same report serves the page, its JSON and the
// decision's binding.

// Report scopes.
const (
	ScopeAccount = "account"
	ScopeEndUser = "end_user"
)

// IncomeRefreshReason is the reason of the On Demand Updates the report's
// "Refresh this data" mints (audited with the mint).
const IncomeRefreshReason = "Refresh of the income and employment report"

// DefaultStaleDays is how old data may be before the report marks it
// stale, until an admin sets another threshold.
const DefaultStaleDays = 30

const settingStaleDays = "underwriting_stale_days"

// maxReportAccounts bounds the accounts an end user's report reads.
const maxReportAccounts = 50

// IncomeReport is the report of an account (Scope account) or of an end
// user's accounts (Scope end_user, with Total).
type IncomeReport struct {
	Scope     string    `json:"scope"`
	SubjectID string    `json:"subject_id"`
	EndUserID string    `json:"end_user_id,omitempty"`
	Generated time.Time `json:"generated_at"`
	// StaleDays is the threshold past which data is marked stale.
	StaleDays int             `json:"stale_after_days"`
	Accounts  []AccountIncome `json:"accounts"`
	// Total sums the accounts (end user reports).
	Total *IncomeTotal `json:"total,omitempty"`
	// Basis is the data a decision recorded now would be bound to.
	Basis     DecisionBasis `json:"basis"`
	Decisions []Decision    `json:"decisions"`
}

// Dated says when the data behind a figure was true and whether that is
// older than the stale threshold.
type Dated struct {
	AsOf  time.Time `json:"as_of"`
	Stale bool      `json:"stale"`
}

// AccountIncome is the report's part for one account.
type AccountIncome struct {
	AccountID        string `json:"account_id"`
	PlatformName     string `json:"platform_name"`
	MonitoringStatus string `json:"monitoring_status"`
	Connected        *bool  `json:"connected"`

	Employment *EmploymentFacts `json:"employment"`
	Stated     *StatedIncome    `json:"stated_income"`
	Paystubs   PayDataSummary   `json:"paystubs"`
	Shifts     *PayDataSummary  `json:"shifts,omitempty"`

	// Frequency is the one the figures use (EffectiveFrequency of the
	// current stretch); Detected what the pay dates alone say.
	Frequency  string       `json:"frequency"`
	Detected   string       `json:"detected_frequency"`
	Segments   []PaySegment `json:"segments"`
	Gaps       []Gap        `json:"gaps"`
	Regularity *Regularity  `json:"regularity"`
	// Annualised holds the 3, 6 and 12 month figures (as of Paystubs).
	Annualised []Annualised `json:"annualised"`
	Changes    []PayChange  `json:"pay_changes"`
	Chart      []ChartPoint `json:"chart"`
	Gig        *GigIncome   `json:"gig,omitempty"`
	Deductions *Deductions  `json:"deductions,omitempty"`
	Flagged    []Flagged    `json:"flagged"`
}

// EmploymentFacts is the latest employment snapshot, read for the report.
type EmploymentFacts struct {
	Dated
	EmployerName    string `json:"employer_name"`
	Status          string `json:"status"`
	Title           string `json:"title"`
	StartDate       Date   `json:"start_date"`
	TerminationDate Date   `json:"termination_date"`
	// TenureMonths runs from the start date to the termination date or
	// the report's day.
	TenureMonths int    `json:"tenure_months"`
	SnapshotID   int64  `json:"snapshot_id"`
	SHA256       string `json:"sha256"`
}

// StatedIncome is the latest income snapshot: compensation as the
// employer states it, and that for a year.
type StatedIncome struct {
	Dated
	Amount       int64  `json:"amount_cents"`
	Unit         string `json:"unit"`
	Currency     string `json:"currency"`
	PayFrequency string `json:"pay_frequency"`
	// Annual is Amount for a year (hourly: 2080 hours); 0 when the unit
	// has no yearly count.
	Annual     int64  `json:"annual_cents"`
	SnapshotID int64  `json:"snapshot_id"`
	SHA256     string `json:"sha256"`
}

// PayDataSummary describes an account's stored paystubs or shifts.
type PayDataSummary struct {
	Dated
	Kind  string `json:"kind"`
	Count int    `json:"count"`
	// Usable excludes the flagged ones.
	Usable int  `json:"usable"`
	First  Date `json:"first_pay_date"`
	Last   Date `json:"last_pay_date"`
	// Sync is Pinwheel's sync state as webhooks reported it and what
	// Linkdesk fetched.
	Sync PaySync `json:"sync"`
}

// ChartPoint is one pay date of the chart: gross and net of its usable
// paystubs.
type ChartPoint struct {
	Date  Date  `json:"date"`
	Gross int64 `json:"gross_cents"`
	Net   int64 `json:"net_cents"`
}

// GigIncome is a gig worker's earnings by week.
type GigIncome struct {
	Dated
	// Weeks are the last 52 weeks up to the data's date.
	Weeks  []GigWeek   `json:"weeks"`
	Last12 Variability `json:"last_12_weeks"`
	Last52 Variability `json:"last_52_weeks"`
}

// Deductions sums the usable paystubs of the last 12 months.
type Deductions struct {
	From       Date            `json:"from"`
	To         Date            `json:"to"`
	Paystubs   int             `json:"paystubs"`
	Gross      int64           `json:"gross_cents"`
	Taxes      int64           `json:"taxes_cents"`
	Deductions int64           `json:"deductions_cents"`
	Net        int64           `json:"net_cents"`
	Lines      []DeductionLine `json:"lines"`
}

// Flagged is a paystub or shift kept out of the figures, and why.
type Flagged struct {
	Kind     string   `json:"kind"`
	ItemID   string   `json:"id"`
	PayDate  Date     `json:"pay_date"`
	Gross    *int64   `json:"gross_cents"`
	Net      *int64   `json:"net_cents"`
	Currency string   `json:"currency"`
	SHA256   string   `json:"sha256"`
	Reasons  []string `json:"reasons"`
}

// IncomeTotal sums an end user's accounts.
type IncomeTotal struct {
	Accounts  int      `json:"accounts"`
	Employers []string `json:"employers"`
	// Annualised sums each account's 3, 6 and 12 month figures.
	Annualised []Annualised `json:"annualised"`
	// Gaps are stretches of more than 45 days without pay from any account.
	Gaps []Gap `json:"gaps"`
	// AsOf is the oldest data date among the accounts' paystubs.
	Dated
}

// reportMonths are the annualisation windows.
var reportMonths = []int{3, 6, 12}

// accountData is what the report reads of one account.
type accountData struct {
	ref              int64
	accountID        string
	endUserID        string
	platformName     string
	monitoringStatus string
	connected        *bool
	employment       *Snapshot
	income           *Snapshot
	paystubs, shifts []PayItem
	paySync, shift   PaySync
	// bodies are the taxes and deductions (pay_items.lines) of the
	// paystubs of the last 13 months, by Ref.
	bodies map[int64]string
}

// buildAccountIncome builds an account's part of the report and returns
// the usable paystubs it was built from.
func buildAccountIncome(d accountData, now time.Time, staleAfter time.Duration) (AccountIncome, []PayItem) {
	today := DateOf(now)
	dated := func(refreshed, fetched time.Time) Dated {
		at := refreshed
		if at.IsZero() {
			at = fetched
		}
		return Dated{AsOf: at, Stale: at.IsZero() || now.Sub(at) > staleAfter}
	}
	out := AccountIncome{AccountID: d.accountID, PlatformName: d.platformName, MonitoringStatus: d.monitoringStatus,
		Connected: d.connected, Segments: []PaySegment{}, Gaps: []Gap{}, Changes: []PayChange{}, Chart: []ChartPoint{}, Flagged: []Flagged{}}

	if sn := d.employment; sn != nil {
		if data, err := DecodeSnapshot(FetchEmployment, []byte(sn.Body)); err == nil {
			e := data.Employment
			f := &EmploymentFacts{Dated: dated(sn.RefreshedAt, sn.FetchedAt), EmployerName: e.EmployerName,
				Status: derefStr(e.Status), Title: derefStr(e.Title), SnapshotID: sn.ID, SHA256: sn.BodySHA256}
			f.StartDate, f.TerminationDate = DateOf(ParseDate(derefStr(e.StartDate))), DateOf(ParseDate(derefStr(e.TerminationDate)))
			if !f.StartDate.IsZero() {
				end := today
				if !f.TerminationDate.IsZero() {
					end = f.TerminationDate
				}
				f.TenureMonths = monthsBetween(f.StartDate.Time, end.Time)
			}
			out.Employment = f
		}
	}
	stated := ""
	if sn := d.income; sn != nil {
		if data, err := DecodeSnapshot(FetchIncome, []byte(sn.Body)); err == nil {
			in := data.Income
			s := &StatedIncome{Dated: dated(sn.RefreshedAt, sn.FetchedAt), Amount: in.CompensationAmount, Unit: in.CompensationUnit,
				Currency: in.Currency, PayFrequency: derefStr(in.PayFrequency), SnapshotID: sn.ID, SHA256: sn.BodySHA256}
			if !strings.EqualFold(s.PayFrequency, "variable") {
				// A gig platform's rate is per hour worked: no salary.
				s.Annual, _ = compensationYear(in.CompensationAmount, in.CompensationUnit)
			}
			stated = s.PayFrequency
			out.Stated = s
		}
	}

	// Paystubs: flagged ones apart; the figures use the rest.
	flags := FlagItems(d.paystubs, today)
	var good, bad []PayItem
	for _, it := range d.paystubs {
		if why := flags[it.Ref]; len(why) > 0 {
			bad = append(bad, it)
			out.Flagged = append(out.Flagged, Flagged{Kind: it.Kind, ItemID: it.ItemID, PayDate: DateOf(it.PayDate), Gross: it.Gross,
				Net: it.Net, Currency: it.Currency, SHA256: it.SHA256, Reasons: why})
			continue
		}
		good = append(good, it)
	}
	out.Paystubs = summary(FetchPaystubs, d.paystubs, len(good), d.paySync, dated(d.paySync.RefreshedAt, d.paySync.LastFetchedAt))
	asOf := out.Paystubs.AsOf
	if asOf.IsZero() || asOf.After(now) {
		asOf = now
	}
	asOfDay := DateOf(asOf).Time

	out.Frequency, out.Detected = FrequencyUnknown, FrequencyUnknown
	var segs []PaySegment
	segs, out.Gaps = Segments(good)
	if out.Gaps == nil {
		out.Gaps = []Gap{}
	}
	if len(segs) > 0 {
		cur := segs[len(segs)-1]
		out.Detected = cur.Frequency
		out.Frequency = EffectiveFrequency(cur.Frequency, stated)
		for i := range segs {
			segs[i].Frequency = EffectiveFrequency(segs[i].Frequency, stated)
		}
		out.Segments = segs
		// Paydays are expected until the data's date, or the end of
		// employment.
		until := asOfDay
		if e := out.Employment; e != nil && !e.TerminationDate.IsZero() && e.TerminationDate.Before(until) {
			until = e.TerminationDate.Time
		}
		// A payday paid only by a flagged paystub was still paid: the
		// schedule is checked against every dated paystub up to today.
		var paid []PayItem
		for _, it := range d.paystubs {
			if !it.PayDate.IsZero() && !it.PayDate.After(today.Time) && !it.PayDate.Before(cur.From.Time) {
				paid = append(paid, it)
			}
		}
		r := CheckRegularity(out.Frequency, distinctDates(paid), until)
		out.Regularity = &r
		historyStart := good[0].PayDate
		if !good[0].PeriodStart.IsZero() && good[0].PeriodStart.Before(historyStart) {
			historyStart = good[0].PeriodStart.AddDate(0, 0, -1)
		} else {
			historyStart = historyStart.AddDate(0, 0, -int(periodDays(out.Frequency)))
		}
		for _, m := range reportMonths {
			out.Annualised = append(out.Annualised, Annualise(m, good, bad, out.Frequency, cur.dates, historyStart, asOfDay))
		}
		for _, s := range segs {
			var in []PayItem
			for _, it := range good {
				if !it.PayDate.Before(s.From.Time) && !it.PayDate.After(s.To.Time) {
					in = append(in, it)
				}
			}
			out.Changes = append(out.Changes, PayChanges(in)...)
		}
		for _, it := range good {
			if n := len(out.Chart); n > 0 && out.Chart[n-1].Date.Equal(it.PayDate) {
				out.Chart[n-1].Gross += deref(it.Gross)
				out.Chart[n-1].Net += deref(it.Net)
				continue
			}
			out.Chart = append(out.Chart, ChartPoint{Date: DateOf(it.PayDate), Gross: deref(it.Gross), Net: deref(it.Net)})
		}
		out.Deductions = deductionsOf(good, d.bodies, asOfDay)
	}
	if out.Annualised == nil {
		out.Annualised = []Annualised{}
	}

	// Shifts: weeks of gig earnings.
	if len(d.shifts) > 0 || d.shift.Requested > 0 {
		sflags := FlagItems(d.shifts, today)
		var sgood []PayItem
		for _, it := range d.shifts {
			if why := sflags[it.Ref]; len(why) > 0 {
				out.Flagged = append(out.Flagged, Flagged{Kind: it.Kind, ItemID: it.ItemID, PayDate: DateOf(it.PayDate), Gross: it.Gross,
					Currency: it.Currency, SHA256: it.SHA256, Reasons: why})
				continue
			}
			sgood = append(sgood, it)
		}
		sd := dated(d.shift.RefreshedAt, d.shift.LastFetchedAt)
		s := summary(FetchShifts, d.shifts, len(sgood), d.shift, sd)
		out.Shifts = &s
		if len(sgood) > 0 && (out.Frequency == FrequencyIrregular || stated == "variable" || len(good) == 0) {
			end := sd.AsOf
			if end.IsZero() || end.After(now) {
				end = now
			}
			end = DateOf(end).Time
			from := end.AddDate(0, 0, -7*51)
			if first := sgood[0].PayDate; first.After(from) {
				from = first
			}
			weeks := GigWeeks(sgood, from, end)
			g := &GigIncome{Dated: sd, Weeks: weeks, Last52: WeeklyVariability(weeks)}
			g.Last12 = WeeklyVariability(weeks[max(0, len(weeks)-12):])
			out.Gig = g
		}
	}
	slices.SortFunc(out.Flagged, func(a, b Flagged) int { return b.PayDate.Compare(a.PayDate.Time) })
	return out, good
}

// summary describes stored items of kind.
func summary(kind string, items []PayItem, usable int, sync PaySync, d Dated) PayDataSummary {
	s := PayDataSummary{Dated: d, Kind: kind, Count: len(items), Usable: usable, Sync: sync}
	for _, it := range items {
		if it.PayDate.IsZero() {
			continue
		}
		if s.First.IsZero() || it.PayDate.Before(s.First.Time) {
			s.First = DateOf(it.PayDate)
		}
		if it.PayDate.After(s.Last.Time) {
			s.Last = DateOf(it.PayDate)
		}
	}
	return s
}

// deductionsOf sums the usable paystubs of the 12 months before asOf.
func deductionsOf(good []PayItem, bodies map[int64]string, asOf time.Time) *Deductions {
	from := asOf.AddDate(-1, 0, 0)
	d := &Deductions{From: DateOf(from), To: DateOf(asOf), Lines: []DeductionLine{}}
	var bs []string
	for _, it := range good {
		if !it.PayDate.After(from) || it.PayDate.After(asOf) {
			continue
		}
		d.Paystubs++
		d.Gross += deref(it.Gross)
		d.Net += deref(it.Net)
		d.Taxes += deref(it.Taxes)
		d.Deductions += deref(it.Deductions)
		if b, ok := bodies[it.Ref]; ok {
			bs = append(bs, b)
		}
	}
	if lines := DeductionLines(bs); len(lines) > 0 {
		d.Lines = lines
	}
	return d
}

// monthsBetween counts whole months from a to b.
func monthsBetween(a, b time.Time) int {
	m := (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
	if b.Day() < a.Day() {
		m--
	}
	return max(m, 0)
}

// totalOf sums an end user's accounts. Its annualised figures are all the
// pay dated in each window, across the accounts, scaled to a year by the
// days the window covers (from the first pay period of the earliest
// history): what actually arrived, so that a job that ended and one that
// began within the window are neither counted twice nor missed.
func totalOf(accounts []AccountIncome, allGood [][]PayItem, now time.Time, staleAfter time.Duration) *IncomeTotal {
	t := &IncomeTotal{Accounts: len(accounts), Employers: []string{}, Gaps: []Gap{}}
	var asOf, start time.Time
	for i, a := range accounts {
		name := ""
		if a.Employment != nil {
			name = a.Employment.EmployerName
		}
		if name != "" && !slices.Contains(t.Employers, name) {
			t.Employers = append(t.Employers, name)
		}
		if at := a.Paystubs.AsOf; !at.IsZero() && (t.AsOf.IsZero() || at.Before(t.AsOf)) {
			t.AsOf = at
		}
		for _, an := range a.Annualised {
			if an.To.After(asOf) {
				asOf = an.To.Time
			}
		}
		if g := allGood[i]; len(g) > 0 {
			first := g[0].PayDate.AddDate(0, 0, -int(periodDays(a.Frequency)))
			if !g[0].PeriodStart.IsZero() && g[0].PeriodStart.Before(g[0].PayDate) {
				first = g[0].PeriodStart.AddDate(0, 0, -1)
			}
			if start.IsZero() || first.Before(start) {
				start = first
			}
		}
	}
	t.Stale = t.AsOf.IsZero() || now.Sub(t.AsOf) > staleAfter
	var all []PayItem
	for _, g := range allGood {
		all = append(all, g...)
	}
	if _, gaps := Segments(all); gaps != nil {
		t.Gaps = gaps
	}
	t.Annualised = []Annualised{}
	if asOf.IsZero() {
		return t
	}
	for _, m := range reportMonths {
		from := asOf.AddDate(0, -m, 0)
		x := Annualised{Months: m, Basis: "days", To: DateOf(asOf)}
		if start.After(from) {
			from, x.Short = start, true
		}
		x.From = DateOf(from)
		for _, it := range all {
			if it.PayDate.After(from) && !it.PayDate.After(asOf) {
				x.Paystubs++
				x.SumGross += deref(it.Gross)
				x.SumNet += deref(it.Net)
			}
		}
		for _, a := range accounts {
			for _, an := range a.Annualised {
				if an.Months == m {
					x.Excluded += an.Excluded
				}
			}
		}
		x.Days = days(from, asOf)
		if x.Days > 0 {
			x.Gross = int64(math.Round(float64(x.SumGross) / float64(x.Days) * 365.25))
			x.Net = int64(math.Round(float64(x.SumNet) / float64(x.Days) * 365.25))
		}
		x.Method = fmt.Sprintf("All pay dated %s to %s across the %s (%s gross in %s), divided by the %d days that covers, times 365.25.",
			x.From, x.To, plural(len(accounts), "account", "accounts"), money(x.SumGross), plural(x.Paystubs, "paystub", "paystubs"), x.Days)
		t.Annualised = append(t.Annualised, x.note())
	}
	return t
}

// ---- reading ----

// AccountIncomeReport builds the report of one account, or ErrNotFound.
func (s *Store) AccountIncomeReport(ctx context.Context, accountID string) (IncomeReport, error) {
	return s.incomeReport(ctx, ScopeAccount, accountID)
}

// EndUserIncomeReport builds the report of an end user's accounts (at most
// 50, latest activity first), or ErrNotFound.
func (s *Store) EndUserIncomeReport(ctx context.Context, endUserID string) (IncomeReport, error) {
	return s.incomeReport(ctx, ScopeEndUser, endUserID)
}

func (s *Store) incomeReport(ctx context.Context, scope, id string) (IncomeReport, error) {
	staleDays, err := s.StaleDays(ctx)
	if err != nil {
		return IncomeReport{}, err
	}
	now := s.now().UTC()
	rep := IncomeReport{Scope: scope, SubjectID: id, Generated: now, StaleDays: staleDays, Accounts: []AccountIncome{}, Decisions: []Decision{}}
	staleAfter := time.Duration(staleDays) * 24 * time.Hour
	err = s.rtx(ctx, func(tx *sql.Tx) error {
		data, err := readReportData(ctx, tx, scope, id, now)
		if err != nil {
			return err
		}
		var allGood [][]PayItem
		for _, d := range data {
			a, good := buildAccountIncome(d, now, staleAfter)
			rep.Accounts = append(rep.Accounts, a)
			allGood = append(allGood, good)
			if rep.EndUserID == "" {
				rep.EndUserID = d.endUserID
			}
		}
		if scope == ScopeEndUser {
			rep.EndUserID = id
			rep.Total = totalOf(rep.Accounts, allGood, now, staleAfter)
		}
		rep.Basis = basisOf(data)
		rep.Decisions, err = decisionsOf(ctx, tx, scope, id)
		return err
	})
	if err != nil {
		return IncomeReport{}, fmt.Errorf("db: income report of %s %s: %w", scope, id, err)
	}
	return rep, nil
}

// readReportData reads the accounts of a report and their data.
func readReportData(ctx context.Context, tx *sql.Tx, scope, id string, now time.Time) ([]accountData, error) {
	where := `a.account_id = ?`
	if scope == ScopeEndUser {
		var ref int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM end_users WHERE end_user_id = ?`, id).Scan(&ref); err != nil {
			return nil, notFound(err)
		}
		where = `a.end_user_ref = (SELECT id FROM end_users WHERE end_user_id = ?)`
	}
	rows, err := tx.QueryContext(ctx, `SELECT a.id, a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_name, ''),
  COALESCE(a.monitoring_status, ''), a.connected
FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref WHERE `+where+` ORDER BY a.last_event_at DESC, a.id DESC LIMIT ?`, id, maxReportAccounts)
	if err != nil {
		return nil, err
	}
	var out []accountData
	for rows.Next() {
		var d accountData
		var conn sql.NullBool
		if err := rows.Scan(&d.ref, &d.accountID, &d.endUserID, &d.platformName, &d.monitoringStatus, &conn); err != nil {
			rows.Close()
			return nil, err
		}
		if conn.Valid {
			d.connected = &conn.Bool
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if scope == ScopeAccount && len(out) == 0 {
		return nil, ErrNotFound
	}
	for i := range out {
		d := &out[i]
		if d.employment, err = latestSnapshotTx(ctx, tx, d.ref, FetchEmployment); err != nil {
			return nil, err
		}
		if d.income, err = latestSnapshotTx(ctx, tx, d.ref, FetchIncome); err != nil {
			return nil, err
		}
		if d.paystubs, err = reportPayItems(ctx, tx, d.ref, d.accountID, FetchPaystubs); err != nil {
			return nil, err
		}
		if d.shifts, err = reportPayItems(ctx, tx, d.ref, d.accountID, FetchShifts); err != nil {
			return nil, err
		}
		if d.paySync, err = paySyncOf(ctx, tx, d.ref, FetchPaystubs); err != nil {
			return nil, err
		}
		if d.shift, err = paySyncOf(ctx, tx, d.ref, FetchShifts); err != nil {
			return nil, err
		}
		if d.bodies, err = recentBodies(ctx, tx, d.ref, now.AddDate(-1, -1, 0)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// latestSnapshotTx reads an account's newest snapshot of kind (nil when
// none).
func latestSnapshotTx(ctx context.Context, tx *sql.Tx, ref int64, kind string) (*Snapshot, error) {
	sn := Snapshot{Kind: kind}
	var fetched, refreshed string
	err := tx.QueryRowContext(ctx, `SELECT id, fetched_at, COALESCE(refreshed_at, ''), body_sha256, body FROM data_snapshots
WHERE account_ref = ? AND kind = ? ORDER BY id DESC LIMIT 1`, ref, kind).Scan(&sn.ID, &fetched, &refreshed, &sn.BodySHA256, &sn.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sn.FetchedAt, sn.RefreshedAt = ParseTime(fetched), ParseTime(refreshed)
	return &sn, nil
}

// recentBodies reads the taxes and deductions of an account's current
// paystubs paid after since (for the deductions summary).
func recentBodies(ctx context.Context, tx *sql.Tx, ref int64, since time.Time) (map[int64]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, p.lines FROM pay_items p
WHERE p.account_ref = ? AND p.kind = ? AND p.superseded_at IS NULL AND p.deleted_at IS NULL AND p.pay_date > ?`,
		ref, FetchPaystubs, since.Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		out[id] = body
	}
	return out, rows.Err()
}

// ---- the basis of a decision ----

// BasisItem is one piece of data a decision is bound to: an employment or
// income snapshot (Ref its id) or a paystub or shift (Ref Pinwheel's id),
// with the SHA-256 of what was stored.
type BasisItem struct {
	AccountID string `json:"account_id"`
	Kind      string `json:"kind"`
	Ref       string `json:"ref"`
	SHA256    string `json:"sha256"`
}

// DecisionBasis is the data a report was built from and its fingerprint:
// the SHA-256 of its items, one "account kind ref sha256" line each, in
// sorted order.
type DecisionBasis struct {
	Items       []BasisItem `json:"items"`
	Fingerprint string      `json:"fingerprint"`
}

// Counts tallies the basis by kind.
func (b DecisionBasis) Counts() map[string]int {
	out := map[string]int{}
	for _, it := range b.Items {
		out[it.Kind]++
	}
	return out
}

func basisOf(data []accountData) DecisionBasis {
	var items []BasisItem
	for _, d := range data {
		for _, sn := range []*Snapshot{d.employment, d.income} {
			if sn != nil {
				items = append(items, BasisItem{AccountID: d.accountID, Kind: sn.Kind, Ref: strconv.FormatInt(sn.ID, 10), SHA256: sn.BodySHA256})
			}
		}
		for _, list := range [][]PayItem{d.paystubs, d.shifts} {
			for _, it := range list {
				items = append(items, BasisItem{AccountID: d.accountID, Kind: it.Kind, Ref: it.ItemID, SHA256: it.SHA256})
			}
		}
	}
	return newBasis(items)
}

func newBasis(items []BasisItem) DecisionBasis {
	slices.SortFunc(items, func(a, b BasisItem) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Ref, b.Ref), cmp.Compare(a.SHA256, b.SHA256))
	})
	items = slices.Compact(items)
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "%s\t%s\t%s\t%s\n", it.AccountID, it.Kind, it.Ref, it.SHA256)
	}
	if items == nil {
		items = []BasisItem{}
	}
	return DecisionBasis{Items: items, Fingerprint: hex.EncodeToString(h.Sum(nil))}
}

// ---- settings ----

// ActionStaleDaysChanged is the audit action of a new stale threshold.
const ActionStaleDaysChanged = "settings.underwriting_stale_days_changed"

// StaleDays returns the threshold in days past which the report marks
// data stale.
func (s *Store) StaleDays(ctx context.Context) (int, error) {
	v, err := s.Setting(ctx, settingStaleDays)
	if errors.Is(err, ErrNotFound) {
		return DefaultStaleDays, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return DefaultStaleDays, nil
	}
	return n, nil
}

// SetStaleDays sets the stale threshold (1 to 365 days), audited;
// FieldErrors{"stale_days"} for anything else.
func (s *Store) SetStaleDays(ctx context.Context, a Actor, raw string) error {
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 || n > 365 {
		return FieldErrors{"stale_days": "Enter a whole number of days from 1 to 365."}
	}
	old, err := s.StaleDays(ctx)
	if err != nil {
		return err
	}
	if old == n {
		return nil
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, settingStaleDays, strconv.Itoa(n), FormatTime(s.now())); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, a, ActionStaleDaysChanged, "settings", settingStaleDays, map[string]any{"from": old, "to": n})
	})
	if err != nil {
		return fmt.Errorf("db: set stale days: %w", err)
	}
	return nil
}

// IncomeRefreshJobs are the jobs "Refresh this data" asks an On Demand
// Update for: income, employment, and paystubs or shifts as the platform
// supports them (all three when its capabilities are unknown).
func IncomeRefreshJobs(caps PlatformCaps) []string {
	jobs := []string{pinwheel.JobIncome, pinwheel.JobEmployment}
	if !caps.Known {
		return append(jobs, pinwheel.JobPaystubs)
	}
	jobs = slices.DeleteFunc(jobs, func(j string) bool { return !slices.Contains(caps.SupportedJobs, j) })
	for _, j := range []string{pinwheel.JobPaystubs, pinwheel.JobShifts} {
		if slices.Contains(caps.SupportedJobs, j) {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// IncomeRefresh is the On Demand Update "Refresh this data" mints for an
// account: the refresh jobs, no intro screen, the refresh reason. It
// refuses ("_form") what cannot work: a disconnected account, one whose
// login Pinwheel has not reported, a platform that supports none of the
// jobs.
func IncomeRefresh(pre Preflight, caps PlatformCaps) (NewLink, FieldErrors) {
	switch {
	case pre.ConnectedKnown && !pre.Connected:
		return NewLink{}, FieldErrors{"_form": "This account is disconnected: Pinwheel can no longer reach it, so its data cannot be refreshed. The user must connect their payroll account again through a new Link session."}
	case pre.PlatformID == "":
		return NewLink{}, FieldErrors{"_form": "Pinwheel has not reported this account's login yet (no account.added), so it cannot be refreshed."}
	}
	jobs := IncomeRefreshJobs(caps)
	if len(jobs) == 0 {
		return NewLink{}, FieldErrors{"_form": stringOr(caps.Name, "This platform") + " supports none of income, employment, paystubs and shifts."}
	}
	return NewLink{AccountID: pre.AccountID, EndUserID: pre.EndUserID, PlatformID: pre.PlatformID, Jobs: jobs, Language: "en",
		SkipIntro: true, Reason: IncomeRefreshReason}, nil
}

// IncomeVersion is a token that changes whenever something the income
// report of an account or end user shows may have changed: a paystubs or
// shifts webhook or fetch, a snapshot, a decision, a refresh link or its
// Link events. The live stream compares it at each poll (a few index
// probes); "" for an unknown subject.
func (s *Store) IncomeVersion(ctx context.Context, scope, id string) (string, error) {
	var v string
	err := s.rtx(ctx, func(tx *sql.Tx) error {
		accounts, err := readReportAccounts(ctx, tx, scope, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var sync string
		var snap, dec, links, events int64
		for _, acc := range accounts {
			var su string
			var sn, lk, ev int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT MAX(s.updated_at) FROM pay_sync s WHERE s.account_ref = a.id), ''),
  COALESCE((SELECT MAX(d.id) FROM data_snapshots d WHERE d.account_ref = a.id), 0),
  COALESCE((SELECT MAX(t.id) FROM link_tokens t WHERE t.account_id = a.account_id), 0),
  COALESCE((SELECT MAX(e.id) FROM launch_events e WHERE e.account_id = a.account_id), 0)
FROM accounts a WHERE a.account_id = ?`, acc).Scan(&su, &sn, &lk, &ev); err != nil {
				return err
			}
			sync, snap, links, events = max(sync, su), max(snap, sn), max(links, lk), max(events, ev)
		}
		q := `SELECT COALESCE(MAX(id), 0) FROM underwriting_decisions WHERE end_user_id = ?`
		if scope == ScopeAccount {
			q = `SELECT COALESCE(MAX(decision_id), 0) FROM underwriting_decision_items WHERE account_id = ?`
		}
		if err := tx.QueryRowContext(ctx, q, id).Scan(&dec); err != nil {
			return err
		}
		v = fmt.Sprintf("%d.%s.%d.%d.%d.%d", len(accounts), sync, snap, dec, links, events)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("db: income version: %w", err)
	}
	return v, nil
}
