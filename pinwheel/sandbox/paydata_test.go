package sandbox

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

// TestPayHistories: each kind of pay profile generates the history it
// promises, the same one every time: regular salaried pay on each
// schedule, hourly pay with overtime, a raise, a gap between jobs with
// another employer before it, an ended job, uneven gig weeks paid every
// Tuesday, and the bad paystubs a profile asks for.
func TestPayHistories(t *testing.T) {
	created := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
	doordash := inventedID("DoorDash")
	acct := func(id string, platform string, p *PayProfile) *account {
		return &account{ID: id, PlatformID: platform, CreatedAt: created, SyncedThrough: created, Pay: p}
	}
	gaps := func(stubs []stubItem) []int {
		var out []int
		for i := 1; i < len(stubs); i++ {
			out = append(out, int(ParseDate(stubs[i-1].PayDate).Sub(ParseDate(stubs[i].PayDate)).Hours()/24))
		}
		return out
	}
	tests := []struct {
		name  string
		acc   *account
		check func(t *testing.T, stubs []stubItem, shifts []pinwheel.Shift)
	}{
		{"salaried bi-weekly", acct("acc-1", workdayID, &PayProfile{Kind: PayKindSalaried, Frequency: FreqBiweekly, HistoryMonths: 12}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				if n := len(stubs); n < 25 || n > 27 {
					t.Errorf("%d paystubs in a year", n)
				}
				for _, g := range gaps(stubs) {
					if g != 14 {
						t.Fatalf("gaps %v", gaps(stubs))
					}
				}
				for _, s := range stubs {
					if s.GrossPayAmount != stubs[0].GrossPayAmount || s.NetPayAmount != s.GrossPayAmount-s.TotalTaxes-s.TotalDeductions {
						t.Fatalf("salaried pay varies or does not add up: %+v", s.Paystub)
					}
				}
			}},
		{"salaried semi-monthly", acct("acc-2", workdayID, &PayProfile{Kind: PayKindSalaried, Frequency: FreqSemiMonthly, HistoryMonths: 12}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				if n := len(stubs); n < 23 || n > 25 {
					t.Errorf("%d paystubs in a year", n)
				}
				for _, s := range stubs {
					d := ParseDate(s.PayDate)
					if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday || d.Day() > 15 && d.AddDate(0, 0, 3).Month() == d.Month() {
						t.Fatalf("pay date %s is not the 15th or the month's last business day", s.PayDate)
					}
				}
			}},
		{"salaried monthly", acct("acc-3", workdayID, &PayProfile{Kind: PayKindSalaried, Frequency: FreqMonthly, HistoryMonths: 12}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				if n := len(stubs); n < 11 || n > 13 {
					t.Errorf("%d paystubs in a year", n)
				}
			}},
		{"hourly weekly with overtime and a raise", acct("acc-4", workdayID, &PayProfile{Kind: PayKindHourly, Frequency: FreqWeekly,
			HistoryMonths: 12, RaisePercent: 10, RaiseMonthsAgo: 6}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				for _, g := range gaps(stubs) {
					if g != 7 {
						t.Fatalf("gaps %v", gaps(stubs))
					}
				}
				ot, rates := 0, map[float64]bool{}
				for _, s := range stubs {
					rates[*s.Earnings[0].Rate] = true
					if len(s.Earnings) == 2 {
						ot++
						if e := s.Earnings[1]; e.Category != "overtime" || *e.Rate != math.Round(*s.Earnings[0].Rate*1.5) {
							t.Errorf("overtime line %+v", e)
						}
					}
				}
				if ot == 0 || ot == len(stubs) {
					t.Errorf("%d of %d weeks with overtime", ot, len(stubs))
				}
				if len(rates) != 2 {
					t.Errorf("rates %v, want the old and the raised one", rates)
				}
			}},
		{"a gap between jobs", acct("acc-5", workdayID, &PayProfile{Kind: PayKindSalaried, Frequency: FreqBiweekly, HistoryMonths: 24,
			GapWeeks: 10, GapEndMonthsAgo: 8}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				long := 0
				for _, g := range gaps(stubs) {
					if g > 14 {
						long++
						if g < 70 {
							t.Errorf("gap of %d days, want 10 weeks or more", g)
						}
					}
				}
				if long != 1 || *stubs[0].EmployerName == *stubs[len(stubs)-1].EmployerName {
					t.Errorf("one gap and two employers expected: gaps %v, %s then %s", gaps(stubs), *stubs[len(stubs)-1].EmployerName, *stubs[0].EmployerName)
				}
				e := genEmployment(acct("acc-5", workdayID, &PayProfile{Kind: PayKindSalaried, Frequency: FreqBiweekly, HistoryMonths: 24, GapWeeks: 10, GapEndMonthsAgo: 8}))
				if *e.StartDate != "2025-10-24" || *e.Status != "employed" {
					t.Errorf("employment %s %s: the current job starts after the gap", *e.StartDate, *e.Status)
				}
			}},
		{"an ended job", acct("acc-6", workdayID, &PayProfile{Kind: PayKindHourly, Frequency: FreqBiweekly, HistoryMonths: 12, EndedMonthsAgo: 3}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				if stubs[0].PayDate > "2026-03-24" {
					t.Errorf("paid after the job ended: %s", stubs[0].PayDate)
				}
			}},
		{"gig worker", acct("acc-7", doordash, nil),
			func(t *testing.T, stubs []stubItem, shifts []pinwheel.Shift) {
				weekly := map[string]int64{}
				for _, s := range shifts {
					ws := ParseDate(s.StartDate)
					ws = ws.AddDate(0, 0, -((int(ws.Weekday()) + 6) % 7))
					weekly[formatDate(ws)] += s.Earnings[0].Amount + s.Earnings[1].Amount
				}
				var lo, hi int64 = math.MaxInt64, 0
				for _, v := range weekly {
					lo, hi = min(lo, v), max(hi, v)
				}
				if len(shifts) < 100 || hi < 2*lo {
					t.Errorf("%d shifts, weeks from %d to %d cents: not uneven", len(shifts), lo, hi)
				}
				for _, s := range stubs {
					if ParseDate(s.PayDate).Weekday() != time.Tuesday || s.TotalTaxes != 0 || s.NetPayAmount != s.GrossPayAmount {
						t.Fatalf("gig payout %+v", s.Paystub)
					}
					if w := weekly[*s.PayPeriodStart]; w != s.GrossPayAmount {
						t.Fatalf("payout %s pays %d, the week's shifts earned %d", s.PayDate, s.GrossPayAmount, w)
					}
				}
				if genIncome(acct("acc-7", doordash, nil)).PayFrequency == nil || *genIncome(acct("acc-7", doordash, nil)).PayFrequency != FreqVariable {
					t.Error("gig income is not variable")
				}
			}},
		{"anomalies", acct("acc-8", workdayID, &PayProfile{Kind: PayKindSalaried, Frequency: FreqBiweekly, HistoryMonths: 12, Anomalies: PayAnomalies}),
			func(t *testing.T, stubs []stubItem, _ []pinwheel.Shift) {
				ids, seen := map[string]int{}, map[string]bool{}
				for _, s := range stubs {
					ids[s.ID]++
					o := s.wire(nil)
					b := apiJSON(o)
					var m map[string]any
					if err := json.Unmarshal(b, &m); err != nil {
						t.Fatal(err)
					}
					switch {
					case m["currency"] != "USD":
						seen["non_usd"] = true
					case m["gross_pay_amount"] == nil:
						seen["missing_gross"] = true
					case m["net_pay_amount"].(float64) < 0:
						seen["negative_net"] = true
					case s.PayDate > "2026-06-24":
						seen["future_pay_date"] = true
					}
				}
				for _, n := range ids {
					if n == 2 {
						seen["duplicate_id"] = true
					}
				}
				if len(stubs) != 26+3 {
					t.Errorf("%d paystubs: 26 plus the three added", len(stubs))
				}
				for _, x := range []string{"non_usd", "missing_gross", "negative_net", "future_pay_date", "duplicate_id"} {
					if !seen[x] {
						t.Errorf("no %s paystub", x)
					}
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stubs, shifts := genPaystubs(tt.acc), genShifts(tt.acc)
			again := genPaystubs(tt.acc)
			if len(stubs) == 0 || len(stubs) != len(again) || stubs[0].ID != again[0].ID || stubs[0].GrossPayAmount != again[0].GrossPayAmount {
				t.Fatal("no history, or not the same twice")
			}
			if !slices.IsSortedFunc(stubs, func(a, b stubItem) int {
				if a.sortKey() > b.sortKey() {
					return -1
				}
				return 1
			}) {
				t.Error("not newest first")
			}
			tt.check(t, stubs, shifts)
		})
	}
}

// TestPayProfileValidation refuses profiles the generator cannot honour.
func TestPayProfileValidation(t *testing.T) {
	ok := PayProfile{Kind: PayKindHourly, Frequency: FreqWeekly, HistoryMonths: 60}
	for _, tt := range []struct {
		name  string
		p     PayProfile
		field string
	}{
		{"ok", ok, ""},
		{"gig", PayProfile{Kind: PayKindGig, Frequency: FreqVariable, HistoryMonths: 12}, ""},
		{"kind", PayProfile{Kind: "wizard", Frequency: FreqWeekly, HistoryMonths: 12}, "kind"},
		{"frequency", PayProfile{Kind: PayKindHourly, Frequency: "daily", HistoryMonths: 12}, "frequency"},
		{"history", PayProfile{Kind: PayKindHourly, Frequency: FreqWeekly, HistoryMonths: 100}, "history_months"},
		{"raise outside", PayProfile{Kind: PayKindHourly, Frequency: FreqWeekly, HistoryMonths: 12, RaisePercent: 5, RaiseMonthsAgo: 13}, "raise_months_ago"},
		{"gap outside", PayProfile{Kind: PayKindHourly, Frequency: FreqWeekly, HistoryMonths: 12, GapWeeks: 30, GapEndMonthsAgo: 6}, "gap_end_months_ago"},
		{"gig gap", PayProfile{Kind: PayKindGig, HistoryMonths: 12, GapWeeks: 3, GapEndMonthsAgo: 2}, "gap_weeks"},
		{"anomaly", PayProfile{Kind: PayKindHourly, Frequency: FreqWeekly, HistoryMonths: 12, Anomalies: []string{"typo"}}, "anomalies"},
	} {
		err := tt.p.validate()
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.field != "" && (err == nil || len(err.Fields) == 0 || err.Fields[0].Name != tt.field):
			t.Errorf("%s: got %v, want an error on %s", tt.name, err, tt.field)
		}
	}
}
