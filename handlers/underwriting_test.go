package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/worker"
)

// runFetches runs the data fetches of a server with the emulator, as
// `linkdesk serve` does, until the test ends.
func (s *testServer) runFetches(t *testing.T) {
	t.Helper()
	p := worker.Fetches(s.admin, s.store)
	p.Rate = 0
	r := worker.NewRunner(s.store, worker.Options{Poll: 20 * time.Millisecond})
	r.Add(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// connectWithPay presets the end user's pay profile at the emulator, then
// runs a first Link session on Workday and waits until the account's
// paystubs, employment and income are stored.
func (s *testServer) connectWithPay(t *testing.T, endUser string, p sandbox.PayProfile) string {
	t.Helper()
	if err := s.driver.SetPayProfile(context.Background(), endUser, "", p); err != nil {
		t.Fatal(err)
	}
	acc := s.connectAccount(t, endUser, "user_good")
	s.waitPaystubs(t, acc, 0)
	return acc
}

// waitPaystubs waits until the account's paystub sync settled with more
// than n paystubs, and its employment and income are stored.
func (s *testServer) waitPaystubs(t *testing.T, acc string, n int) {
	t.Helper()
	ctx := context.Background()
	waitFor(t, "the paystubs of "+acc, func() bool {
		st, err := s.store.PaySyncState(ctx, acc, db.FetchPaystubs)
		if err != nil || st.FullFetchedAt.IsZero() || st.Waiting() || st.Pending > 0 {
			return false
		}
		items, _ := s.store.PayItems(ctx, acc, db.FetchPaystubs)
		o, _ := s.store.AccountOverview(ctx, acc)
		_, emp := o.Latest[db.FetchEmployment]
		_, inc := o.Latest[db.FetchIncome]
		return len(items) > n && emp && inc && fetchesSettled(s.store)
	})
}

// fetchesSettled reports whether no data fetch is queued or running.
func fetchesSettled(store *db.Store) bool {
	st, err := store.JobStats(context.Background())
	if err != nil {
		return false
	}
	for _, k := range st {
		if slices.Contains(db.FetchJobKinds, k.Kind) && k.Depth() > 0 {
			return false
		}
	}
	return true
}

func incomeReport(t *testing.T, s *testServer, path string, cookie *http.Cookie) db.IncomeReport {
	t.Helper()
	rec := s.do(t, "GET", path, nil, cookie)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
	}
	var r db.IncomeReport
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestIncomeReport is issue 16 through the router with the emulator: the
// paystubs of a weekly hourly worker with a raise and two bad paystubs are
// fetched and reported (page, JSON, CSV, as every role may see them); a
// refresh mints an On Demand Update whose new paystub arrives and changes
// the live version; decisions are validated, refused on data that changed,
// recorded and shown on the account and end user pages; the stale
// threshold is a setting.
func TestIncomeReport(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	s.runFetches(t)
	ctx := context.Background()
	acc := s.connectWithPay(t, "eu-income", sandbox.PayProfile{Kind: sandbox.PayKindHourly, Frequency: sandbox.FreqWeekly,
		HistoryMonths: 14, RaisePercent: 8, RaiseMonthsAgo: 5, Anomalies: []string{"non_usd", "duplicate_id"}})
	op := s.login(t, "operator@example.com")
	aud := s.login(t, "auditor@example.com")
	stubs, _ := s.store.PayItems(ctx, acc, db.FetchPaystubs)

	r := incomeReport(t, s, "/accounts/"+acc+"/income.json", op)
	a := r.Accounts[0]
	if a.Frequency != db.FrequencyWeekly || len(a.Annualised) != 3 || a.Employment == nil || a.Stated == nil || a.Stated.Unit != "hourly" ||
		a.Paystubs.Count != len(stubs) || len(a.Changes) != 1 || !a.Changes[0].Raise() || a.Changes[0].Percent != 8 {
		t.Fatalf("report %+v", a)
	}
	var reasons []string
	for _, f := range a.Flagged {
		reasons = append(reasons, f.Reasons...)
	}
	if !slices.Contains(reasons, db.FlagCurrency) || !slices.Contains(reasons, db.FlagDuplicateID) || a.Annualised[0].Excluded == 0 {
		t.Errorf("flagged %+v, 3 months excluded %d", a.Flagged, a.Annualised[0].Excluded)
	}

	t.Run("the page, as an operator and as an auditor", func(t *testing.T) {
		rec := s.do(t, "GET", "/accounts/"+acc+"/income", nil, op)
		body := rec.Body.String()
		for _, want := range []string{"Income and employment report", a.Employment.EmployerName, "Annualised gross", "Weekly", "not in US dollars",
			"duplicate id", `<polyline class="gross"`, "Refresh this data", `name="basis"`, r.Basis.Fingerprint, "Raise of +8.0 %", "watch=income"} {
			if !strings.Contains(body, want) {
				t.Errorf("the report lacks %q", want)
			}
		}
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("status %d, cache %q", rec.Code, rec.Header().Get("Cache-Control"))
		}
		rec = s.do(t, "GET", "/accounts/"+acc+"/income", nil, aud)
		if rec.Code != 200 || strings.Contains(rec.Body.String(), "Refresh this data") || strings.Contains(rec.Body.String(), "Record decision") {
			t.Errorf("auditor: %d, forms shown", rec.Code)
		}
		if rec := s.do(t, "POST", "/accounts/"+acc+"/income/decisions", url.Values{"outcome": {"approved"}, "basis": {r.Basis.Fingerprint}}, aud); rec.Code != 403 {
			t.Errorf("auditor decision: %d", rec.Code)
		}
		rec = s.do(t, "GET", "/accounts/"+acc+"/income?part=report", nil, op)
		if rec.Code != 200 || strings.Contains(rec.Body.String(), "<html") || !strings.Contains(rec.Body.String(), `id="income-report"`) {
			t.Errorf("report part: %d", rec.Code)
		}
		for _, path := range []string{"/accounts/nope/income", "/accounts/nope/paystubs.csv", "/end-users/nope/income"} {
			if rec := s.do(t, "GET", path, nil, op); rec.Code != 404 {
				t.Errorf("%s: %d", path, rec.Code)
			}
		}
		if rec := s.do(t, "GET", "/accounts/nope/income.json", nil, op); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("json 404: %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("the paystubs export", func(t *testing.T) {
		rec := s.do(t, "GET", "/accounts/"+acc+"/paystubs.csv", nil, aud)
		rows, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
		if err != nil || rec.Code != 200 {
			t.Fatalf("csv %d %v", rec.Code, err)
		}
		shifts, _ := s.store.PayItems(ctx, acc, db.FetchShifts)
		if len(rows) != 1+len(stubs)+len(shifts) || rows[0][0] != "account_id" || rows[1][1] != "paystubs" && rows[1][1] != "shifts" {
			t.Errorf("%d rows for %d paystubs and %d shifts; header %v", len(rows), len(stubs), len(shifts), rows[0])
		}
		flagged := 0
		for _, row := range rows[1:] {
			if strings.Contains(row[15], "not in US dollars") {
				flagged++
			}
		}
		if flagged != 1 {
			t.Errorf("%d rows flagged as not in US dollars", flagged)
		}
		audit, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionPayItemsExported})
		if len(audit) != 1 || audit[0].ActorEmail != "auditor@example.com" {
			t.Errorf("export audit %+v", audit)
		}
	})

	t.Run("refresh: a new paystub arrives", func(t *testing.T) {
		live := s.do(t, "GET", "/accounts/"+acc+"/live?watch=income", nil, op)
		before := live.Header().Get("X-Income-Version")
		if before == "" {
			t.Fatal("no income version")
		}
		// Payday: the employer pays again, then the operator refreshes.
		if _, err := s.driver.AddPaystub(ctx, acc, nil); err != nil {
			t.Fatal(err)
		}
		rec := s.do(t, "POST", "/accounts/"+acc+"/income/refresh", url.Values{}, op)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/accounts/"+acc+"/income#acct-"+acc {
			t.Fatalf("refresh: %d %s %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
		}
		reqs := s.linkTokenRequests()
		var body pinwheel.LinkTokenCreate
		json.Unmarshal(reqs[len(reqs)-1].Body, &body)
		if body.AccountID != acc || !slices.Equal(body.RequiredJobs, []string{"income", "employment", "paystubs", "shifts"}) {
			t.Errorf("refresh token request %+v", body)
		}
		links, _, _ := s.store.ListLinks(ctx, db.LinkFilter{AccountID: acc})
		if len(links) == 0 || links[0].Reason != db.IncomeRefreshReason {
			t.Fatalf("links %+v", links)
		}
		page := s.do(t, "GET", "/accounts/"+acc+"/income", nil, updatedCookie(rec, op)).Body.String()
		if !strings.Contains(page, "Refresh requested") || !strings.Contains(page, "/l/"+links[0].LaunchID) {
			t.Errorf("the report does not show the refresh's link")
		}
		l, err := s.store.LaunchByID(ctx, links[0].LaunchID)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.driver.Complete(ctx, l.Token, sandbox.SessionPlan{}); err != nil || res.Outcome != "success" {
			t.Fatalf("the On Demand Update: %+v %v", res, err)
		}
		s.waitPaystubs(t, acc, len(stubs))
		waitFor(t, "a new income version", func() bool {
			return s.do(t, "GET", "/accounts/"+acc+"/live?watch=income", nil, op).Header().Get("X-Income-Version") != before
		})
	})

	t.Run("decisions", func(t *testing.T) {
		r := incomeReport(t, s, "/accounts/"+acc+"/income.json", op)
		rec := s.do(t, "POST", "/accounts/"+acc+"/income/decisions", url.Values{"outcome": {"declined"}, "basis": {r.Basis.Fingerprint}}, op)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), "Say why") {
			t.Errorf("declined without a note: %d", rec.Code)
		}
		rec = s.do(t, "POST", "/accounts/"+acc+"/income/decisions", url.Values{"outcome": {"approved"}, "basis": {strings.Repeat("0", 64)}}, op)
		if rec.Code != 409 || !strings.Contains(rec.Body.String(), "New data arrived") {
			t.Errorf("stale basis: %d", rec.Code)
		}
		// A webhook the emulator held back may still bring new data: then
		// the decision is refused (409) and made again on the new report,
		// as an operator would.
		for i := 0; ; i++ {
			rec = s.do(t, "POST", "/accounts/"+acc+"/income/decisions", url.Values{"outcome": {"more_information"}, "note": {"Ask for the two flagged paystubs"},
				"basis": {r.Basis.Fingerprint}}, op)
			if rec.Code != http.StatusConflict || i == 20 {
				break
			}
			time.Sleep(100 * time.Millisecond)
			r = incomeReport(t, s, "/accounts/"+acc+"/income.json", op)
		}
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("decision: %d %s", rec.Code, rec.Body.String())
		}
		for _, path := range []string{"/accounts/" + acc + "/income", "/accounts/" + acc, "/end-users/eu-income", "/end-users/eu-income/income"} {
			body := s.do(t, "GET", path, nil, op).Body.String()
			if !strings.Contains(body, "More information needed") || !strings.Contains(body, "Ask for the two flagged paystubs") {
				t.Errorf("%s does not show the decision", path)
			}
		}
		if body := s.do(t, "GET", "/accounts/"+acc, nil, op).Body.String(); !strings.Contains(body, "Recorded an underwriting decision") {
			t.Error("the account timeline lacks the decision")
		}
		eu := incomeReport(t, s, "/end-users/eu-income/income.json", op)
		if eu.Total == nil || eu.Total.Accounts != 1 || len(eu.Decisions) != 1 || eu.Decisions[0].Fingerprint != r.Basis.Fingerprint {
			t.Errorf("end user report %+v", eu.Total)
		}
	})

	t.Run("the stale threshold", func(t *testing.T) {
		adm := s.login(t, "admin@example.com")
		if rec := s.do(t, "POST", "/settings/underwriting", url.Values{"stale_days": {"soon"}}, adm); rec.Code != 422 || !strings.Contains(rec.Body.String(), "1 to 365") {
			t.Errorf("bad threshold: %d", rec.Code)
		}
		if rec := s.do(t, "POST", "/settings/underwriting", url.Values{"stale_days": {"7"}}, op); rec.Code != 403 {
			t.Errorf("operator: %d", rec.Code)
		}
		if rec := s.do(t, "POST", "/settings/underwriting", url.Values{"stale_days": {"7"}}, adm); rec.Code != http.StatusSeeOther {
			t.Fatalf("threshold: %d", rec.Code)
		}
		if r := incomeReport(t, s, "/accounts/"+acc+"/income.json", op); r.StaleDays != 7 {
			t.Errorf("stale days %d", r.StaleDays)
		}
		if body := s.do(t, "GET", "/settings", nil, adm).Body.String(); !strings.Contains(body, `value="7"`) {
			t.Error("the settings page does not show the threshold")
		}
	})
}
