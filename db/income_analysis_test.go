package db_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

func d(s string) time.Time { return db.ParseDate(s) }

func i64(n int64) *int64 { return &n }

// stubs builds paystubs paid on dates, each grossing gross(i) cents and
// netting 80 % of it, paid by employer.
func stubs(dates []time.Time, employer string, gross func(i int) int64) []db.PayItem {
	out := make([]db.PayItem, len(dates))
	for i, day := range dates {
		g := gross(i)
		out[i] = db.PayItem{Ref: int64(i + 1), Kind: db.FetchPaystubs, ItemID: fmt.Sprint("p", i), PayDate: day, Currency: "USD",
			Gross: i64(g), Net: i64(g * 8 / 10), EmployerName: employer}
	}
	return out
}

// every returns n dates from start, step days apart.
func every(start string, step, n int) []time.Time {
	var out []time.Time
	for i := range n {
		out = append(out, d(start).AddDate(0, 0, step*i))
	}
	return out
}

// semiMonthly returns the 15th and last day of n months from start's
// month, weekends moved to the Friday before.
func semiMonthly(start string, months int) []time.Time {
	var out []time.Time
	m := d(start)
	for range months {
		for _, day := range []time.Time{m.AddDate(0, 0, 14), m.AddDate(0, 1, -1)} {
			switch day.Weekday() {
			case time.Saturday:
				day = day.AddDate(0, 0, -1)
			case time.Sunday:
				day = day.AddDate(0, 0, -2)
			}
			out = append(out, day)
		}
		m = m.AddDate(0, 1, 0)
	}
	return out
}

func monthly(start string, months int) []time.Time {
	var out []time.Time
	m := d(start)
	for range months {
		day := m.AddDate(0, 1, -1)
		switch day.Weekday() {
		case time.Saturday:
			day = day.AddDate(0, 0, -1)
		case time.Sunday:
			day = day.AddDate(0, 0, -2)
		}
		out = append(out, day)
		m = m.AddDate(0, 1, 0)
	}
	return out
}

func flat(c int64) func(int) int64 { return func(int) int64 { return c } }

func dateStrings(ds []db.Date) []string {
	var out []string
	for _, x := range ds {
		out = append(out, x.String())
	}
	return out
}

