package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"linkdesk/pinwheel"
)

// Pay histories. Every account's paystubs and shifts follow from a pay
// profile: what kind of worker (salaried, hourly, gig), how often paid,
// since when, and what happened meanwhile (a raise, a gap between jobs, a
// job that ended). The profile is generated from the account id, so the
// same account shows the same history across restarts, unless the
// emulator-only knob preset one for the end user and platform before the
// account existed (docs/sandbox.md). Salaried pay is regular; hourly pay
// varies with the week's hours and has overtime above 40; gig workers work
// uneven weeks of shifts and are paid every Tuesday for the week before.
// Two more emulator-only knobs add a paystub to an account and delete one;
// the next sync (an On Demand Update) reports them in its added and
// deleted arrays.

// Kinds of worker of a PayProfile.
const (
	PayKindSalaried = "salaried"
	PayKindHourly   = "hourly"
	PayKindGig      = "gig"
)

// Pay frequencies, as Pinwheel's income.pay_frequency names them.
const (
	FreqWeekly      = "weekly"
	FreqBiweekly    = "bi-weekly"
	FreqSemiMonthly = "semi-monthly"
	FreqMonthly     = "monthly"
	FreqVariable    = "variable"
)

// PayAnomalies are the bad paystubs a profile may ask for, one each: for
// clients to test how they treat them. non_usd, negative_net and
// missing_gross change a regular paystub; duplicate_id, overlapping_period
// and future_pay_date add one.
var PayAnomalies = []string{"non_usd", "negative_net", "missing_gross", "duplicate_id", "overlapping_period", "future_pay_date"}

// PayProfile is an account's pay history. Months count back from the day
// the account was connected.
type PayProfile struct {
	// Kind is salaried, hourly or gig.
	Kind string `json:"kind"`
	// Frequency is weekly, bi-weekly, semi-monthly or monthly; variable
	// (paid weekly for the week's shifts) for gig workers.
	Frequency string `json:"frequency"`
	// HistoryMonths is how far back the pay history goes (1 to 72).
	HistoryMonths int `json:"history_months"`
	// RaisePercent, when above 0, raises the rate RaiseMonthsAgo.
	RaisePercent   float64 `json:"raise_percent,omitempty"`
	RaiseMonthsAgo int     `json:"raise_months_ago,omitempty"`
	// GapWeeks, when above 0, is a gap without pay that ended
	// GapEndMonthsAgo, when the current job began; before it the worker
	// was paid by another employer.
	GapWeeks        int `json:"gap_weeks,omitempty"`
	GapEndMonthsAgo int `json:"gap_end_months_ago,omitempty"`
	// EndedMonthsAgo, when above 0, ended the job then: no pay since,
	// employment terminated.
	EndedMonthsAgo int `json:"ended_months_ago,omitempty"`
	// Anomalies are bad paystubs to include (PayAnomalies).
	Anomalies []string `json:"anomalies,omitempty"`
	// Employer, when set, names the current employer (unless the Link
	// token chose an employer).
	Employer string `json:"employer,omitempty"`
}

// validate checks a preset profile; the message names the first problem.
func (p PayProfile) validate() *pinwheel.Error {
	bad := func(name, msg string) *pinwheel.Error {
		return invalid(codeValidation, "Validation error.", pinwheel.FieldError{Name: name, Message: msg})
	}
	switch p.Kind {
	case PayKindSalaried, PayKindHourly:
		if !slices.Contains([]string{FreqWeekly, FreqBiweekly, FreqSemiMonthly, FreqMonthly}, p.Frequency) {
			return bad("frequency", enumMsg([]string{FreqWeekly, FreqBiweekly, FreqSemiMonthly, FreqMonthly}))
		}
	case PayKindGig:
		if p.Frequency != FreqVariable && p.Frequency != "" {
			return bad("frequency", "Gig workers are paid weekly for the week's shifts: use variable.")
		}
	default:
		return bad("kind", enumMsg([]string{PayKindSalaried, PayKindHourly, PayKindGig}))
	}
	h := p.HistoryMonths
	switch {
	case h < 1 || h > 72:
		return bad("history_months", "Between 1 and 72.")
	case p.RaisePercent < 0 || p.RaisePercent > 100:
		return bad("raise_percent", "Between 0 and 100.")
	case p.RaisePercent > 0 && (p.RaiseMonthsAgo < 0 || p.RaiseMonthsAgo >= h):
		return bad("raise_months_ago", "Within the history.")
	case p.GapWeeks < 0 || p.GapWeeks > 104:
		return bad("gap_weeks", "Between 0 and 104.")
	case p.GapWeeks > 0 && p.Kind == PayKindGig:
		return bad("gap_weeks", "Gig workers have uneven weeks, not jobs.")
	case p.GapWeeks > 0 && (p.GapEndMonthsAgo < 0 || p.GapEndMonthsAgo*31+p.GapWeeks*7 >= h*30):
		return bad("gap_end_months_ago", "The gap must lie within the history.")
	case p.EndedMonthsAgo < 0 || p.EndedMonthsAgo >= h:
		return bad("ended_months_ago", "Within the history.")
	}
	if len(p.Employer) > 100 {
		return bad("employer", "At most 100 characters.")
	}
	for _, x := range p.Anomalies {
		if !slices.Contains(PayAnomalies, x) {
			return bad("anomalies", enumMsg(PayAnomalies))
		}
	}
	return nil
}

