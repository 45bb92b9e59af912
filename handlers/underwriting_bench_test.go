package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

// BenchmarkIncomeReport measures the income and employment report of an
// end user with 3 accounts and 5 years of weekly paystubs each (260 per
// account, with taxes, deductions, earnings and time off as the emulator
// writes them), through the whole router on a temp database:
//
//	go test ./handlers -run '^$' -bench IncomeReport -benchtime 200x
//
// Each request is server time without the network; the figures are the
// median and p99 (docs/PERFORMANCE.md, "Underwriting").
func BenchmarkIncomeReport(b *testing.B) {
	s := newServer(b)
	seedBorrower(b, s, "bench-borrower", 3, 260)
	env := &benchEnv{srv: s, store: s.store}
	form := url.Values{"email": {db.RoleOperator + "@example.com"}, "password": {testPassword}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "linkdesk" {
			env.cookie = c
		}
	}
	if env.cookie == nil {
		b.Fatalf("login: %d", w.Code)
	}
	for _, pg := range []struct{ name, target string }{
		{"end-user-page", "/end-users/bench-borrower/income"},
		{"end-user-json", "/end-users/bench-borrower/income.json"},
		{"end-user-live-reload", "/end-users/bench-borrower/income?part=report"},
		{"account-page", "/accounts/bench-borrower-acc-0/income"},
	} {
		b.Run(pg.name, func(b *testing.B) { env.measure(b, pg.target) })
	}
}

// seedBorrower gives an end user n accounts with employment, income and
// weeks weekly paystubs each, stored the way the fetch worker stores them
// (the jobs the webhooks queued, finished with their results).
func seedBorrower(b *testing.B, s *testServer, endUser string, n, weeks int) {
	b.Helper()
	ctx := context.Background()
	now := s.clk.now()
	for a := range n {
		acc := fmt.Sprintf("%s-acc-%d", endUser, a)
		ts := now.Add(-time.Hour).Format("2006-01-02T15:04:05.000000+00:00")
		s.ingest(b, added("uw-"+acc, acc, endUser, "p-uw", "Workday", "active", true))
		for _, ev := range []string{"employment.added", "income.added"} {
			s.ingest(b, jobEvent("uw-"+ev+acc, ev, acc, endUser, "success", now, ""))
		}
		s.ingest(b, fmt.Sprintf(`{"event_id": "uw-sync-%s", "event": "paystubs.fully_synced", "payload": {"id": "j", "name": "paystubs",
"timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "tok-uw", "params": {"count": %d},
"account_id": %q, "end_user_id": %q}}`, acc, ts, weeks, acc, endUser))
		var stubs []json.RawMessage
		last := now.AddDate(0, 0, -int(now.Weekday()+2)%7) // the last Friday
		for i := range weeks {
			day := last.AddDate(0, 0, -7*i)
			stubs = append(stubs, benchPaystub(fmt.Sprintf("%s-ps-%d", acc, i), day, 120000+int64(a)*10000+int64(i%7)*1500))
		}
		jobs, err := s.store.ClaimJobs(ctx, db.FetchJobKinds, 100, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		var out []db.JobOutcome
		for _, j := range jobs {
			f, _ := db.ReadFetchJob(j)
			o := db.JobOutcome{Job: j}
			switch f.Data {
			case db.FetchEmployment:
				o.Effect = db.SnapshotFetched{Body: []byte(`{"id": "e", "account_id": "` + f.AccountID + `", "status": "employed", "start_date": "2019-04-01",
"termination_date": null, "employer_name": "Employer ` + f.AccountID + `", "title": "Analyst"}`), RefreshedAt: now}
			case db.FetchIncome:
				o.Effect = db.SnapshotFetched{Body: []byte(`{"id": "i", "account_id": "` + f.AccountID + `", "compensation_amount": 3000,
"compensation_unit": "hourly", "currency": "USD", "pay_frequency": "weekly"}`), RefreshedAt: now}
			case db.FetchPaystubs:
				plan, err := s.store.PayFetchPlan(ctx, f.AccountID, f.Data)
				if err != nil {
					b.Fatal(err)
				}
				o.Effect = db.PayItemsFetched{Plan: plan, Items: stubs, Covered: db.PayCoverage{All: true}, RefreshedAt: now}
			default:
				o.Effect = db.SnapshotFetched{Body: []byte(`{}`)}
			}
			out = append(out, o)
		}
		if err := s.store.FinishJobs(ctx, out); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPaystub is a weekly paystub shaped like the emulator's.
func benchPaystub(id string, payDay time.Time, gross int64) json.RawMessage {
	end := payDay.AddDate(0, 0, -6)
	taxes := []int64{gross / 10, gross * 62 / 1000, gross * 14 / 1000, gross * 4 / 100}
	deds := []int64{gross * 5 / 100, 2250, 400}
	var tt, td int64
	for _, x := range taxes {
		tt += x
	}
	for _, x := range deds {
		td += x
	}
	return json.RawMessage(fmt.Sprintf(`{"id": %q, "created_at": "2026-01-01T00:00:00.000000+00:00", "account_id": "a", "pay_date": %q,
"pay_period_start": %q, "pay_period_end": %q, "currency": "USD", "gross_pay_amount": %d, "net_pay_amount": %d, "check_amount": %d,
"gross_pay_ytd": null, "net_pay_ytd": null, "total_taxes": %d, "total_deductions": %d, "total_reimbursements": 0, "external_paystub_id": null,
"employer_name": "Employer", "taxes": [{"name": "Federal Income Tax", "category": "federal_income", "amount": %d},
{"name": "Employee Social Security Tax", "category": "social_security", "amount": %d}, {"name": "Employee Medicare Tax", "category": "medicare", "amount": %d},
{"name": "State Income Tax", "category": "state_income", "amount": %d}], "deductions": [{"name": "401(k)", "category": "retirement", "amount": %d, "type": "pre_tax"},
{"name": "Medical", "category": "medical_insurance", "amount": %d, "type": "pre_tax"}, {"name": "Dental", "category": "dental", "amount": %d, "type": "pre_tax"}],
"earnings": [{"name": "Regular", "category": "hourly", "amount": %d, "rate": 3000, "hours": 40.0}], "time_off": [{"name": "PTO", "category": "pto",
"available_hours": 40.0, "earned_hours": 3.08, "used_hours": 0.0}], "document": {"id": "doc-%s", "download_url": "https://x/%s", "download_url_expiration": null}}`,
		id, payDay.Format(time.DateOnly), end.AddDate(0, 0, -6).Format(time.DateOnly), end.Format(time.DateOnly), gross, gross-tt-td, gross-tt-td,
		tt, td, taxes[0], taxes[1], taxes[2], taxes[3], deds[0], deds[1], deds[2], gross, id, id))
}