// TestAnnualiseAndRegularity: the frequency read from pay dates, the
// regularity of those dates against their schedule, and the annualised
// gross of the last 3, 6 and 12 months, for each schedule and for the
// histories lenders meet: a raise, a gap between jobs, hourly pay with
// overtime, gig weeks.
func TestAnnualiseAndRegularity(t *testing.T) {
	salary := int64(62_400_00)
	weekly := every("2025-01-03", 7, 78)    // Fridays, 18 months
	biweekly := every("2025-01-03", 14, 39) // 18 months
	semi := semiMonthly("2025-01-01", 18)   // 18 months
	month := monthly("2025-01-01", 18)      // 18 months
	asOf := func(ds []time.Time) time.Time { return ds[len(ds)-1].AddDate(0, 0, 1) }
	raised := func(n, at int, from, to int64) func(int) int64 {
		return func(i int) int64 {
			if i >= at {
				return to
			}
			return from
		}
	}
	var overtime []int64 // hourly $25: 40 h plus 0–8 h at $37.50
	for i := range 78 {
		ot := int64(i % 5 * 2)
		overtime = append(overtime, 40*2500+ot*3750)
	}
	// Gig weeks: Tuesdays, some weeks without payout, uneven amounts.
	var gigDates []time.Time
	var gigPay []int64
	for i := range 78 {
		if i%6 == 4 {
			continue
		}
		gigDates = append(gigDates, d("2025-01-07").AddDate(0, 0, 7*i))
		gigPay = append(gigPay, int64(20000+(i*7919)%60000))
	}
	gap := append(every("2024-07-05", 14, 20), every("2025-07-18", 14, 19)...) // 9 months, 16 weeks without pay, then 9

	tests := []struct {
		name      string
		dates     []time.Time
		gross     func(int) int64
		freq      string
		missed    []string
		irregular int
		// annualised gross of 3, 6, 12 months (0: not checked)
		want [3]int64
		// tol is the allowed relative error of want
		tol   float64
		basis string
	}{
		{"weekly salary", weekly, flat(salary / 52), db.FrequencyWeekly, nil, 0, [3]int64{salary, salary, salary}, 0, "schedule"},
		{"bi-weekly salary", biweekly, flat(salary / 26), db.FrequencyBiweekly, nil, 0, [3]int64{salary, salary, salary}, 0, "schedule"},
		{"semi-monthly salary", semi, flat(salary / 24), db.FrequencySemiMonthly, nil, 0, [3]int64{salary, salary, salary}, 0, "schedule"},
		{"monthly salary", month, flat(salary / 12), db.FrequencyMonthly, nil, 0, [3]int64{salary, salary, salary}, 0, "schedule"},
		{"a raise of 10 % three months ago", biweekly, raised(39, 32, salary/26, salary*11/10/26), db.FrequencyBiweekly, nil, 0,
			[3]int64{salary * 11 / 10, 0, 0}, 0.001, "schedule"},
		{"hourly with overtime", weekly, func(i int) int64 { return overtime[i] }, db.FrequencyWeekly, nil, 0, [3]int64{}, 0, "schedule"},
		{"gig weeks", gigDates, func(i int) int64 { return gigPay[i] }, db.FrequencyIrregular, nil, 0, [3]int64{}, 0, "days"},
		{"a gap between jobs", gap, flat(salary / 26), db.FrequencyBiweekly, nil, 0, [3]int64{salary, salary, 0}, 0, "schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := stubs(tt.dates, "Acme", tt.gross)
			segs, gaps := db.Segments(items)
			cur := segs[len(segs)-1]
			stated := ""
			if tt.name == "gig weeks" {
				stated = "variable" // as Pinwheel states a gig platform's pay
			}
			cur.Frequency = db.EffectiveFrequency(cur.Frequency, stated)
			if cur.Frequency != tt.freq {
				t.Errorf("frequency %s, want %s", cur.Frequency, tt.freq)
			}
			end := asOf(tt.dates)
			r := db.CheckRegularity(cur.Frequency, dates(items, cur), end)
			if !slices.Equal(dateStrings(r.Missed), tt.missed) || len(r.Irregular) != tt.irregular {
				t.Errorf("regularity: missed %v, irregular %+v", dateStrings(r.Missed), r.Irregular)
			}
			if tt.freq != db.FrequencyIrregular && r.OnTime != r.Expected {
				t.Errorf("%d of %d on time", r.OnTime, r.Expected)
			}
			if tt.name == "a gap between jobs" && (len(gaps) != 1 || gaps[0].Days != 16*7) {
				t.Errorf("gaps %+v", gaps)
			}
			for i, months := range []int{3, 6, 12} {
				a := db.Annualise(months, items, nil, cur.Frequency, dates(items, cur), tt.dates[0].AddDate(0, 0, -14), end)
				if a.Basis != tt.basis || a.Method == "" {
					t.Errorf("%d months: basis %s, method %q", months, a.Basis, a.Method)
				}
				if w := tt.want[i]; w != 0 && math.Abs(float64(a.Gross-w)) > tt.tol*float64(w)+1 {
					t.Errorf("%d months: annualised %d, want %d (%s)", months, a.Gross, w, a.Method)
				}
				if a.Net != 0 && math.Abs(float64(a.Net)/float64(a.Gross)-0.8) > 0.001 {
					t.Errorf("%d months: net %d of gross %d", months, a.Net, a.Gross)
				}
			}
			switch tt.name {
			case "a raise of 10 % three months ago":
				ch := db.PayChanges(items)
				if len(ch) != 1 || !ch[0].Raise() || ch[0].Percent != 10 || ch[0].Date.String() != tt.dates[32].Format(time.DateOnly) {
					t.Errorf("raises %+v", ch)
				}
				a12 := db.Annualise(12, items, nil, cur.Frequency, dates(items, cur), tt.dates[0], end)
				if a12.Gross <= salary || a12.Gross >= salary*11/10 {
					t.Errorf("12 months across the raise: %d", a12.Gross)
				}
			case "hourly with overtime":
				var sum int64
				for _, x := range overtime[len(overtime)-13:] {
					sum += x
				}
				a3 := db.Annualise(3, items, nil, cur.Frequency, dates(items, cur), tt.dates[0], end)
				if a3.Paystubs != 13 || a3.Gross != int64(math.Round(float64(sum)/13*52)) {
					t.Errorf("3 months of overtime: %+v", a3)
				}
				if ch := db.PayChanges(items); len(ch) != 0 {
					t.Errorf("overtime is no raise: %+v", ch)
				}
			case "gig weeks":
				a12 := db.Annualise(12, items, nil, cur.Frequency, dates(items, cur), tt.dates[0], end)
				var sum int64
				from := end.AddDate(-1, 0, 0)
				for i := range gigDates {
					if gigDates[i].After(from) {
						sum += gigPay[i]
					}
				}
				if a12.Days != 365 || a12.Gross != int64(math.Round(float64(sum)/365*365.25)) {
					t.Errorf("gig 12 months: %+v (sum %d)", a12, sum)
				}
			case "a gap between jobs":
				// Twelve months back reach into the gap: its paydays
				// count as paid nothing.
				a12 := db.Annualise(12, items, nil, cur.Frequency, dates(items, cur), tt.dates[0], end)
				if a12.Gross >= salary*8/10 || !strings.Contains(a12.Method, "paydays a bi-weekly schedule") {
					t.Errorf("12 months over a gap: %+v", a12)
				}
			}
		})
	}
}

