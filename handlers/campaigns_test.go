package handlers_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/worker"
)

// sampleCampaign is a draft campaign (an identity refresh for every
// account) for the route table test.
func sampleCampaign(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	sampleAccount(t, s)
	list, _, err := s.store.ListCampaigns(ctx, db.CampaignFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > 0 && list[0].Editable() {
		return strconv.FormatInt(list[0].ID, 10)
	}
	op := staffActor(t, s, db.RoleOperator)
	id, err := s.store.CreateCampaign(ctx, op, db.CampaignInput{Name: "Sample refresh", Goal: db.GoalIdentity, IncentiveAmount: "5",
		LifetimeDays: "7", HoldDays: "0", HoldoutPct: "10", Cohort: url.Values{}})
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(id, 10)
}

// runJobs runs the campaign job kinds on the test server's store until the
// test ends.
func runJobs(t *testing.T, s *testServer) *worker.Runner {
	t.Helper()
	r := worker.NewRunner(s.store, worker.Options{Poll: 20 * time.Millisecond})
	r.Add(worker.CampaignLaunches(odu.New(odu.Config{Store: s.store}), s.store))
	r.Add(worker.CampaignHolds(s.store))
	r.Add(worker.CohortAllocations(s.store))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// storeAllocations stores an allocations snapshot of an account (toUs
// cents to the deposit account ••6789 at routing 021000021, 0 for none)
// taken at at: the webhook, then the fetch job's result, as the worker
// stores it.
func storeAllocations(t *testing.T, s *testServer, account string, toUs int64, at time.Time) {
	t.Helper()
	ctx := context.Background()
	s.ingest(t, jobEvent("alloc-"+account+"-"+strconv.FormatInt(at.UnixNano(), 36), "direct_deposit_allocations.added", account, "eu-"+account, "success", at, ""))
	rows := `{"account_name": "Elsewhere", "allocation_type": "remainder", "amount": null, "masked_account_number": "4321", "routing_number": "011000015", "percentage": null, "priority": 2, "currency": "USD"}`
	if toUs > 0 {
		rows = fmt.Sprintf(`{"account_name": "Payroll Checking", "allocation_type": "amount", "amount": %d, "masked_account_number": "6789", "routing_number": "021000021", "percentage": null, "priority": 1, "currency": "USD"}, `, toUs) + rows
	}
	body := fmt.Sprintf(`{"id": "a-%s", "account_id": %q, "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00", "allocations": [%s]}`, account, account, rows)
	jobs, err := s.store.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchDDAllocations)}, 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim the allocation fetch: %d jobs, %v", len(jobs), err)
	}
	if err := s.store.FinishJobs(ctx, []db.JobOutcome{{Job: jobs[0], Effect: db.SnapshotFetched{Body: []byte(body), RefreshedAt: at}}}); err != nil {
		t.Fatal(err)
	}
}

// campaignForm is a valid draft for accounts with no allocation to us.
func campaignForm(deposit int64) url.Values {
	return url.Values{"name": {"Move $200, get $50"}, "goal": {db.GoalAllocation}, "deposit_account": {strconv.FormatInt(deposit, 10)},
		"ask": {db.AskMinimum}, "ask_amount": {"200"}, "incentive_amount": {"50"}, "lifetime_days": {"14"}, "hold_days": {"30"},
		"holdout_pct": {"50"}, "tags": {"channel=email"}, "alloc": {"none"}, "exclude_live": {"yes"}}
}

// follow reads the page a 303 leads to, with the session's flash.
func follow(t *testing.T, s *testServer, rec *httptestRecorder, c *http.Cookie) (string, *http.Cookie) {
	t.Helper()
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("got %d, want 303: %s", rec.Code, rec.Body.String())
	}
	c = updatedCookie(rec, c)
	page := s.do(t, "GET", rec.Header().Get("Location"), nil, c)
	return page.Body.String(), updatedCookie(page, c)
}