// gigPlatformNames are the gig platforms (and the gig employers' platforms).
var gigPlatformNames = []string{"Amazon Flex", "DoorDash", "Uber Driver", "Lyft Driver", "Instacart", "TaskRabbit"}

// isGig reports whether the account is with a gig platform.
func isGig(a *account) bool {
	id := a.PlatformID
	if e, ok := findEmployer(a.EmployerID); ok {
		id = e.PlatformID
	}
	p, ok := findPlatform(id)
	return ok && slices.Contains(gigPlatformNames, p.Name)
}

// defaultPayProfile is the generated profile of an account: 13 to 30
// months of history; hourly workers paid weekly or bi-weekly, salaried
// ones mostly bi-weekly, else semi-monthly, monthly or weekly; a raise for
// seven accounts in ten; a gap between jobs for one in four.
func defaultPayProfile(a *account, p profile) PayProfile {
	r := rng("pay profile", a.ID)
	pp := PayProfile{HistoryMonths: 13 + r.IntN(18)}
	switch {
	case isGig(a):
		pp.Kind, pp.Frequency = PayKindGig, FreqVariable
	case p.Hourly:
		pp.Kind, pp.Frequency = PayKindHourly, []string{FreqWeekly, FreqBiweekly}[r.IntN(2)]
	default:
		pp.Kind = PayKindSalaried
		switch n := r.IntN(10); {
		case n < 5:
			pp.Frequency = FreqBiweekly
		case n < 8:
			pp.Frequency = FreqSemiMonthly
		case n < 9:
			pp.Frequency = FreqMonthly
		default:
			pp.Frequency = FreqWeekly
		}
	}
	if r.IntN(10) < 7 {
		pp.RaisePercent, pp.RaiseMonthsAgo = float64(3+r.IntN(10)), 2+r.IntN(pp.HistoryMonths-3)
	}
	if pp.Kind != PayKindGig && r.IntN(4) == 0 {
		pp.GapWeeks, pp.GapEndMonthsAgo = 6+r.IntN(11), 3+r.IntN(pp.HistoryMonths-7)
	}
	return pp
}

// payPlan is a profile resolved for one account: dates and rates.
type payPlan struct {
	PayProfile
	created  time.Time // the day the account was connected
	start    time.Time // the first day of the pay history
	jobStart time.Time // the current job's first day
	end      time.Time // the job's last day (zero: still employed)
	raiseAt  time.Time // zero: no raise
	// gapFrom and gapTo bound the gap without pay (zero: none); before it
	// prevEmployer paid prevRate.
	gapFrom, gapTo   time.Time
	employer         string
	prevEmployer     string
	rate, prevRate   int64 // cents per hour, or per year when salaried
	phase            int   // 0 or 7: which Friday of the bi-weekly grid
	perYear          int   // pay periods a year
	rnd              string
	generatedProfile bool
}

