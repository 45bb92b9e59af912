package db

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// The income analysis of the underwriting report: pure functions over an
// account's paystubs and shifts, with no I/O, so that each decision (which
// paystubs are bad, how often someone is paid, what a year of it comes to)
// is a table test. The Store reads the data (underwriting.go) and hands it
// here with the clock.

// Pay frequencies the analysis tells apart.
const (
	FrequencyWeekly      = "weekly"
	FrequencyBiweekly    = "bi-weekly"
	FrequencySemiMonthly = "semi-monthly"
	FrequencyMonthly     = "monthly"
	// FrequencyIrregular: pay dates follow no schedule (gig payouts,
	// commissions).
	FrequencyIrregular = "irregular"
	// FrequencyUnknown: too few pay dates to say.
	FrequencyUnknown = "unknown"
)

// EffectiveFrequency is the frequency the figures use: the one read from
// the pay dates, unless Pinwheel states pay as variable (gig platforms pay
// for the work done, so a week without work is no missed payday).
func EffectiveFrequency(detected, stated string) string {
	if strings.EqualFold(stated, "variable") {
		return FrequencyIrregular
	}
	return detected
}

// PeriodsPerYear is the number of paychecks a year of a frequency; 0 for
// irregular and unknown.
func PeriodsPerYear(freq string) int {
	return map[string]int{FrequencyWeekly: 52, FrequencyBiweekly: 26, FrequencySemiMonthly: 24, FrequencyMonthly: 12}[freq]
}

// periodDays is the nominal length of a frequency's pay period.
func periodDays(freq string) float64 {
	if n := PeriodsPerYear(freq); n > 0 {
		return 365.25 / float64(n)
	}
	return 7
}

// tolerance is how far a pay date may sit from its scheduled day and still
// be that payday (weekends and holidays move paydays a few days).
func tolerance(freq string) int {
	if freq == FrequencyWeekly {
		return 2
	}
	return 4
}

// gapDays: consecutive pay dates further apart than this are a gap in
// income (between jobs, unpaid leave), not missed paydays: no schedule pays
// less than monthly.
const gapDays = 45

// Date is a calendar day (a UTC midnight), written as YYYY-MM-DD in JSON.
type Date struct{ time.Time }

// MarshalJSON writes the day, or null for the zero date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.Format(time.DateOnly) + `"`), nil
}

// UnmarshalJSON reads YYYY-MM-DD or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return err
	}
	*d = Date{t}
	return nil
}

// String is YYYY-MM-DD, or "" for the zero date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Format(time.DateOnly)
}

// DateOf is the calendar day of t (UTC).
func DateOf(t time.Time) Date {
	if t.IsZero() {
		return Date{}
	}
	t = t.UTC()
	return Date{time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)}
}

func days(a, b time.Time) int { return int(math.Round(b.Sub(a).Hours() / 24)) }

// ---- bad paystubs ----

// Flag reasons, as the report shows them.
const (
	FlagNoGross       = "no gross pay amount"
	FlagNoNet         = "no net pay amount"
	FlagNegativeGross = "negative gross pay"
	FlagNegativeNet   = "negative net pay"
	FlagNetAboveGross = "net pay above gross pay"
	FlagCurrency      = "not in US dollars"
	FlagDuplicateID   = "duplicate id"
	FlagFuture        = "pay date in the future"
	FlagNoPayDate     = "no pay date"
	FlagOverlap       = "pay period overlaps another paystub's"
)