func TestCampaigns_DraftApproveLaunchTrack(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	ctx := context.Background()
	runJobs(t, s)
	adminA := staffActor(t, s, db.RoleAdmin)
	dep, err := s.store.CreateDepositAccount(ctx, adminA, db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "4400556789"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		a := fmt.Sprintf("acct-%02d", i)
		s.ingest(t, added("added-"+a, a, "eu-"+a, "5965580e-380f-4b86-8a8a-7278c77f73cb", "Workday", "active", true))
		toUs := int64(0)
		if i >= 25 {
			toUs = 50000 // already sends us $500: not in the cohort
		}
		storeAllocations(t, s, a, toUs, browseStart.Add(-time.Hour))
	}
	op := s.login(t, "operator@example.com")
	adm := s.login(t, "admin@example.com")
	aud := s.login(t, "auditor@example.com")

	// The form: the filters in the URL give a live count.
	rec := s.do(t, "GET", "/campaigns/new?alloc=none", nil, op)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-count="25"`) {
		t.Fatalf("new form: %d %s", rec.Code, rec.Body.String())
	}
	req := s.do(t, "GET", "/campaigns/cohort?goal=allocation&alloc=amount_below&alloc_amount=600", nil, op)
	if !strings.Contains(req.Body.String(), `data-count="30"`) {
		t.Errorf("cohort preview below $600: %s", req.Body.String())
	}
	req = s.do(t, "GET", "/campaigns/cohort?goal=allocation&alloc=percent_below&alloc_pct=140&platform=nope", nil, op)
	if body := req.Body.String(); !strings.Contains(body, "at most 100") || !strings.Contains(body, "choose one from the list") {
		t.Errorf("bad filters: %s", body)
	}

	// Bad input re-renders inline with 422; an auditor changes nothing.
	bad := campaignForm(dep.ID)
	bad.Set("lifetime_days", "91")
	bad.Set("holdout_pct", "0")
	bad.Set("alloc", "remainder")
	rec = s.do(t, "POST", "/campaigns", bad, op)
	if body := rec.Body.String(); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, "Links live 1 to 90 days.") ||
		!strings.Contains(body, "holdout-warning") {
		t.Errorf("bad draft: %d", rec.Code)
	}
	if rec = s.do(t, "POST", "/campaigns", campaignForm(dep.ID), aud); rec.Code != http.StatusForbidden {
		t.Errorf("auditor drafted: %d", rec.Code)
	}

	rec = s.do(t, "POST", "/campaigns", campaignForm(dep.ID), op)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("draft: %d %s", rec.Code, rec.Body.String())
	}
	path := rec.Header().Get("Location")
	id, _ := strconv.ParseInt(strings.TrimPrefix(path, "/campaigns/"), 10, 64)

	// Launch before approval: refused with the reason.
	body, op := follow(t, s, s.do(t, "POST", path+"/launch", url.Values{}, op), op)
	if !strings.Contains(body, "needs an admin") {
		t.Errorf("launch before approval: %s", body)
	}
	// The admin approves (she did not draft it).
	body, adm = follow(t, s, s.do(t, "POST", path+"/approve", url.Values{}, adm), adm)
	if !strings.Contains(body, "Approved") || !strings.Contains(body, `data-state="approved"`) {
		t.Fatalf("approve: %s", body)
	}
	// Launching asks first (the page's button leads to the question), and
	// says what will happen; an auditor may not ask.
	if page := s.do(t, "GET", path, nil, op).Body.String(); !strings.Contains(page, `href="`+path+`/launch" role="button"`) {
		t.Error("the campaign page's Launch does not ask first")
	}
	ask := s.do(t, "GET", path+"/launch", nil, op).Body.String()
	for _, want := range []string{"Launch “", "25 accounts match now", "50.0% of them are held out", "valid for 14 days", "cannot be undone", `action="` + path + `/launch" method="post"`} {
		if !strings.Contains(ask, want) {
			t.Errorf("the launch's question lacks %q", want)
		}
	}
	if rec := s.do(t, "GET", path+"/launch", nil, aud); rec.Code != http.StatusForbidden {
		t.Errorf("an auditor may ask to launch: %d", rec.Code)
	}
	if c, _ := s.store.CampaignByID(ctx, id); c.Launched() {
		t.Fatal("the question launched the campaign")
	}
	body, op = follow(t, s, s.do(t, "POST", path+"/launch", url.Values{}, op), op)
	if !strings.Contains(body, "Launching") {
		t.Fatalf("launch: %s", body)
	}
	// A second click changes nothing twice.
	body, op = follow(t, s, s.do(t, "POST", path+"/launch", url.Values{}, op), op)
	if !strings.Contains(body, "already launched") {
		t.Errorf("second launch: %s", body)
	}
	var c db.Campaign
	waitFor(t, "the launch to finish", func() bool {
		c, err = s.store.CampaignByID(ctx, id)
		return err == nil && c.State == db.CampaignLive
	})
	if c.Members != 25 || c.LinksCreated != c.Treatment || c.Holdout == 0 {
		t.Fatalf("after launch: %+v", c)
	}
	// Editing a launched campaign is refused.
	body, op = follow(t, s, s.do(t, "POST", path, campaignForm(dep.ID), op), op)
	if !strings.Contains(body, "can no longer change") {
		t.Errorf("edit after launch: %s", body)
	}

	// The progress fragment, and the stream, which ends with the launch
	// done (a last "done" event closes it in the page).
	preq := s.do(t, "GET", path+"/progress", nil, op)
	if !strings.Contains(preq.Body.String(), `data-state="live"`) {
		t.Errorf("progress: %s", preq.Body.String())
	}
	sreq := httptest.NewRequest("GET", path+"/progress", nil)
	sreq.Header.Set("Accept", "text/event-stream")
	sreq.AddCookie(op)
	srec := httptest.NewRecorder()
	s.ServeHTTP(srec, sreq)
	if body := srec.Body.String(); !strings.Contains(body, "event: progress\n") || !strings.Contains(body, `data-state="live"`) ||
		!strings.Contains(body, "event: done\n") {
		t.Errorf("progress stream: %q", body)
	}

	// Members list, filtered and paged; the token and timeline name the
	// campaign; the exports carry launch URLs for operators only.
	rec = s.do(t, "GET", path+"/members?group=treatment", nil, aud)
	if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `data-group="treatment"`) != int(c.Treatment) {
		t.Errorf("members: %d", rec.Code)
	}
	// Like every list: applied on change, the filter as a chip with its
	// count, "N of M".
	for _, want := range []string{`aria-label="Filter members" data-autosubmit`, `class="chip-n">` + itoa(c.Treatment) + `<`,
		`href="` + path + `/members" class="chip-x"`, itoa(c.Treatment) + " of 25 members match"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("members list lacks %q", want)
		}
	}
	if body := s.do(t, "GET", path+"/members?stage=page_opened", nil, aud).Body.String(); !strings.Contains(body, "Stage: <strong>") || strings.Contains(body, `id="list-count"`) {
		t.Error("a stage filter: no chip, or a count the page cannot know")
	}
	if rec = s.do(t, "GET", path+"/members?stage=nope", nil, aud); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("bad stage filter: %d", rec.Code)
	}
	exp := s.do(t, "GET", path+"/members.csv?group=treatment", nil, op)
	recs, err := csv.NewReader(strings.NewReader(exp.Body.String())).ReadAll()
	if err != nil || len(recs) != int(c.Treatment)+1 || recs[0][6] != "launch_url" || !strings.HasPrefix(recs[1][6], "http://example.test/l/") {
		t.Fatalf("operator export: %v %v", err, recs[:min(2, len(recs))])
	}
	exp = s.do(t, "GET", path+"/members.csv?group=treatment", nil, aud)
	recs, _ = csv.NewReader(strings.NewReader(exp.Body.String())).ReadAll()
	if len(recs) < 2 || recs[1][6] != "" {
		t.Errorf("auditor export has launch URLs: %v", recs[:min(2, len(recs))])
	}
	if jl := s.do(t, "GET", path+"/members.jsonl", nil, op); strings.Count(jl.Body.String(), "\n") != int(c.Members) {
		t.Errorf("jsonl lines: %d", strings.Count(jl.Body.String(), "\n"))
	}
	log, _, err := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionCampaignMembersExport, Limit: 10})
	if err != nil || len(log) != 3 {
		t.Errorf("exports audited: %d %v", len(log), err)
	}

	// A treatment member goes through the launch page; their account page
	// and the token show the campaign.
	members, _, _ := s.store.ListCampaignMembers(ctx, id, db.MemberFilter{Group: db.GroupTreatment, Limit: 1})
	m := members[0]
	if _, err := s.store.RecordLaunchEvent(ctx, m.LaunchID, db.EventPageOpened, nil); err != nil {
		t.Fatal(err)
	}
	acct := s.do(t, "GET", "/accounts/"+m.AccountID, nil, aud).Body.String()
	if !strings.Contains(acct, `id="account-campaigns"`) || !strings.Contains(acct, `data-stage="page_opened"`) {
		t.Errorf("account page lacks the campaign")
	}
	if tok := s.do(t, "GET", "/tokens/"+m.TokenID, nil, aud).Body.String(); !strings.Contains(tok, `id="token-campaign"`) {
		t.Errorf("token page lacks the campaign")
	}
	if tl := s.do(t, "GET", "/tokens", nil, aud).Body.String(); !strings.Contains(tl, "campaign-ref") {
		t.Errorf("token list lacks the campaign")
	}

	// Conversions: the member moves $250 to us; a holdout member moves
	// $300 on their own. The campaign page shows both and the uplift.
	s.clk.set(browseStart.Add(2 * time.Hour))
	storeAllocations(t, s, m.AccountID, 25000, browseStart.Add(90*time.Minute))
	hold, _, _ := s.store.ListCampaignMembers(ctx, id, db.MemberFilter{Group: db.GroupHoldout, Limit: 1})
	storeAllocations(t, s, hold[0].AccountID, 30000, browseStart.Add(100*time.Minute))
	page := s.do(t, "GET", path, nil, aud).Body.String()
	for _, want := range []string{`id="funnel-treatment"`, `id="uplift-ci"`, `id="conversions-chart"`, `id="ledger-holding">1<`, "Move $200 or more of each paycheck and get $50"} {
		if !strings.Contains(page, want) {
			t.Errorf("campaign page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="mark-paid"`) {
		t.Error("Mark paid offered with nothing eligible")
	}
	// Dashboard and list.
	if home := s.do(t, "GET", "/", nil, aud).Body.String(); !strings.Contains(home, fmt.Sprintf(`data-campaign="%d"`, id)) {
		t.Error("dashboard lacks the live campaign")
	}
	if list := s.do(t, "GET", "/campaigns", nil, aud).Body.String(); !strings.Contains(list, "Move $200, get $50") {
		t.Error("list lacks the campaign")
	}
	// The list has the filter style of every list: applies on change, a
	// chip with its count, the count line.
	mustContain(t, "the list", s.do(t, "GET", "/campaigns", nil, aud).Body.String(), `aria-label="Filter campaigns" data-autosubmit`, `id="list-count" role="status">1 campaign</p>`)
	mustContain(t, "the live campaigns", s.do(t, "GET", "/campaigns?state=live", nil, aud).Body.String(),
		`id="list-count" role="status">1 of 1 campaign matches</p>`, `State: <strong>live</strong></span> <span class="chip-n">1</span>`, `<a href="/campaigns" class="chip-x"`)
	mustContain(t, "the drafts", s.do(t, "GET", "/campaigns?state=draft", nil, aud).Body.String(), `0 of 1 campaign match`, "No campaign is draft.")

	// The hold period passes; the job makes the incentive eligible; the
	// admin marks it paid (an operator may not).
	s.clk.set(browseStart.Add(31 * 24 * time.Hour))
	if _, err := s.store.EnqueueJob(ctx, db.NewJob{Kind: db.JobCampaignHolds, DedupeKey: "all"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the incentive to become eligible", func() bool {
		r, err := s.store.CampaignResults(ctx, c)
		return err == nil && r.Treatment.Ledger[db.LedgerEligible] == 1
	})
	adm, op = s.login(t, "admin@example.com"), s.login(t, "operator@example.com") // a month later: signed out
	page = s.do(t, "GET", path, nil, adm).Body.String()
	if !strings.Contains(page, `id="mark-paid"`) {
		i := strings.Index(page, `id="ledger"`)
		t.Fatalf("no Mark paid for the admin: %s", page[i:min(len(page), i+2000)])
	}
	// Mark paid asks first, with how many and how much; the answer's form
	// carries the time the question was asked.
	if !strings.Contains(page, `href="`+path+`/payouts" role="button"`) {
		t.Error("Mark paid does not ask first")
	}
	ask = s.do(t, "GET", path+"/payouts", nil, adm).Body.String()
	for _, want := range []string{"1 incentive eligible now ($50.00)", "Linkdesk moves no money", "Mark 1 incentive paid", `action="` + path + `/payouts" method="post"`} {
		if !strings.Contains(ask, want) {
			t.Errorf("the payout's question lacks %q", want)
		}
	}
	if rec := s.do(t, "GET", path+"/payouts", nil, op); rec.Code != http.StatusForbidden {
		t.Errorf("an operator may ask to mark paid: %d", rec.Code)
	}
	m2 := regexp.MustCompile(`name="through" value="([^"]+)"`).FindStringSubmatch(ask)
	if m2 == nil {
		t.Fatal("the payout's question carries no time")
	}
	through := html.UnescapeString(m2[1])
	if rec := s.do(t, "POST", path+"/payouts", url.Values{"through": {through}}, op); rec.Code != http.StatusForbidden {
		t.Errorf("operator paid: %d", rec.Code)
	}
	body, _ = follow(t, s, s.do(t, "POST", path+"/payouts", url.Values{"through": {through}}, adm), adm)
	if !strings.Contains(body, "Marked 1 incentive paid ($50.00)") || !strings.Contains(body, `id="payouts"`) {
		t.Errorf("payout: %s", body)
	}
	if ask = s.do(t, "GET", path+"/payouts", nil, adm).Body.String(); !strings.Contains(ask, "nothing will change") {
		t.Error("the payout's question after paying still offers to pay")
	}

	// Ending asks first, then ends.
	ask = s.do(t, "GET", path+"/end", nil, op).Body.String()
	for _, want := range []string{"End “", "may join other campaigns", "cannot go live again", `action="` + path + `/end" method="post"`} {
		if !strings.Contains(ask, want) {
			t.Errorf("the end's question lacks %q", want)
		}
	}
	if c, _ := s.store.CampaignByID(ctx, id); c.State != db.CampaignLive {
		t.Fatalf("the question ended the campaign: %s", c.State)
	}
	body, _ = follow(t, s, s.do(t, "POST", path+"/end", url.Values{}, op), op)
	if !strings.Contains(body, "Ended.") {
		t.Errorf("end: %s", body)
	}
}

// The approval setting: an admin turns it off (audited), and a draft
// launches without a second person.
func TestCampaigns_ApprovalSetting(t *testing.T) {
	s := newServer(t)
	adm := s.login(t, "admin@example.com")
	op := s.login(t, "operator@example.com")
	if rec := s.do(t, "POST", "/settings/campaigns", url.Values{}, op); rec.Code != http.StatusForbidden {
		t.Errorf("operator changed the rule: %d", rec.Code)
	}
	body, _ := follow(t, s, s.do(t, "POST", "/settings/campaigns", url.Values{}, adm), adm)
	if !strings.Contains(body, "without a second approval") {
		t.Errorf("settings: %s", body)
	}
	if req, _ := s.store.CampaignApprovalRequired(context.Background()); req {
		t.Error("approval still required")
	}
	id := sampleCampaign(t, s)
	page := s.do(t, "GET", "/campaigns/"+id, nil, op).Body.String()
	if !strings.Contains(page, `id="launch"`) || strings.Contains(page, `id="approve"`) {
		t.Errorf("with approval off the draft is launchable directly")
	}
}