// planPay resolves the account's pay profile.
func planPay(a *account) payPlan {
	p := newProfile(a)
	pl := payPlan{created: day(a.CreatedAt), employer: p.Employer, phase: p.PayPhase, rnd: a.ID}
	if a.Pay != nil {
		pl.PayProfile = *a.Pay
	} else {
		pl.PayProfile, pl.generatedProfile = defaultPayProfile(a, p), true
	}
	if pl.Kind == PayKindGig {
		pl.Frequency = FreqVariable
	}
	r := rng("pay plan", a.ID)
	pl.start = pl.created.AddDate(0, -pl.HistoryMonths, 0)
	pl.jobStart = pl.start
	if pl.generatedProfile && p.StartDate.After(pl.start) && p.StartDate.Before(pl.created) {
		// Hired within the history: pay begins then.
		pl.start, pl.jobStart = p.StartDate, p.StartDate
	} else if pl.generatedProfile && p.StartDate.Before(pl.start) {
		pl.jobStart = p.StartDate
	}
	if pl.EndedMonthsAgo > 0 {
		pl.end = pl.created.AddDate(0, -pl.EndedMonthsAgo, 0)
	}
	if pl.RaisePercent > 0 {
		pl.raiseAt = pl.created.AddDate(0, -pl.RaiseMonthsAgo, 0)
	}
	if pl.GapWeeks > 0 {
		pl.gapTo = pl.created.AddDate(0, -pl.GapEndMonthsAgo, 0)
		pl.gapFrom = pl.gapTo.AddDate(0, 0, -7*pl.GapWeeks)
		if pl.gapFrom.Before(pl.start) {
			pl.gapFrom = pl.start
		}
		pl.jobStart = pl.gapTo
		i := slices.Index(companies, p.Employer)
		pl.prevEmployer = companies[(i+1+r.IntN(len(companies)-1))%len(companies)]
	}
	switch pl.Kind {
	case PayKindHourly:
		pl.rate = int64(1500 + 25*r.IntN(200)) // $15.00–$64.75
		if p.Hourly {
			pl.rate = p.Rate
		}
	case PayKindGig:
		pl.rate = int64(1800 + 50*r.IntN(30)) // $18.00–$32.50 base
	default:
		pl.rate = int64(40000+1000*r.IntN(140)) * 100 // $40k–$179k a year
		if !p.Hourly {
			pl.rate = p.Rate
		}
	}
	pl.prevRate = pl.rate * int64(85+r.IntN(14)) / 100
	pl.perYear = map[string]int{FreqWeekly: 52, FreqBiweekly: 26, FreqSemiMonthly: 24, FreqMonthly: 12, FreqVariable: 52}[pl.Frequency]
	if pl.perYear == 0 {
		pl.Frequency, pl.perYear = FreqBiweekly, 26
	}
	return pl
}

// rateAt is the rate paid on day d: the previous employer's before the
// gap, raised from the raise on.
func (pl payPlan) rateAt(d time.Time) int64 {
	r := pl.rate
	if !pl.gapTo.IsZero() && d.Before(pl.gapTo) {
		r = pl.prevRate
	}
	if !pl.raiseAt.IsZero() && !d.Before(pl.raiseAt) {
		r = int64(math.Round(float64(r) * (1 + pl.RaisePercent/100)))
	}
	return r
}

// employerAt is who paid on day d.
func (pl payPlan) employerAt(d time.Time) string {
	if !pl.gapTo.IsZero() && d.Before(pl.gapTo) {
		return pl.prevEmployer
	}
	return pl.employer
}

// paid reports whether d can be a pay date: within the history, not in
// the gap, not after the job ended.
func (pl payPlan) paid(d time.Time) bool {
	return !d.Before(pl.start) && (pl.end.IsZero() || !d.After(pl.end)) &&
		(pl.gapTo.IsZero() || d.Before(pl.gapFrom) || !d.Before(pl.gapTo))
}

// payGridOrigin is a Friday; weekly and bi-weekly pay dates fall on its
// grid (bi-weekly plus the account's phase).
var payGridOrigin = time.Date(2020, 1, 3, 0, 0, 0, 0, time.UTC)

// lastBusinessDay moves a weekend day back to the Friday before.
func lastBusinessDay(d time.Time) time.Time {
	switch d.Weekday() {
	case time.Saturday:
		return d.AddDate(0, 0, -1)
	case time.Sunday:
		return d.AddDate(0, 0, -2)
	}
	return d
}