// FlagItems returns, for each bad paystub or shift (by Ref), why it is
// kept out of the figures: missing or negative amounts, a currency other
// than USD, an id that has two versions, a pay date after today or none,
// a pay period overlapping another paystub's of the same employer. Items
// are one account's current ones, of one kind.
func FlagItems(items []PayItem, today Date) map[int64][]string {
	out := map[int64][]string{}
	add := func(ref int64, why string) {
		if !slices.Contains(out[ref], why) {
			out[ref] = append(out[ref], why)
		}
	}
	versions := map[string]int{}
	for _, it := range items {
		versions[it.ItemID]++
	}
	for _, it := range items {
		shift := it.Kind == FetchShifts
		switch {
		case it.Gross == nil:
			if !shift {
				add(it.Ref, FlagNoGross)
			}
		case *it.Gross < 0:
			add(it.Ref, FlagNegativeGross)
		}
		if !shift {
			switch {
			case it.Net == nil:
				add(it.Ref, FlagNoNet)
			case *it.Net < 0:
				add(it.Ref, FlagNegativeNet)
			case it.Gross != nil && *it.Gross >= 0 && *it.Net > *it.Gross:
				add(it.Ref, FlagNetAboveGross)
			}
		}
		if it.Currency != "USD" {
			add(it.Ref, FlagCurrency)
		}
		if versions[it.ItemID] > 1 {
			add(it.Ref, FlagDuplicateID)
		}
		switch {
		case it.PayDate.IsZero():
			add(it.Ref, FlagNoPayDate)
		case it.PayDate.After(today.Time):
			add(it.Ref, FlagFuture)
		}
	}
	// Overlapping pay periods, per employer: sorted by start, each period
	// is compared with the latest-ending one before it.
	var withPeriod []PayItem
	for _, it := range items {
		if it.Kind != FetchShifts && !it.PeriodStart.IsZero() && !it.PeriodEnd.IsZero() && !it.PeriodEnd.Before(it.PeriodStart) {
			withPeriod = append(withPeriod, it)
		}
	}
	slices.SortFunc(withPeriod, func(a, b PayItem) int {
		return cmp.Or(cmp.Compare(a.EmployerName, b.EmployerName), a.PeriodStart.Compare(b.PeriodStart), cmp.Compare(a.Ref, b.Ref))
	})
	// One pass: each period is compared with the latest-ending one before
	// it of the same employer (another version of the same paystub is a
	// duplicate, flagged as such, not an overlap).
	reach := -1
	for i, cur := range withPeriod {
		if reach >= 0 && withPeriod[reach].EmployerName != cur.EmployerName {
			reach = -1
		}
		if reach >= 0 {
			prev := withPeriod[reach]
			if prev.ItemID != cur.ItemID && !prev.PeriodEnd.Before(cur.PeriodStart) {
				add(cur.Ref, FlagOverlap)
				add(prev.Ref, FlagOverlap)
			}
		}
		if reach < 0 || cur.PeriodEnd.After(withPeriod[reach].PeriodEnd) {
			reach = i
		}
	}
	return out
}

// nearest returns the index of the date in sorted closest to s within tol
// days that skip does not exclude, or -1.
func nearest(sorted []time.Time, s time.Time, tol int, skip func(int) bool) int {
	lo := sort.Search(len(sorted), func(i int) bool { return !sorted[i].Before(s.AddDate(0, 0, -tol)) })
	best := -1
	for i := lo; i < len(sorted) && !sorted[i].After(s.AddDate(0, 0, tol)); i++ {
		if skip != nil && skip(i) {
			continue
		}
		if best < 0 || abs(days(s, sorted[i])) < abs(days(s, sorted[best])) {
			best = i
		}
	}
	return best
}

// ---- schedule ----

// PaySegment is a stretch of pay without a gap: its pay dates, the
// frequency they follow, and the employers on its paystubs.
type PaySegment struct {
	From      Date     `json:"from"`
	To        Date     `json:"to"`
	Paydays   int      `json:"paydays"`
	Frequency string   `json:"frequency"`
	Employers []string `json:"employers"`
	dates     []time.Time
}

// Gap is a stretch without pay: the last pay date before it and the first
// after.
type Gap struct {
	From Date `json:"from"`
	To   Date `json:"to"`
	Days int  `json:"days"`
}