func dates(items []db.PayItem, seg db.PaySegment) []time.Time {
	var out []time.Time
	for _, it := range items {
		if !it.PayDate.Before(seg.From.Time) && !it.PayDate.After(seg.To.Time) {
			out = append(out, it.PayDate)
		}
	}
	return out
}

// TestRegularity_MissedAndIrregular: a missed payday, a payday three days
// late, an off-cycle bonus, and paydays due after the last paystub.
func TestRegularity_MissedAndIrregular(t *testing.T) {
	ds := every("2026-01-02", 14, 12)
	ds = slices.Delete(ds, 5, 6)     // 2026-03-13 missed
	ds[7] = ds[7].AddDate(0, 0, 3)   // 2026-04-24 paid 3 days late
	ds = append(ds, d("2026-02-04")) // an off-cycle bonus
	slices.SortFunc(ds, func(a, b time.Time) int { return a.Compare(b) })
	r := db.CheckRegularity(db.FrequencyBiweekly, ds, d("2026-06-25"))
	want := []string{"2026-03-13", "2026-06-19"} // and the one due after the last paystub
	if !slices.Equal(dateStrings(r.Missed), want) {
		t.Errorf("missed %v, want %v", dateStrings(r.Missed), want)
	}
	if len(r.Irregular) != 2 || r.Irregular[0].Date.String() != "2026-02-04" || !r.Irregular[0].OffCycle ||
		r.Irregular[1].Shift != 3 || r.Irregular[1].OffCycle {
		t.Errorf("irregular %+v", r.Irregular)
	}
	if r.Expected != 13 || r.OnTime != 10 || r.Share() >= 0.8 {
		t.Errorf("expected %d, on time %d", r.Expected, r.OnTime)
	}
}