// scheduleDates returns the schedule's pay dates in (from, to], oldest
// first, whether paid or not (gig workers: every Tuesday).
func (pl payPlan) scheduleDates(from, to time.Time) []time.Time {
	var out []time.Time
	add := func(d time.Time) {
		if d.After(from) && !d.After(to) {
			out = append(out, d)
		}
	}
	switch pl.Frequency {
	case FreqWeekly, FreqBiweekly, FreqVariable:
		step, origin := 7, payGridOrigin
		switch pl.Frequency {
		case FreqBiweekly:
			step, origin = 14, payGridOrigin.AddDate(0, 0, pl.phase)
		case FreqVariable:
			origin = payGridOrigin.AddDate(0, 0, 4) // Tuesdays
		}
		n := int(math.Floor(from.Sub(origin).Hours() / 24 / float64(step)))
		for d := origin.AddDate(0, 0, step*n); !d.After(to); d = d.AddDate(0, 0, step) {
			add(d)
		}
	default:
		for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
			last := m.AddDate(0, 1, -1)
			if pl.Frequency == FreqSemiMonthly {
				add(lastBusinessDay(m.AddDate(0, 0, 14)))
			}
			add(lastBusinessDay(last))
		}
	}
	return out
}

// period is the pay period a pay date d pays for.
func (pl payPlan) period(d time.Time) (start, end time.Time) {
	switch pl.Frequency {
	case FreqWeekly:
		end = d.AddDate(0, 0, -6)
		return end.AddDate(0, 0, -6), end
	case FreqBiweekly:
		end = d.AddDate(0, 0, -6)
		return end.AddDate(0, 0, -13), end
	case FreqVariable:
		start = d.AddDate(0, 0, -8) // the Monday of the week before
		return start, start.AddDate(0, 0, 6)
	case FreqSemiMonthly:
		first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		if d.Day() <= 15 {
			return first, first.AddDate(0, 0, 14)
		}
		return first.AddDate(0, 0, 15), first.AddDate(0, 1, -1)
	}
	first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first, first.AddDate(0, 1, -1)
}

// weekHours is the hours an hourly worker worked in the week starting
// ws: 30 to 50, so some weeks have overtime.
func (pl payPlan) weekHours(ws time.Time) float64 {
	return float64(30 + rng("hours", pl.rnd, formatDate(ws)).IntN(21))
}

// gigShift is one generated gig shift.
type gigShift struct {
	Day        time.Time
	From       time.Time
	Hours      float64
	Base, Tips int64
}

// gigWeek returns the shifts of the week starting on Monday ws: some weeks
// none, others one to six days of 2 to 9 hours, paid a varying base rate
// plus tips.
func (pl payPlan) gigWeek(ws time.Time) []gigShift {
	r := rng("gig week", pl.rnd, formatDate(ws))
	if r.IntN(8) == 0 {
		return nil
	}
	days := r.Perm(7)[:1+r.IntN(6)]
	slices.Sort(days)
	var out []gigShift
	for _, d := range days {
		dd := ws.AddDate(0, 0, d)
		hours := 2 + 0.5*float64(r.IntN(15))
		base := int64(math.Round(float64(pl.rateAt(dd)) * hours * (0.8 + 0.4*r.Float64())))
		start := time.Date(dd.Year(), dd.Month(), dd.Day(), 7+r.IntN(12), 30*r.IntN(2), 0, 0, newYork)
		out = append(out, gigShift{Day: dd, From: start, Hours: hours, Base: base, Tips: base * int64(r.IntN(35)) / 100})
	}
	return out
}

// stubItem is one paystub the API serves: the generated paystub, the keys
// a knob or an anomaly overrides on the wire, its order among paystubs of
// the same date and id, and when it appeared (zero: on its pay date).
type stubItem struct {
	pinwheel.Paystub
	over    map[string]json.RawMessage
	seq     int64
	addedAt time.Time
}

// sortKey orders paystubs newest first: pay date, id, then the order they
// were added in.
func (s stubItem) sortKey() string {
	return s.PayDate + "\x00" + s.ID + "\x00" + fmt.Sprintf("%010d", s.seq)
}

// wire renders the paystub with its overrides.
func (s stubItem) wire(doc obj) obj {
	o := paystubObj(s.Paystub, doc)
	for i, e := range o {
		if v, ok := s.over[e.K]; ok {
			o[i].V = rawJSON(v)
		}
	}
	return o
}