// distinctDates returns the sorted distinct pay dates of items (zero dates
// left out).
func distinctDates(items []PayItem) []time.Time {
	var out []time.Time
	for _, it := range items {
		if !it.PayDate.IsZero() {
			out = append(out, it.PayDate)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// Segments splits good paystubs at gaps of more than 45 days and reads the
// frequency of each stretch.
func Segments(items []PayItem) ([]PaySegment, []Gap) {
	dates := distinctDates(items)
	if len(dates) == 0 {
		return nil, nil
	}
	employers := func(from, to time.Time) []string {
		var out []string
		for _, it := range items {
			if !it.PayDate.Before(from) && !it.PayDate.After(to) && it.EmployerName != "" && !slices.Contains(out, it.EmployerName) {
				out = append(out, it.EmployerName)
			}
		}
		return out
	}
	var segs []PaySegment
	var gaps []Gap
	start := 0
	flush := func(end int) {
		ds := dates[start:end]
		segs = append(segs, PaySegment{From: DateOf(ds[0]), To: DateOf(ds[len(ds)-1]), Paydays: len(ds),
			Frequency: DetectFrequency(ds), Employers: employers(ds[0], ds[len(ds)-1]), dates: ds})
	}
	for i := 1; i < len(dates); i++ {
		if d := days(dates[i-1], dates[i]); d > gapDays {
			flush(i)
			gaps = append(gaps, Gap{From: DateOf(dates[i-1]), To: DateOf(dates[i]), Days: d})
			start = i
		}
	}
	flush(len(dates))
	return segs, gaps
}

// DetectFrequency reads how often someone is paid from sorted distinct pay
// dates without gaps: the median interval says weekly (5–9 days), every
// two weeks or twice a month (12–18), monthly (26–35); the same weekday
// most of the time tells bi-weekly from semi-monthly, and two steady days
// of the month confirm semi-monthly. Fewer than three dates: unknown.
// Anything else, or a cadence the dates do not keep: irregular.
func DetectFrequency(dates []time.Time) string {
	if len(dates) < 3 {
		return FrequencyUnknown
	}
	var gaps []int
	for i := 1; i < len(dates); i++ {
		gaps = append(gaps, days(dates[i-1], dates[i]))
	}
	m := median(gaps)
	weekday := modeShare(dates, func(d time.Time) int { return int(d.Weekday()) })
	near := func(lo, hi int) float64 {
		n := 0
		for _, g := range gaps {
			if g >= lo && g <= hi {
				n++
			}
		}
		return float64(n) / float64(len(gaps))
	}
	switch {
	case m >= 5 && m <= 9:
		if weekday >= 0.6 && near(5, 9) >= 0.5 {
			return FrequencyWeekly
		}
	case m >= 12 && m <= 18:
		if weekday >= 0.8 && near(13, 15) >= 0.7 {
			return FrequencyBiweekly
		}
		if semiMonthlyShare(dates) >= 0.7 && near(11, 20) >= 0.7 {
			return FrequencySemiMonthly
		}
	case m >= 26 && m <= 35:
		if near(24, 37) >= 0.7 {
			return FrequencyMonthly
		}
	}
	return FrequencyIrregular
}

func median(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// modeShare is the share of dates whose key is the most common one.
func modeShare(dates []time.Time, key func(time.Time) int) float64 {
	counts := map[int]int{}
	best := 0
	for _, d := range dates {
		counts[key(d)]++
		best = max(best, counts[key(d)])
	}
	return float64(best) / float64(len(dates))
}

// semiMonthlyShare is the share of dates within three days of one of two
// steady days of the month: one in the first half, one counted from the
// month's end.
func semiMonthlyShare(dates []time.Time) float64 {
	first, fromEnd := semiMonthlyDays(dates)
	n := 0
	for _, d := range dates {
		if d.Day() <= 15 && abs(d.Day()-first) <= 3 || d.Day() > 15 && abs(daysToMonthEnd(d)-fromEnd) <= 3 {
			n++
		}
	}
	return float64(n) / float64(len(dates))
}

// semiMonthlyDays returns the typical first-half day of the month and the
// typical number of days before the month's end of second-half pay dates.
func semiMonthlyDays(dates []time.Time) (first, fromEnd int) {
	var a, b []int
	for _, d := range dates {
		if d.Day() <= 15 {
			a = append(a, d.Day())
		} else {
			b = append(b, daysToMonthEnd(d))
		}
	}
	first, fromEnd = 15, 0
	if len(a) > 0 {
		first = median(a)
	}
	if len(b) > 0 {
		fromEnd = median(b)
	}
	return first, fromEnd
}

func daysToMonthEnd(d time.Time) int {
	last := time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC)
	return last.Day() - d.Day()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// payday moves a scheduled day off a weekend to the Friday before, as
// employers pay.
func payday(d time.Time) time.Time {
	switch d.Weekday() {
	case time.Saturday:
		return d.AddDate(0, 0, -1)
	case time.Sunday:
		return d.AddDate(0, 0, -2)
	}
	return d
}

// Schedule returns the paydays of freq in (from, to], oldest first,
// anchored on the pay dates it was read from: weekly and bi-weekly count
// back and forward from the latest pay date, semi-monthly and monthly use
// the typical days of the month (weekends moved to the Friday before).
// Irregular and unknown frequencies have none.
func Schedule(freq string, anchor []time.Time, from, to time.Time) []time.Time {
	if len(anchor) == 0 || !to.After(from) {
		return nil
	}
	var out []time.Time
	add := func(d time.Time) {
		if d.After(from) && !d.After(to) {
			out = append(out, d)
		}
	}
	switch freq {
	case FrequencyWeekly, FrequencyBiweekly:
		step := 7
		if freq == FrequencyBiweekly {
			step = 14
		}
		last := anchor[len(anchor)-1]
		n := int(math.Floor(float64(days(last, from)) / float64(step)))
		for d := last.AddDate(0, 0, step*n); !d.After(to); d = d.AddDate(0, 0, step) {
			add(d)
		}
	case FrequencySemiMonthly, FrequencyMonthly:
		first, fromEnd := semiMonthlyDays(anchor)
		monthly := 0
		if freq == FrequencyMonthly {
			// A monthly date is either a steady day or a steady distance
			// from the month's end: whichever the dates keep better.
			byDay := modeShare(anchor, func(d time.Time) int { return d.Day() })
			byEnd := modeShare(anchor, daysToMonthEnd)
			if byDay > byEnd {
				var ds []int
				for _, d := range anchor {
					ds = append(ds, d.Day())
				}
				monthly = median(ds)
			} else {
				var ds []int
				for _, d := range anchor {
					ds = append(ds, daysToMonthEnd(d))
				}
				monthly, fromEnd = -1, median(ds)
			}
		}
		for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !m.After(to); m = m.AddDate(0, 1, 0) {
			end := m.AddDate(0, 1, -1)
			switch {
			case freq == FrequencySemiMonthly:
				add(payday(m.AddDate(0, 0, first-1)))
				add(payday(end.AddDate(0, 0, -fromEnd)))
			case monthly > 0:
				add(payday(m.AddDate(0, 0, min(monthly, end.Day())-1)))
			default:
				add(payday(end.AddDate(0, 0, -fromEnd)))
			}
		}
	}
	return out
}

// Regularity is how well pay dates kept their schedule over a span.
type Regularity struct {
	Frequency string `json:"frequency"`
	From      Date   `json:"from"`
	To        Date   `json:"to"`
	// Expected is the paydays the schedule had in the span; OnTime those
	// paid within a day of it.
	Expected int `json:"expected"`
	OnTime   int `json:"on_time"`
	// Missed are scheduled paydays nothing was paid near.
	Missed []Date `json:"missed"`
	// Irregular are pay dates off the schedule: shifted more than a day
	// from their payday, or on no payday at all (off-cycle pay).
	Irregular []IrregularDate `json:"irregular"`
}

// IrregularDate is a pay date off its schedule.
type IrregularDate struct {
	Date Date `json:"date"`
	// Shift is days from the nearest payday (negative: early); 0 with
	// OffCycle when no payday was near.
	Shift    int  `json:"shift_days"`
	OffCycle bool `json:"off_cycle"`
}

// Share is the part of expected paydays paid on time (1 when none were
// expected).
func (r Regularity) Share() float64 {
	if r.Expected == 0 {
		return 1
	}
	return float64(r.OnTime) / float64(r.Expected)
}

// CheckRegularity matches sorted distinct pay dates against their
// schedule from the first pay date to asOf (paydays up to a tolerance
// before asOf are expected: a paycheck due yesterday may not be synced
// yet). Each payday takes the nearest unmatched pay date within the
// tolerance; paydays left over were missed, pay dates left over were off
// the schedule.
func CheckRegularity(freq string, dates []time.Time, asOf time.Time) Regularity {
	r := Regularity{Frequency: freq, Missed: []Date{}, Irregular: []IrregularDate{}}
	if len(dates) == 0 {
		return r
	}
	r.From, r.To = DateOf(dates[0]), DateOf(asOf)
	tol := tolerance(freq)
	sched := Schedule(freq, dates, dates[0].AddDate(0, 0, -tol-1), asOf)
	if PeriodsPerYear(freq) == 0 {
		return r
	}
	due := asOf.AddDate(0, 0, -tol)
	used := make([]bool, len(dates))
	for _, s := range sched {
		best := nearest(dates, s, tol, func(i int) bool { return used[i] })
		if best < 0 {
			if !s.After(due) {
				r.Expected++
				r.Missed = append(r.Missed, DateOf(s))
			}
			continue
		}
		r.Expected++
		used[best] = true
		if sh := days(s, dates[best]); abs(sh) > 1 {
			r.Irregular = append(r.Irregular, IrregularDate{Date: DateOf(dates[best]), Shift: sh})
		} else {
			r.OnTime++
		}
	}
	for i, d := range dates {
		if !used[i] && !d.After(asOf) {
			r.Irregular = append(r.Irregular, IrregularDate{Date: DateOf(d), OffCycle: true})
		}
	}
	slices.SortFunc(r.Irregular, func(a, b IrregularDate) int { return a.Date.Compare(b.Date.Time) })
	return r
}

// ---- annualisation ----

// Annualised is a year's pay extrapolated from a window of paystubs.
type Annualised struct {
	Months int  `json:"months"`
	From   Date `json:"from"`
	To     Date `json:"to"`
	// Gross and Net are the annualised figures in cents; SumGross and
	// SumNet what the window's paystubs add up to.
	Gross    int64 `json:"gross_cents"`
	Net      int64 `json:"net_cents"`
	SumGross int64 `json:"sum_gross_cents"`
	SumNet   int64 `json:"sum_net_cents"`
	// Paystubs counts those used; Excluded the bad ones left out.
	Paystubs int `json:"paystubs"`
	Excluded int `json:"excluded"`
	// Paydays is the schedule's paydays in the window (schedule method);
	// Days the days covered (days method).
	Paydays int `json:"paydays,omitempty"`
	Days    int `json:"days,omitempty"`
	// Basis is "schedule" or "days"; Method says it in words.
	Basis  string `json:"basis"`
	Method string `json:"method"`
	// Short says the history is shorter than the window.
	Short bool `json:"short_history"`
}

// Annualise extrapolates a year of pay from the paystubs dated in the
// months before asOf. With a regular schedule (freq, read from the anchor
// pay dates): the window's gross (and net) divided by its paydays, times
// the paydays in a year; a missed payday counts as a payday paid nothing,
// a payday whose only paystub is bad is left out with it. Without one
// (irregular pay, gig payouts): the window's gross divided by the days it
// covers, times 365.25. Either way the window starts no earlier than the
// first pay period of the history. good are the usable paystubs; bad the
// flagged ones (only counted and matched to paydays).
func Annualise(months int, good, bad []PayItem, freq string, anchor []time.Time, historyStart, asOf time.Time) Annualised {
	a := Annualised{Months: months, To: DateOf(asOf)}
	from := asOf.AddDate(0, -months, 0)
	if historyStart.After(from) {
		from, a.Short = historyStart, true
	}
	a.From = DateOf(from)
	in := func(d time.Time) bool { return d.After(from) && !d.After(asOf) }
	var goodDates, badDates []time.Time
	for _, it := range good {
		if !in(it.PayDate) {
			continue
		}
		a.Paystubs++
		a.SumGross += deref(it.Gross)
		a.SumNet += deref(it.Net)
		goodDates = append(goodDates, it.PayDate)
	}
	for _, it := range bad {
		if in(it.PayDate) {
			a.Excluded++
			badDates = append(badDates, it.PayDate)
		}
	}
	window := fmt.Sprintf("%s to %s", a.From, a.To)
	if n := PeriodsPerYear(freq); n > 0 {
		tol := tolerance(freq)
		sortDates := func(ds []time.Time) { slices.SortFunc(ds, func(x, y time.Time) int { return x.Compare(y) }) }
		sortDates(goodDates)
		sortDates(badDates)
		for _, s := range Schedule(freq, anchor, from, asOf) {
			if nearest(badDates, s, tol, nil) >= 0 && nearest(goodDates, s, tol, nil) < 0 {
				continue // paid, but only by a paystub left out
			}
			a.Paydays++
		}
		if a.Paydays > 0 {
			a.Basis = "schedule"
			a.Gross = int64(math.Round(float64(a.SumGross) / float64(a.Paydays) * float64(n)))
			a.Net = int64(math.Round(float64(a.SumNet) / float64(a.Paydays) * float64(n)))
			a.Method = fmt.Sprintf("Gross of the %s dated %s (%s), divided by the %d paydays a %s schedule has in that time, times %d paydays a year.",
				plural(a.Paystubs, "paystub", "paystubs"), window, money(a.SumGross), a.Paydays, freq, n)
			return a.note()
		}
	}
	a.Basis = "days"
	a.Days = days(from, asOf)
	if a.Days > 0 {
		a.Gross = int64(math.Round(float64(a.SumGross) / float64(a.Days) * 365.25))
		a.Net = int64(math.Round(float64(a.SumNet) / float64(a.Days) * 365.25))
	}
	a.Method = fmt.Sprintf("Gross of the %s dated %s (%s), divided by the %d days that covers, times 365.25: pay follows no schedule.",
		plural(a.Paystubs, "paystub", "paystubs"), window, money(a.SumGross), a.Days)
	return a.note()
}

// note adds what was left out and a short history to the method.
func (a Annualised) note() Annualised {
	if a.Excluded > 0 {
		a.Method += fmt.Sprintf(" %s flagged as bad left out.", plural(a.Excluded, "paystub", "paystubs"))
	}
	if a.Short {
		a.Method += " The pay history begins inside the window, so the window starts with it."
	}
	return a
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// money formats cents as dollars for method texts.
func money(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	s := fmt.Sprint(c / 100)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return fmt.Sprintf("%s$%s.%02d", sign, s, c%100)
}

// ---- raises ----

// PayChange is a lasting change of pay: a raise or a cut.
type PayChange struct {
	Date Date `json:"date"`
	// Basis is "hourly rate" or "pay per paycheck".
	Basis   string  `json:"basis"`
	From    int64   `json:"from_cents"`
	To      int64   `json:"to_cents"`
	Percent float64 `json:"percent"`
}

// Raise reports whether the change is up.
func (c PayChange) Raise() bool { return c.To > c.From }

// PayChanges finds lasting changes of pay in good paystubs of one stretch
// (oldest first): of the hourly rate where the earnings give one, else of
// the gross of a regular paycheck. A change counts when it holds for the
// next paystub too (or is the latest) and is at least 1 %; a salaried
// paycheck must have been steady (within 1 %) for the three before.
func PayChanges(items []PayItem) []PayChange {
	var out []PayChange
	rated := 0
	for _, it := range items {
		if it.Rate != nil {
			rated++
		}
	}
	if rated*2 > len(items) {
		var prev int64
		for i, it := range items {
			if it.Rate == nil {
				continue
			}
			r := *it.Rate
			if prev == 0 {
				prev = r
				continue
			}
			if math.Abs(pctChange(prev, r)) < 1 {
				continue
			}
			holds := true
			for _, next := range items[i+1:] {
				if next.Rate != nil {
					holds = *next.Rate == r
					break
				}
			}
			if holds {
				out = append(out, PayChange{Date: DateOf(it.PayDate), Basis: "hourly rate", From: prev, To: r, Percent: round1(pctChange(prev, r))})
				prev = r
			}
		}
		return out
	}
	const k = 3
	for i := k; i < len(items); i++ {
		before := items[i-k : i]
		level := deref(before[0].Gross)
		steady := level > 0
		for _, b := range before {
			if math.Abs(pctChange(level, deref(b.Gross))) > 1 {
				steady = false
			}
		}
		cur := deref(items[i].Gross)
		ch := pctChange(level, cur)
		if !steady || math.Abs(ch) < 1 {
			continue
		}
		if i+1 < len(items) && math.Abs(pctChange(cur, deref(items[i+1].Gross))) > 1 {
			continue
		}
		out = append(out, PayChange{Date: DateOf(items[i].PayDate), Basis: "pay per paycheck", From: level, To: cur, Percent: round1(ch)})
	}
	return out
}

func pctChange(from, to int64) float64 {
	if from == 0 {
		return 0
	}
	return (float64(to) - float64(from)) / float64(from) * 100
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// ---- gig weeks ----

// GigWeek is one week (Monday to Sunday) of shifts.
type GigWeek struct {
	Start  Date    `json:"start"`
	Gross  int64   `json:"gross_cents"`
	Hours  float64 `json:"hours"`
	Shifts int     `json:"shifts"`
}

// Variability describes weekly earnings: their mean, median, spread and
// the weeks without any.
type Variability struct {
	Weeks     int     `json:"weeks"`
	Mean      int64   `json:"mean_cents"`
	Median    int64   `json:"median_cents"`
	StdDev    int64   `json:"std_dev_cents"`
	CV        float64 `json:"coefficient_of_variation"`
	Min       int64   `json:"min_cents"`
	Max       int64   `json:"max_cents"`
	ZeroWeeks int     `json:"zero_weeks"`
}

// mondayOf is the Monday of d's week.
func mondayOf(d time.Time) time.Time { return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) }

// GigWeeks sums shifts by week, every week from the one of from to the one
// of to, weeks without shifts included (as zeros).
func GigWeeks(shifts []PayItem, from, to time.Time) []GigWeek {
	if to.Before(from) {
		return nil
	}
	first, last := mondayOf(from), mondayOf(to)
	n := days(first, last)/7 + 1
	out := make([]GigWeek, n)
	for i := range out {
		out[i].Start = DateOf(first.AddDate(0, 0, 7*i))
	}
	for _, s := range shifts {
		if s.PayDate.Before(first) || s.PayDate.After(to) {
			continue
		}
		w := &out[days(first, mondayOf(s.PayDate))/7]
		w.Gross += deref(s.Gross)
		if s.Hours != nil {
			w.Hours += *s.Hours
		}
		w.Shifts++
	}
	return out
}

// WeeklyVariability describes weeks of earnings.
func WeeklyVariability(weeks []GigWeek) Variability {
	v := Variability{Weeks: len(weeks)}
	if len(weeks) == 0 {
		return v
	}
	g := make([]int64, len(weeks))
	var sum int64
	v.Min = math.MaxInt64
	for i, w := range weeks {
		g[i] = w.Gross
		sum += w.Gross
		v.Min, v.Max = min(v.Min, w.Gross), max(v.Max, w.Gross)
		if w.Gross == 0 {
			v.ZeroWeeks++
		}
	}
	mean := float64(sum) / float64(len(g))
	var sq float64
	for _, x := range g {
		sq += (float64(x) - mean) * (float64(x) - mean)
	}
	sd := math.Sqrt(sq / float64(len(g)))
	slices.Sort(g)
	med := g[len(g)/2]
	if len(g)%2 == 0 {
		med = (g[len(g)/2-1] + g[len(g)/2]) / 2
	}
	v.Mean, v.Median, v.StdDev = int64(math.Round(mean)), med, int64(math.Round(sd))
	if mean > 0 {
		v.CV = math.Round(sd/mean*100) / 100
	}
	return v
}

// ---- deductions ----

// DeductionLine is one kind of deduction or tax over a span of paystubs.
type DeductionLine struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	// Type is pre_tax, post_tax or unknown for deductions; "tax" for taxes.
	Type     string `json:"type"`
	Total    int64  `json:"total_cents"`
	Paystubs int    `json:"paystubs"`
	// PerPaycheck is the average over the paystubs that had it.
	PerPaycheck int64 `json:"per_paycheck_cents"`
}

// DeductionLines adds up the taxes and deductions of paystub bodies by
// name and category, largest first.
func DeductionLines(bodies []string) []DeductionLine {
	type line struct{ Name, Category, Type string }
	totals := map[line]*DeductionLine{}
	var order []line
	for _, b := range bodies {
		var p struct {
			Taxes []struct {
				Name, Category string
				Amount         *float64
			} `json:"taxes"`
			Deductions []struct {
				Name, Category, Type string
				Amount               *float64
			} `json:"deductions"`
		}
		if json.Unmarshal([]byte(b), &p) != nil {
			continue
		}
		add := func(k line, amount *float64) {
			if amount == nil {
				return
			}
			d, ok := totals[k]
			if !ok {
				d = &DeductionLine{Name: k.Name, Category: k.Category, Type: k.Type}
				totals[k] = d
				order = append(order, k)
			}
			d.Total += cents(*amount)
			d.Paystubs++
		}
		for _, t := range p.Taxes {
			add(line{t.Name, t.Category, "tax"}, t.Amount)
		}
		for _, d := range p.Deductions {
			add(line{d.Name, d.Category, cmp.Or(d.Type, "unknown")}, d.Amount)
		}
	}
	out := make([]DeductionLine, 0, len(order))
	for _, k := range order {
		d := *totals[k]
		d.PerPaycheck = d.Total / int64(d.Paystubs)
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Type == "tax") != (out[j].Type == "tax") {
			return out[i].Type != "tax"
		}
		return out[i].Total > out[j].Total
	})
	return out
}

// compensationYear is stated compensation for a year: the amount times the
// unit's count per year (hours: 2080); ok is false for a unit without one.
func compensationYear(amount int64, unit string) (int64, bool) {
	per := map[string]float64{"hourly": 2080, "daily": 260, "weekly": 52, "bi-weekly": 26, "semi-weekly": 104,
		"monthly": 12, "semi-monthly": 24, "annually": 1}[strings.ToLower(unit)]
	if per == 0 {
		return 0, false
	}
	return int64(math.Round(float64(amount) * per)), true
}