// TestDetectFrequency tells schedules apart that have similar intervals.
func TestDetectFrequency(t *testing.T) {
	for _, tt := range []struct {
		name  string
		dates []time.Time
		want  string
	}{
		{"two dates", every("2026-01-02", 7, 2), db.FrequencyUnknown},
		{"weekly", every("2026-01-02", 7, 20), db.FrequencyWeekly},
		{"weekly, one holiday a day early", append(every("2026-01-02", 7, 10), d("2026-03-12"), d("2026-03-20")), db.FrequencyWeekly},
		{"bi-weekly", every("2026-01-02", 14, 20), db.FrequencyBiweekly},
		{"semi-monthly", semiMonthly("2025-01-01", 12), db.FrequencySemiMonthly},
		{"monthly", monthly("2025-01-01", 12), db.FrequencyMonthly},
		{"every 10 days", every("2026-01-02", 10, 20), db.FrequencyIrregular},
		{"random", []time.Time{d("2026-01-02"), d("2026-01-05"), d("2026-01-30"), d("2026-02-02"), d("2026-03-01")}, db.FrequencyIrregular},
	} {
		slices.SortFunc(tt.dates, func(a, b time.Time) int { return a.Compare(b) })
		if got := db.DetectFrequency(tt.dates); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestFlagItems: each kind of bad paystub is flagged with its reason; good
// ones are not.
func TestFlagItems(t *testing.T) {
	today := db.DateOf(d("2026-06-30"))
	good := func(ref int64, id, pay, ps, pe string) db.PayItem {
		return db.PayItem{Ref: ref, Kind: db.FetchPaystubs, ItemID: id, PayDate: d(pay), PeriodStart: d(ps), PeriodEnd: d(pe),
			Currency: "USD", Gross: i64(100000), Net: i64(80000), EmployerName: "Acme"}
	}
	items := []db.PayItem{
		good(1, "a", "2026-06-05", "2026-05-18", "2026-05-31"),
		good(2, "b", "2026-06-19", "2026-06-01", "2026-06-14"),
	}
	bad := func(ref int64, change func(*db.PayItem)) db.PayItem {
		it := good(ref, fmt.Sprint("x", ref), fmt.Sprintf("2026-0%d-10", ref%5+1), "", "")
		it.PeriodStart, it.PeriodEnd = time.Time{}, time.Time{}
		change(&it)
		return it
	}
	items = append(items,
		bad(3, func(it *db.PayItem) { it.Gross = nil }),
		bad(4, func(it *db.PayItem) { it.Net = i64(-5) }),
		bad(5, func(it *db.PayItem) { it.Gross = i64(-100) }),
		bad(6, func(it *db.PayItem) { it.Currency = "CAD" }),
		bad(7, func(it *db.PayItem) { it.PayDate = d("2026-07-15") }),
		bad(8, func(it *db.PayItem) { it.Net = i64(100001) }),
		bad(9, func(it *db.PayItem) { it.ItemID = "dup" }),
		bad(10, func(it *db.PayItem) { it.ItemID = "dup"; it.Gross = i64(100500) }),
		bad(11, func(it *db.PayItem) { it.PeriodStart, it.PeriodEnd = d("2026-06-10"), d("2026-06-20") }),
		bad(12, func(it *db.PayItem) { it.PayDate = time.Time{} }),
	)
	got := db.FlagItems(items, today)
	want := map[int64]string{3: db.FlagNoGross, 4: db.FlagNegativeNet, 5: db.FlagNegativeGross, 6: db.FlagCurrency, 7: db.FlagFuture,
		8: db.FlagNetAboveGross, 9: db.FlagDuplicateID, 10: db.FlagDuplicateID, 11: db.FlagOverlap, 2: db.FlagOverlap, 12: db.FlagNoPayDate}
	for ref, why := range want {
		if !slices.Contains(got[ref], why) {
			t.Errorf("item %d: reasons %v, want %q", ref, got[ref], why)
		}
	}
	if len(got[1]) != 0 || len(got) != len(want) {
		t.Errorf("flags %v", got)
	}
}

// TestGigWeeks: shifts summed by week, empty weeks kept as zeros, and the
// variability of the weeks.
func TestGigWeeks(t *testing.T) {
	h := 4.0
	shift := func(day string, c int64) db.PayItem {
		return db.PayItem{Kind: db.FetchShifts, PayDate: d(day), Gross: i64(c), Hours: &h, Currency: "USD"}
	}
	weeks := db.GigWeeks([]db.PayItem{shift("2026-06-01", 10000), shift("2026-06-03", 5000), shift("2026-06-18", 30000)},
		d("2026-06-01"), d("2026-06-21"))
	if len(weeks) != 3 || weeks[0].Gross != 15000 || weeks[0].Shifts != 2 || weeks[0].Hours != 8 || weeks[1].Gross != 0 || weeks[2].Gross != 30000 {
		t.Fatalf("weeks %+v", weeks)
	}
	v := db.WeeklyVariability(weeks)
	if v.Mean != 15000 || v.Median != 15000 || v.ZeroWeeks != 1 || v.Min != 0 || v.Max != 30000 || v.StdDev != 12247 || v.CV != 0.82 {
		t.Errorf("variability %+v", v)
	}
}

// TestDeductionLines adds up taxes and deductions across paystubs.
func TestDeductionLines(t *testing.T) {
	body := `{"taxes": [{"name": "Federal Income Tax", "category": "federal_income", "amount": 1000}],
"deductions": [{"name": "401(k)", "category": "retirement", "amount": 500, "type": "pre_tax"}, {"name": "Medical", "category": "medical_insurance", "amount": 4500, "type": "pre_tax"}]}`
	lines := db.DeductionLines([]string{body, body, `not json`})
	if len(lines) != 3 || lines[0].Name != "Medical" || lines[0].Total != 9000 || lines[0].PerPaycheck != 4500 || lines[2].Type != "tax" {
		t.Errorf("lines %+v", lines)
	}
}

// TestIncomeRefresh: the refresh asks for income, employment and paystubs
// or shifts as the platform supports them, and refuses what cannot work.
func TestIncomeRefresh(t *testing.T) {
	pre := db.Preflight{AccountID: "acc", EndUserID: "eu", PlatformID: "p", ConnectedKnown: true, Connected: true}
	for _, tt := range []struct {
		name string
		pre  db.Preflight
		caps db.PlatformCaps
		jobs []string
		err  bool
	}{
		{"unknown capabilities", pre, db.PlatformCaps{}, []string{"income", "employment", "paystubs"}, false},
		{"payroll with shifts", pre, db.PlatformCaps{Known: true, SupportedJobs: []string{"income", "employment", "paystubs", "shifts", "identity"}},
			[]string{"income", "employment", "paystubs", "shifts"}, false},
		{"time and attendance", pre, db.PlatformCaps{Known: true, SupportedJobs: []string{"employment", "shifts", "identity", "income"}},
			[]string{"income", "employment", "shifts"}, false},
		{"nothing to ask", pre, db.PlatformCaps{Known: true, Name: "Billsy", SupportedJobs: []string{"bill_switch"}}, nil, true},
		{"disconnected", db.Preflight{AccountID: "acc", PlatformID: "p", ConnectedKnown: true}, db.PlatformCaps{}, nil, true},
		{"no login reported", db.Preflight{AccountID: "acc"}, db.PlatformCaps{}, nil, true},
	} {
		n, fe := db.IncomeRefresh(tt.pre, tt.caps)
		switch {
		case tt.err && (fe == nil || fe["_form"] == ""):
			t.Errorf("%s: no refusal", tt.name)
		case !tt.err && (fe != nil || !slices.Equal(n.Jobs, tt.jobs) || n.Reason != db.IncomeRefreshReason || n.AccountID != "acc"):
			t.Errorf("%s: %+v %v", tt.name, n, fe)
		}
	}
}