// ytd keeps year-to-date totals per employer and year.
type ytd map[string]int64

// genStub generates the paystub of pay date d.
func (pl payPlan) genStub(a *account, d time.Time, gross, net ytd) pinwheel.Paystub {
	r := rng("paystub", a.ID, formatDate(d))
	ps, pe := pl.period(d)
	rate := pl.rateAt(pe)
	var earnings []pinwheel.Earning
	var total int64
	taxed := true
	switch pl.Kind {
	case PayKindGig:
		taxed = false
		var hours float64
		var base, tips int64
		for _, s := range pl.gigWeek(ps) {
			hours += s.Hours
			base += s.Base
			tips += s.Tips
		}
		earnings = []pinwheel.Earning{{Name: "Delivery pay", Category: "base", Amount: base, Hours: fptr(hours)},
			{Name: "Tips", Category: "tips", Amount: tips}}
		total = base + tips
	case PayKindHourly:
		weeks := math.Round(float64(pe.Sub(ps).Hours()/24+1)/7*100) / 100
		worked := pl.weekHours(ps) * weeks
		if pl.Frequency == FreqBiweekly {
			worked = pl.weekHours(ps) + pl.weekHours(ps.AddDate(0, 0, 7))
		}
		regular := math.Min(worked, 40*weeks)
		ot := worked - regular
		amount := int64(math.Round(float64(rate) * regular))
		earnings = append(earnings, pinwheel.Earning{Name: "Regular", Category: "hourly", Amount: amount, Rate: fptr(float64(rate)), Hours: fptr(regular)})
		total = amount
		if ot > 0 {
			otRate := math.Round(float64(rate) * 1.5) // rates are whole cents (recorded)
			otAmount := int64(math.Round(otRate * ot))
			earnings = append(earnings, pinwheel.Earning{Name: "Overtime", Category: "overtime", Amount: otAmount, Rate: fptr(otRate), Hours: fptr(ot)})
			total += otAmount
		}
	default:
		total = rate / int64(pl.perYear)
		earnings = append(earnings, pinwheel.Earning{Name: "Salary", Category: "salary", Amount: total,
			Hours: fptr(math.Round(2080/float64(pl.perYear)*100) / 100)})
	}
	var taxes []pinwheel.PaystubTax
	var deductions []pinwheel.PaystubDeduction
	if taxed {
		taxes = []pinwheel.PaystubTax{
			{Name: "Federal Income Tax", Category: "federal_income", Amount: pct(total, 100)},
			{Name: "Employee Social Security Tax", Category: "social_security", Amount: pct(total, 62)},
			{Name: "Employee Medicare Tax", Category: "medicare", Amount: pct(total, 14)},
			{Name: "State Income Tax", Category: "state_income", Amount: pct(total, 40)},
		}
		// Premiums are a monthly cost spread over the year's paychecks.
		deductions = []pinwheel.PaystubDeduction{
			{Name: "401(k)", Category: "retirement", Amount: pct(total, 50), Type: "pre_tax"},
			{Name: "Medical", Category: "medical_insurance", Amount: 4500 * 26 / int64(pl.perYear), Type: "pre_tax"},
			{Name: "Dental", Category: "dental", Amount: 800 * 26 / int64(pl.perYear), Type: "pre_tax"},
		}
	}
	var totalTaxes, totalDeductions int64
	for _, t := range taxes {
		totalTaxes += t.Amount
	}
	for _, x := range deductions {
		totalDeductions += x.Amount
	}
	netPay := total - totalTaxes - totalDeductions
	employer := pl.employerAt(d)
	key := employer + "\x00" + strconv.Itoa(d.Year())
	gross[key] += total
	net[key] += netPay
	g, n := gross[key], net[key]
	created := a.CreatedAt
	if d.After(day(a.CreatedAt)) {
		created = d.Add(12 * time.Hour)
	}
	stub := pinwheel.Paystub{
		ID:                  derivedID("paystub", a.ID, formatDate(d)),
		CreatedAt:           pinwheel.NewTime(created),
		AccountID:           a.ID,
		PayDate:             formatDate(d),
		PayPeriodStart:      sptr(formatDate(ps)),
		PayPeriodEnd:        sptr(formatDate(pe)),
		Currency:            "USD",
		GrossPayAmount:      total,
		NetPayAmount:        netPay,
		CheckAmount:         netPay,
		GrossPayYTD:         &g,
		NetPayYTD:           &n,
		TotalTaxes:          totalTaxes,
		TotalDeductions:     totalDeductions,
		TotalReimbursements: 0,
		ExternalPaystubID:   nil,
		EmployerName:        sptr(employer),
		Taxes:               taxes,
		Deductions:          deductions,
		Earnings:            earnings,
		Document:            &pinwheel.Document{ID: derivedID("paystub document", a.ID, formatDate(d))},
	}
	if stub.Taxes == nil {
		stub.Taxes, stub.Deductions = []pinwheel.PaystubTax{}, []pinwheel.PaystubDeduction{}
	}
	if taxed {
		stub.TimeOff = []pinwheel.TimeOff{
			{Name: "PTO", Category: "pto", AvailableHours: fptr(float64(8 + r.IntN(80))), EarnedHours: fptr(3.08), UsedHours: fptr(0)},
			{Name: "Sick Leave", Category: "sick", AvailableHours: fptr(float64(r.IntN(40))), EarnedHours: fptr(1.54), UsedHours: fptr(0)},
		}
	} else {
		stub.TimeOff = []pinwheel.TimeOff{}
	}
	return stub
}

func pct(amount int64, permille int64) int64 { return amount * permille / 1000 }

// scheduledStubs returns the paystubs of the schedule paid up to to,
// oldest first (year-to-date totals run from the start of the history).
func (pl payPlan) scheduledStubs(a *account, to time.Time) []pinwheel.Paystub {
	gross, net := ytd{}, ytd{}
	var out []pinwheel.Paystub
	for _, d := range pl.scheduleDates(pl.start.AddDate(0, 0, -1), day(to)) {
		if !pl.paid(d) {
			continue
		}
		if pl.Kind == PayKindGig {
			ps, _ := pl.period(d)
			if ps.Before(pl.start) || len(pl.gigWeek(ps)) == 0 {
				continue // nothing worked that week: nothing paid
			}
		}
		out = append(out, pl.genStub(a, d, gross, net))
	}
	return out
}

// genPaystubs returns every paystub the API serves for the account,
// newest first: the schedule's up to the last sync, the profile's
// anomalies, the paystubs the knob added (a.Extras), less the ids deleted
// (a.Deleted).
func genPaystubs(a *account) []stubItem {
	pl := planPay(a)
	sched := pl.scheduledStubs(a, a.SyncedThrough)
	items := make([]stubItem, 0, len(sched)+len(a.Extras)+len(pl.Anomalies))
	for i := len(sched) - 1; i >= 0; i-- {
		items = append(items, stubItem{Paystub: sched[i]})
	}
	items = append(items, pl.anomalies(a, items)...)
	for _, x := range a.Extras {
		items = append(items, x.item(a, pl))
	}
	items = slices.DeleteFunc(items, func(s stubItem) bool { _, gone := a.Deleted[s.ID]; return gone })
	slices.SortStableFunc(items, func(x, y stubItem) int {
		kx, ky := x.sortKey(), y.sortKey()
		switch {
		case kx > ky:
			return -1
		case kx < ky:
			return 1
		}
		return 0
	})
	return items
}

// anomalies applies the profile's bad paystubs to the schedule's (newest
// first) and returns the ones it adds. They appear with the first sync.
func (pl payPlan) anomalies(a *account, stubs []stubItem) []stubItem {
	var added []stubItem
	at := func(i int) *stubItem {
		if i < len(stubs) {
			return &stubs[i]
		}
		return nil
	}
	raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	for _, x := range pl.Anomalies {
		switch x {
		case "non_usd":
			if s := at(2); s != nil {
				s.over = map[string]json.RawMessage{"currency": raw("CAD")}
			}
		case "negative_net":
			if s := at(3); s != nil {
				s.over = map[string]json.RawMessage{"net_pay_amount": raw(-s.NetPayAmount), "check_amount": raw(-s.NetPayAmount)}
			}
		case "missing_gross":
			if s := at(4); s != nil {
				s.over = map[string]json.RawMessage{"gross_pay_amount": json.RawMessage("null")}
			}
		case "duplicate_id":
			if s := at(5); s != nil {
				dup := stubItem{Paystub: s.Paystub, seq: 1, addedAt: a.CreatedAt}
				dup.over = map[string]json.RawMessage{"gross_pay_amount": raw(s.GrossPayAmount + 5000), "net_pay_amount": raw(s.NetPayAmount + 3500)}
				added = append(added, dup)
			}
		case "overlapping_period":
			if s := at(6); s != nil {
				d := ParseDate(s.PayDate).AddDate(0, 0, 2)
				extra := s.Paystub
				extra.ID = derivedID("paystub", a.ID, "overlapping period")
				extra.PayDate = formatDate(d)
				ps, pe := ParseDate(*s.PayPeriodStart).AddDate(0, 0, 3), ParseDate(*s.PayPeriodEnd).AddDate(0, 0, 3)
				extra.PayPeriodStart, extra.PayPeriodEnd = sptr(formatDate(ps)), sptr(formatDate(pe))
				extra.Document = &pinwheel.Document{ID: derivedID("paystub document", a.ID, "overlapping period")}
				added = append(added, stubItem{Paystub: extra, addedAt: a.CreatedAt})
			}
		case "future_pay_date":
			d := pl.created.AddDate(0, 0, 45)
			extra := pl.genStub(a, d, ytd{}, ytd{})
			extra.ID = derivedID("paystub", a.ID, "future pay date")
			extra.Document = &pinwheel.Document{ID: derivedID("paystub document", a.ID, "future pay date")}
			added = append(added, stubItem{Paystub: extra, addedAt: a.CreatedAt})
		}
	}
	return added
}

// ParseDate reads a YYYY-MM-DD date (the zero time when it is not one).
func ParseDate(s string) time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return t
}

// extraPaystub is a paystub the knob added: its pay date, the wire keys
// it overrides, when it was added.
type extraPaystub struct {
	Seq       int64
	ID        string
	PayDate   string
	Overrides map[string]json.RawMessage
	AddedAt   time.Time
}

func (x extraPaystub) item(a *account, pl payPlan) stubItem {
	s := pl.genStub(a, ParseDate(x.PayDate), ytd{}, ytd{})
	s.ID = x.ID
	s.Document = &pinwheel.Document{ID: derivedID("paystub document", a.ID, "extra", strconv.FormatInt(x.Seq, 10))}
	if x.AddedAt.After(s.CreatedAt.Time) {
		s.CreatedAt = pinwheel.NewTime(x.AddedAt)
	}
	return stubItem{Paystub: s, over: x.Overrides, seq: x.Seq, addedAt: x.AddedAt}
}

// loadPayExtras loads the paystubs the knobs added to and deleted from a.
func loadPayExtras(ctx context.Context, q querier, a *account) error {
	rows, err := q.QueryContext(ctx, `SELECT seq, item_id, pay_date, overrides, added_at FROM extra_paystubs WHERE account_id = ? ORDER BY seq`, a.ID)
	if err != nil {
		return fmt.Errorf("sandbox: extra paystubs: %w", err)
	}
	defer rows.Close()
	a.Extras = nil
	for rows.Next() {
		var x extraPaystub
		var over, added string
		if err := rows.Scan(&x.Seq, &x.ID, &x.PayDate, &over, &added); err != nil {
			return fmt.Errorf("sandbox: extra paystubs: %w", err)
		}
		_ = json.Unmarshal([]byte(over), &x.Overrides)
		x.AddedAt = parseDBTime(added)
		a.Extras = append(a.Extras, x)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sandbox: extra paystubs: %w", err)
	}
	drows, err := q.QueryContext(ctx, `SELECT item_id, deleted_at FROM deleted_paystubs WHERE account_id = ?`, a.ID)
	if err != nil {
		return fmt.Errorf("sandbox: deleted paystubs: %w", err)
	}
	defer drows.Close()
	a.Deleted = map[string]time.Time{}
	for drows.Next() {
		var id, at string
		if err := drows.Scan(&id, &at); err != nil {
			return fmt.Errorf("sandbox: deleted paystubs: %w", err)
		}
		a.Deleted[id] = parseDBTime(at)
	}
	return drows.Err()
}

// presetPay returns the profile preset for an end user on a platform (or
// on any platform), nil when none.
func presetPay(ctx context.Context, q querier, endUserID, platformID string) (*PayProfile, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT profile FROM pay_presets WHERE end_user_id = ? AND platform_id IN (?, '')
ORDER BY platform_id DESC LIMIT 1`, endUserID, platformID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: pay preset: %w", err)
	}
	var p PayProfile
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, fmt.Errorf("sandbox: pay preset: %w", err)
	}
	return &p, nil
}

// shiftDays returns the days with a shift in (from, to], newest first: every
// day, like the recorded sandbox (90 daily shifts for 90 days).
func shiftDays(from, to time.Time) []time.Time {
	var out []time.Time
	for d := day(to); d.After(from); d = d.AddDate(0, 0, -1) {
		out = append(out, d)
	}
	return out
}

var newYork = func() *time.Location {
	if l, err := time.LoadLocation("America/New_York"); err == nil {
		return l
	}
	return time.FixedZone("EST", -5*3600)
}()

// genShifts returns every shift of the account, newest first. A gig
// worker's are the generated weeks of the whole history; anyone else has a
// daily eight-hour shift for the 90 days before connection onwards, like
// the recorded sandbox.
func genShifts(a *account) []pinwheel.Shift {
	pl := planPay(a)
	if pl.Kind == PayKindGig {
		return gigShifts(a, pl)
	}
	rate := pl.rateAt(day(a.CreatedAt))
	if pl.Kind == PayKindSalaried {
		rate /= 2080
	}
	days := shiftDays(day(a.CreatedAt).AddDate(0, 0, -90), a.SyncedThrough)
	out := make([]pinwheel.Shift, len(days))
	for i, d := range days {
		from := time.Date(d.Year(), d.Month(), d.Day(), 9, 0, 0, 0, newYork)
		to := from.Add(8 * time.Hour)
		created := a.CreatedAt
		if d.After(day(a.CreatedAt)) {
			created = to.UTC()
		}
		out[i] = pinwheel.Shift{
			ID:         derivedID("shift", a.ID, formatDate(d)),
			CreatedAt:  pinwheel.NewTime(created),
			AccountID:  a.ID,
			StartDate:  formatDate(d),
			EndDate:    formatDate(d),
			Type:       "shift",
			Timezone:   sptr("America/New_York"),
			Timestamps: []pinwheel.ShiftTimestamp{{From: pinwheel.NewTime(from), To: pinwheel.NewTime(to)}},
			Currency:   "USD",
			Earnings: []pinwheel.Earning{{Name: "Regular", Category: "hourly", Amount: rate * 8,
				Rate: fptr(float64(rate)), Hours: fptr(8)}},
		}
	}
	return out
}

// gigShifts returns a gig worker's shifts, newest first, up to the last
// sync.
func gigShifts(a *account, pl payPlan) []pinwheel.Shift {
	last := day(a.SyncedThrough)
	if !pl.end.IsZero() && pl.end.Before(last) {
		last = pl.end
	}
	ws := pl.start.AddDate(0, 0, (8-int(pl.start.Weekday()))%7) // the first Monday
	var out []pinwheel.Shift
	for ; !ws.After(last); ws = ws.AddDate(0, 0, 7) {
		for _, s := range pl.gigWeek(ws) {
			if s.Day.After(last) {
				continue
			}
			to := s.From.Add(time.Duration(s.Hours * float64(time.Hour)))
			created := a.CreatedAt
			if s.Day.After(day(a.CreatedAt)) {
				created = to.UTC()
			}
			out = append(out, pinwheel.Shift{
				ID:         derivedID("shift", a.ID, formatDate(s.Day)),
				CreatedAt:  pinwheel.NewTime(created),
				AccountID:  a.ID,
				StartDate:  formatDate(s.Day),
				EndDate:    formatDate(s.Day),
				Type:       "shift",
				Timezone:   sptr("America/New_York"),
				Timestamps: []pinwheel.ShiftTimestamp{{From: pinwheel.NewTime(s.From), To: pinwheel.NewTime(to)}},
				Currency:   "USD",
				Earnings: []pinwheel.Earning{
					{Name: "Delivery pay", Category: "base", Amount: s.Base, Hours: fptr(s.Hours)},
					{Name: "Tips", Category: "tips", Amount: s.Tips},
				},
			})
		}
	}
	slices.Reverse(out)
	return out
}
