package db_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/pinwheel"
)

// campFixture is a store with two admins and an operator, the
// organisation's deposit account (routing 021000021, ••6789) and an
// ingester, for campaign tests through the real projections.
type campFixture struct {
	s              *db.Store
	clk            *clock
	g              *db.Ingester
	ann, bob, olga db.Actor // two admins and an operator
	deposit        db.DepositAccount
	minter         *odu.Minter
	n              int
}

func newCampFixture(t *testing.T) *campFixture {
	t.Helper()
	s, clk := newStore(t)
	ctx := context.Background()
	f := &campFixture{s: s, clk: clk}
	for _, p := range []struct {
		dst         *db.Actor
		email, role string
	}{{&f.ann, "ann@example.com", db.RoleAdmin}, {&f.bob, "bob@example.com", db.RoleAdmin}, {&f.olga, "olga@example.com", db.RoleOperator}} {
		st, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: p.email, Name: p.email[:3], Role: p.role, Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		*p.dst = db.Actor{StaffID: st.ID, Email: st.Email, IP: "192.0.2.1"}
	}
	var err error
	f.deposit, err = s.CreateDepositAccount(ctx, f.ann, db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "4400556789"})
	if err != nil {
		t.Fatal(err)
	}
	f.g = runIngester(t, s, db.IngestOptions{})
	f.minter = odu.New(odu.Config{Store: s})
	return f
}

// webhook ingests one event.
func (f *campFixture) webhook(t *testing.T, body []byte) {
	t.Helper()
	d, err := db.ParseDelivery(body)
	if err != nil {
		t.Fatal(err)
	}
	d.ReceivedAt = f.clk.t
	if _, err := f.g.Ingest(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

// connect adds an account through account.added.
func (f *campFixture) connect(t *testing.T, account string) {
	t.Helper()
	f.n++
	f.webhook(t, fmt.Appendf(nil, `{"event_id": "added-%s", "event": "account.added", "payload": {"created_at": %q, "link_token_id": "first-%s", "platform_id": "5965580e-380f-4b86-8a8a-7278c77f73cb", "connected": true, "monitoring_status": "active", "end_user_id": "eu-%s", "account_id": %q, "platform_name": "Workday"}}`,
		account, f.clk.t.Format(time.RFC3339), account, account, account))
}

// allocations stores an allocations snapshot of the account taken at at,
// through the webhook, the fetch job and its result, as the worker does.
// toUs is the amount in cents to our account (0: none, -1: the remainder).
func (f *campFixture) allocations(t *testing.T, account string, toUs int64, at time.Time) {
	t.Helper()
	ctx := context.Background()
	f.n++
	f.webhook(t, fmt.Appendf(nil, `{"event_id": "alloc-%d", "event": "direct_deposit_allocations.added", "payload": {"id": "job-alloc-%d", "name": "direct_deposit_allocations", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "first-%s", "params": {}, "account_id": %q, "end_user_id": "eu-%s"}}`,
		f.n, f.n, at.Format(time.RFC3339Nano), account, account, account))
	rows := []string{`{"account_name": "Other Checking", "allocation_type": "remainder", "amount": null, "masked_account_number": "4321", "routing_number": "011000015", "percentage": null, "priority": 2, "currency": "USD"}`}
	switch {
	case toUs > 0:
		rows = append([]string{fmt.Sprintf(`{"account_name": "Payroll Checking", "allocation_type": "amount", "amount": %d, "masked_account_number": "6789", "routing_number": "021000021", "percentage": null, "priority": 1, "currency": "USD"}`, toUs)}, rows...)
	case toUs < 0:
		rows = []string{`{"account_name": "Payroll Checking", "allocation_type": "remainder", "amount": null, "masked_account_number": "6789", "routing_number": "021000021", "percentage": null, "priority": 1, "currency": "USD"}`}
	}
	body := fmt.Sprintf(`{"id": "alloc-%s", "account_id": %q, "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00", "allocations": [%s]}`,
		account, account, strings.Join(rows, ", "))
	jobs, err := f.s.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchDDAllocations)}, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.JobOutcome
	for _, j := range jobs {
		out = append(out, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(body), RefreshedAt: at}})
	}
	if len(out) != 1 {
		t.Fatalf("%d allocation fetches queued, want 1", len(out))
	}
	if err := f.s.FinishJobs(ctx, out); err != nil {
		t.Fatal(err)
	}
}

// input is a campaign form for accounts with no allocation to us.
func (f *campFixture) input(name string) db.CampaignInput {
	return db.CampaignInput{Name: name, Goal: db.GoalAllocation, DepositAccount: fmt.Sprint(f.deposit.ID), Ask: db.AskMinimum,
		AskAmount: "200", IncentiveAmount: "50", LifetimeDays: "14", HoldDays: "30", HoldoutPct: "10", Tags: "channel=email\nwave=1",
		Cohort: url.Values{"alloc": {"none"}}}
}

// launch runs a launch's job to the end, as worker.CampaignLaunches does.
func (f *campFixture) launch(t *testing.T, id int64) {
	t.Helper()
	ctx := context.Background()
	if err := f.s.FreezeCampaign(ctx, id); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := f.s.NextLaunchBatch(ctx, id, 0, 7)
		if err != nil {
			t.Fatal(err)
		}
		if b.Stop {
			return
		}
		if done, err := f.minter.CreateCampaignLinks(ctx, b); err != nil || done {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func refusedWith(t *testing.T, err error, want error) {
	t.Helper()
	var ce *db.CampaignError
	if !errors.As(err, &ce) || !errors.Is(err, want) {
		t.Fatalf("got %v, want a refusal (%v)", err, want)
	}
}

func TestCampaign_ValidationAndCohort(t *testing.T) {
	f := newCampFixture(t)
	ctx := context.Background()
	f.connect(t, "acct-1")
	f.allocations(t, "acct-1", 0, f.clk.t)

	bad := f.input("x")
	bad.Goal, bad.LifetimeDays, bad.HoldoutPct, bad.Tags = db.GoalAllocation, "120", "75", "linkdesk_x=1"
	bad.Cohort = url.Values{"platform": {"no-such-platform"}, "alloc": {"percent_below"}, "alloc_pct": {"140"}}
	_, err := f.s.CreateCampaign(ctx, f.olga, bad)
	var fe db.FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want field errors", err)
	}
	for _, k := range []string{"name", "lifetime_days", "holdout_pct", "tags", "platform", "alloc_pct"} {
		if fe[k] == "" {
			t.Errorf("no error for %s: %v", k, fe)
		}
	}

	archived, err := f.s.CreateDepositAccount(ctx, f.ann, db.DepositAccountCreate{Name: "Old Savings", Type: "savings", RoutingNumber: "021000021", AccountNumber: "99990001"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ArchiveDepositAccount(ctx, f.ann, archived.ID); err != nil {
		t.Fatal(err)
	}
	in := f.input("Raise it")
	in.DepositAccount = fmt.Sprint(archived.ID)
	if _, err := f.s.CreateCampaign(ctx, f.olga, in); !errors.As(err, &fe) || !strings.Contains(fe["deposit_account"], "archived") {
		t.Errorf("archived deposit account: %v", err)
	}

	in = f.input("Raise it")
	in.Cohort = url.Values{"alloc": {"remainder"}}
	if _, err := f.s.CreateCampaign(ctx, f.olga, in); !errors.As(err, &fe) || fe["cohort"] == "" {
		t.Errorf("empty cohort: %v", err)
	}

	p, err := f.s.PreviewCohort(ctx, db.CohortFilter{Alloc: db.CohortAllocNone, ExcludeLive: true}, db.GoalAllocation)
	if err != nil || p.Count != 1 || len(p.Sample) != 1 || p.Sample[0].AccountID != "acct-1" {
		t.Errorf("preview %+v %v", p, err)
	}
	in = f.input("Raise it")
	if in.IncentiveText != "" {
		t.Fatal(in.IncentiveText)
	}
	id, err := f.s.CreateCampaign(ctx, f.olga, in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.s.CampaignByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.IncentiveText != "Move $200 or more of each paycheck and get $50" || c.Tags["wave"] != "1" || c.State != db.CampaignDraft {
		t.Errorf("campaign %+v", c)
	}
}

// Approval rules per role: the drafter and the last editor cannot
// approve, operators cannot approve, launching needs the approval unless
// an admin turned it off; both steps audited.
func TestCampaign_Approval(t *testing.T) {
	f := newCampFixture(t)
	ctx := context.Background()
	f.connect(t, "acct-1")
	f.allocations(t, "acct-1", 0, f.clk.t)
	id, err := f.s.CreateCampaign(ctx, f.ann, f.input("Ann's offer"))
	if err != nil {
		t.Fatal(err)
	}
	refusedWith(t, f.s.LaunchCampaign(ctx, f.olga, id), db.ErrCampaignState)
	refusedWith(t, f.s.ApproveCampaign(ctx, f.ann, db.RoleAdmin, id), db.ErrCampaignState)
	refusedWith(t, f.s.ApproveCampaign(ctx, f.olga, db.RoleOperator, id), db.ErrCampaignState)
	// Bob edits it: now neither Ann (drafter) nor Bob (editor) may approve.
	if err := f.s.UpdateCampaign(ctx, f.bob, id, f.input("Ann's offer, edited")); err != nil {
		t.Fatal(err)
	}
	refusedWith(t, f.s.ApproveCampaign(ctx, f.bob, db.RoleAdmin, id), db.ErrCampaignState)

	carl, err := f.s.CreateStaff(ctx, admin, db.StaffCreate{Email: "carl@example.com", Name: "Carl", Role: db.RoleAdmin, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	ca := db.Actor{StaffID: carl.ID, Email: carl.Email}
	if err := f.s.ApproveCampaign(ctx, ca, db.RoleAdmin, id); err != nil {
		t.Fatal(err)
	}
	// An edit withdraws the approval.
	if err := f.s.UpdateCampaign(ctx, f.olga, id, f.input("Ann's offer, v3")); err != nil {
		t.Fatal(err)
	}
	if c, _ := f.s.CampaignByID(ctx, id); c.State != db.CampaignDraft || c.ApprovedBy != 0 {
		t.Errorf("after an edit: %s approved by %d", c.State, c.ApprovedBy)
	}
	if err := f.s.ApproveCampaign(ctx, ca, db.RoleAdmin, id); err != nil {
		t.Fatal(err)
	}
	if err := f.s.LaunchCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}
	refusedWith(t, f.s.LaunchCampaign(ctx, f.olga, id), db.ErrCampaignState)
	refusedWith(t, f.s.UpdateCampaign(ctx, f.ann, id, f.input("too late")), db.ErrCampaignLocked)

	// With approval off, a draft launches directly.
	if err := f.s.SetCampaignApproval(ctx, f.ann, false); err != nil {
		t.Fatal(err)
	}
	f.connect(t, "acct-2")
	f.allocations(t, "acct-2", 0, f.clk.t)
	in := f.input("Second")
	in.Cohort = url.Values{"alloc": {"none"}}
	id2, err := f.s.CreateCampaign(ctx, f.olga, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.LaunchCampaign(ctx, f.olga, id2); err != nil {
		t.Fatal(err)
	}
	log, _, err := f.s.ListAudit(ctx, db.AuditFilter{TargetType: "campaign", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{db.ActionCampaignApproved, db.ActionCampaignLaunched, db.ActionCampaignUpdated, db.ActionCampaignCreated} {
		if !strings.Contains(got, want) {
			t.Errorf("audit lacks %s: %s", want, got)
		}
	}
}

// The whole life of a campaign in the store: launch (with a restart in
// the middle), the funnel from launch events and webhooks, conversions
// from snapshots for both groups, a decrease, the results, the hold
// period, the payout and a clawback.
func TestCampaign_LaunchTrackAndPay(t *testing.T) {
	f := newCampFixture(t)
	ctx := context.Background()
	launchAt := f.clk.t
	const n = 40
	for i := range n {
		a := fmt.Sprintf("acct-%02d", i)
		f.connect(t, a)
		f.allocations(t, a, 0, launchAt.Add(-time.Hour))
	}
	// Two more that already send us money, one with a stale snapshot.
	f.connect(t, "acct-rich")
	f.allocations(t, "acct-rich", 50000, launchAt.Add(-time.Hour))
	in := f.input("Raise your deposit")
	in.HoldoutPct = "50" // both groups are non-empty but for a chance of 2^-39
	in.Cohort = url.Values{"alloc": {"amount_below"}, "alloc_amount": {"100"}}
	if err := f.s.SetCampaignApproval(ctx, f.ann, false); err != nil {
		t.Fatal(err)
	}
	id, err := f.s.CreateCampaign(ctx, f.olga, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.LaunchCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}

	// A restart mid-launch: one batch of links, then the same batch again
	// (a crash after the commit, before the job was marked done), then the
	// rest.
	if err := f.s.FreezeCampaign(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.s.FreezeCampaign(ctx, id); err != nil {
		t.Fatal(err)
	}
	b, err := f.s.NextLaunchBatch(ctx, id, 0, 5)
	if err != nil || b.Stop || len(b.Members) != 5 {
		t.Fatalf("first batch %+v %v", b, err)
	}
	if _, err := f.minter.CreateCampaignLinks(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.minter.CreateCampaignLinks(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.launch(t, id)

	c, err := f.s.CampaignByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != db.CampaignLive || c.Members != n || c.Treatment+c.Holdout != n || c.Holdout == 0 || c.LinksCreated != c.Treatment {
		t.Fatalf("campaign after launch: %s members %d treatment %d holdout %d links %d", c.State, c.Members, c.Treatment, c.Holdout, c.LinksCreated)
	}
	links, _, err := f.s.ListLinks(ctx, db.LinkFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	perAccount := map[string]int{}
	for _, l := range links {
		perAccount[l.AccountID]++
		if l.CampaignID != id || l.Mode != db.ModeMintOnOpen || l.Tags["channel"] != "email" || l.Tags["linkdesk_campaign_id"] != fmt.Sprint(id) || l.Incentive == "" {
			t.Fatalf("link %+v", l.Link)
		}
		if !l.LinkExpiresAt.Equal(launchAt.AddDate(0, 0, 14)) {
			t.Errorf("link expires %v", l.LinkExpiresAt)
		}
	}
	if int64(len(links)) != c.Treatment {
		t.Errorf("%d links for %d treatment members", len(links), c.Treatment)
	}
	for a, k := range perAccount {
		if k != 1 {
			t.Errorf("account %s has %d links", a, k)
		}
	}
	// The split is the bucket's.
	members, _, err := f.s.ListCampaignMembers(ctx, id, db.MemberFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	byGroup := map[string][]db.MemberRow{}
	for _, m := range members {
		byGroup[m.Group] = append(byGroup[m.Group], m)
		if m.AccountID == "acct-rich" {
			t.Error("an account sending us $500 joined a cohort below $100")
		}
		if !m.BaseFresh || m.Base.Kind != db.AllocNone {
			t.Errorf("baseline of %s: %+v fresh %v", m.AccountID, m.Base, m.BaseFresh)
		}
	}
	treat, hold := byGroup[db.GroupTreatment], byGroup[db.GroupHoldout]

	// Funnel of the first treatment member: page, Link, login, then the
	// switch webhook on the token minted when the page opened.
	m0 := treat[0]
	lc, err := f.s.LaunchByID(ctx, m0.LaunchID)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Link.Incentive != "Move $200 or more of each paycheck and get $50" {
		t.Errorf("launch page incentive %q", lc.Link.Incentive)
	}
	f.clk.t = launchAt.Add(time.Hour)
	for _, ev := range []string{db.EventPageOpened, db.LinkEventOpen, db.LinkEventLogin} {
		if _, err := f.s.RecordLaunchEvent(ctx, m0.LaunchID, ev, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.AddMint(ctx, db.Actor{Email: "launch page"}, m0.TokenID, db.MintResult{LinkTokenID: "pw-token-0", Token: "jwt", ExpiresAt: f.clk.t.Add(time.Hour), APIVersion: pinwheel.Version20231122}); err != nil {
		t.Fatal(err)
	}
	f.webhook(t, jobBody("switch-0", "direct_deposit_switch.added", "direct_deposit_switch", m0.AccountID, "eu-"+m0.AccountID, "pw-token-0",
		f.clk.t.Format(time.RFC3339Nano), "success", "", "", `{"action": "partial_switch", "allocation": {"type": "amount", "value": 250}}`))
	// A second member only opens the page.
	if _, err := f.s.RecordLaunchEvent(ctx, treat[1].LaunchID, db.EventPageOpened, nil); err != nil {
		t.Fatal(err)
	}

	// Conversions: the first member's switch ($250), a treatment member who
	// moved $100 on their own (below the ask), two holdout members who
	// moved money on their own, one holdout member who lowered (from none:
	// impossible) — instead a treatment member whose older snapshot
	// arrives late.
	f.clk.t = launchAt.Add(2 * time.Hour)
	f.allocations(t, m0.AccountID, 25000, launchAt.Add(90*time.Minute))
	f.allocations(t, treat[2].AccountID, 10000, launchAt.Add(90*time.Minute))
	f.allocations(t, hold[0].AccountID, 30000, launchAt.Add(100*time.Minute))
	f.allocations(t, hold[0].AccountID, 0, launchAt.Add(80*time.Minute)) // older, arrives later: ignored
	if len(hold) > 1 {
		f.allocations(t, hold[1].AccountID, -1, launchAt.Add(100*time.Minute))
	}

	r, err := f.s.CampaignResults(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	tr, hr := r.Treatment, r.Holdout
	if tr.Members != c.Treatment || tr.Judged != c.Treatment || tr.LinkCreated != c.Treatment || tr.PageOpened != 2 || tr.LinkOpened != 1 ||
		tr.LoggedIn != 1 || tr.Success != 1 || tr.Converted != 2 {
		t.Errorf("treatment results %+v", tr)
	}
	wantHold := int64(1)
	if len(hold) > 1 {
		wantHold = 2
	}
	if hr.Converted != wantHold || hr.Members != c.Holdout {
		t.Errorf("holdout results %+v", hr)
	}
	if tr.DeltaSum != 35000 || !tr.HasMedianIncrease || tr.MedianIncrease != 17500 {
		t.Errorf("treatment dollars: sum %d median %d", tr.DeltaSum, tr.MedianIncrease)
	}
	if tr.Ledger[db.LedgerHolding] != 1 || tr.Ledger[db.LedgerNotQualified] != 1 {
		t.Errorf("ledger %v", tr.Ledger)
	}
	if !r.HasUplift || len(r.Daily) != 1 || r.Daily[0].Treatment != 2 || r.Daily[0].Holdout != wantHold {
		t.Errorf("uplift %v daily %+v", r.HasUplift, r.Daily)
	}

	// The account page and the token: the campaign and the stage.
	acs, err := f.s.AccountCampaigns(ctx, m0.AccountID)
	if err != nil || len(acs) != 1 || acs[0].Stage != db.MemberSuccess || acs[0].Result != db.ResultUp {
		t.Errorf("account campaigns %+v %v", acs, err)
	}

	// The hold period passes (30 days): the job makes the switch eligible.
	f.clk.t = launchAt.Add(31 * 24 * time.Hour)
	if n, err := f.s.PromoteHolds(ctx); err != nil || n != 1 {
		t.Fatalf("promoted %d: %v", n, err)
	}
	through := f.clk.t
	f.clk.t = f.clk.t.Add(time.Minute)
	p, err := f.s.MarkPaid(ctx, f.ann, id, through)
	if err != nil || p.Members != 1 || p.Cents != 5000 {
		t.Fatalf("payout %+v %v", p, err)
	}
	if p2, err := f.s.MarkPaid(ctx, f.ann, id, f.clk.t); err != nil || p2.Members != 0 {
		t.Errorf("paid twice: %+v %v", p2, err)
	}
	paid, _, err := f.s.ListCampaignMembers(ctx, id, db.MemberFilter{Stage: db.LedgerPaid})
	if err != nil || len(paid) != 1 || paid[0].AccountID != m0.AccountID {
		t.Errorf("paid members %+v %v", paid, err)
	}

	// Another treatment member converts, then lowers inside the hold: clawback.
	f.allocations(t, treat[3].AccountID, 30000, f.clk.t)
	f.clk.t = f.clk.t.Add(24 * time.Hour)
	f.allocations(t, treat[3].AccountID, 0, f.clk.t)
	claw, _, err := f.s.ListCampaignMembers(ctx, id, db.MemberFilter{Stage: db.LedgerClawback})
	if err != nil || len(claw) != 1 || claw[0].AccountID != treat[3].AccountID {
		t.Errorf("clawback members %+v %v", claw, err)
	}

	// The export streams every member and is audited.
	var rows []db.MemberRow
	if _, err := f.s.ExportCampaignMembers(ctx, f.olga, id, db.MemberFilter{}, "csv", func(r db.MemberRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if int64(len(rows)) != c.Members {
		t.Errorf("exported %d of %d", len(rows), c.Members)
	}
	// The export is a sighting of each member's account in Who saw this;
	// a holdout-only export is not one of a treatment member's.
	if _, err := f.s.ExportCampaignMembers(ctx, f.olga, id, db.MemberFilter{Group: db.GroupHoldout}, "jsonl", func(db.MemberRow) error { return nil }); err != nil {
		t.Fatal(err)
	}
	seen, _, err := f.s.WhoSaw(ctx, db.WhoSawQuery{AccountID: treat[3].AccountID})
	var sightings []string
	for _, sg := range seen {
		if sg.Kind == db.SawCampaignExport && sg.CampaignID == id {
			sightings = append(sightings, sg.Format)
		}
	}
	if err != nil || len(sightings) != 1 || sightings[0] != "csv" {
		t.Errorf("who saw a treatment member: %v %v", sightings, err)
	}

	// Ending the campaign frees its members for the next one.
	if err := f.s.EndCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}
	pv, err := f.s.PreviewCohort(ctx, db.CohortFilter{ExcludeLive: true}, db.GoalAllocation)
	if err != nil || pv.Count != n+1 {
		t.Errorf("after the end, %d accounts are free: %v", pv.Count, err)
	}
}

// A launch paused, resumed and cancelled: cancelling revokes the links
// made so far.
func TestCampaign_PauseResumeCancel(t *testing.T) {
	f := newCampFixture(t)
	ctx := context.Background()
	for i := range 20 {
		a := fmt.Sprintf("acct-%02d", i)
		f.connect(t, a)
		f.allocations(t, a, 0, f.clk.t)
	}
	if err := f.s.SetCampaignApproval(ctx, f.ann, false); err != nil {
		t.Fatal(err)
	}
	in := f.input("Pausable")
	in.HoldoutPct = "0"
	id, err := f.s.CreateCampaign(ctx, f.olga, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.LaunchCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}
	if err := f.s.FreezeCampaign(ctx, id); err != nil {
		t.Fatal(err)
	}
	b, _ := f.s.NextLaunchBatch(ctx, id, 0, 5)
	if _, err := f.minter.CreateCampaignLinks(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := f.s.PauseCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.s.NextLaunchBatch(ctx, id, 0, 5); !b.Stop {
		t.Error("a paused launch handed out a batch")
	}
	if done, err := f.minter.CreateCampaignLinks(ctx, b); err != nil || !done {
		t.Errorf("a batch read before the pause went through: %v %v", done, err)
	}
	if err := f.s.ResumeCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}
	b, _ = f.s.NextLaunchBatch(ctx, id, 0, 5)
	if _, err := f.minter.CreateCampaignLinks(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := f.s.CancelCampaign(ctx, f.olga, id); err != nil {
		t.Fatal(err)
	}
	links, _, _ := f.s.ListLinks(ctx, db.LinkFilter{Limit: 100})
	if len(links) != 10 {
		t.Errorf("%d links, want 10", len(links))
	}
	for _, l := range links {
		if !l.Revoked() {
			t.Errorf("link %s not revoked", l.TokenID)
		}
	}
	refusedWith(t, f.s.ResumeCampaign(ctx, f.olga, id), db.ErrCampaignState)
}

// The uplift interval against values computed by hand.
func TestUpliftIntervals(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) < 5e-5 }
	// Newcombe (1998), Table II, example (a): 56/70 − 48/80; method 10
	// gives 0.0524 to 0.3339. By hand: Wilson 56/70 = (0.6918, 0.8770),
	// 48/80 = (0.4904, 0.7004); d = 0.2;
	// L = 0.2 − √((0.8 − 0.6918)² + (0.7004 − 0.6)²) = 0.2 − 0.1476 = 0.0524,
	// U = 0.2 + √((0.8770 − 0.8)² + (0.6 − 0.4904)²) = 0.2 + 0.1339 = 0.3339.
	iv, ok := db.NewcombeDiff(56, 70, 48, 80)
	if !ok || !near(iv.Estimate, 0.2) || !near(iv.Low, 0.0524) || !near(iv.High, 0.3339) {
		t.Errorf("Newcombe 56/70 − 48/80: %+v", iv)
	}
	// Example (d) of the same table, 5/56 − 0/29: 0.0892 [−0.0381, 0.1926].
	iv, _ = db.NewcombeDiff(5, 56, 0, 29)
	if !near(iv.Estimate, 0.0893) || !near(iv.Low, -0.0381) || !near(iv.High, 0.1926) {
		t.Errorf("Newcombe 5/56 − 0/29: %+v", iv)
	}
	lo, hi := db.Wilson(56, 70, 1.959963984540054)
	if math.Abs(lo-0.6918) > 1e-4 || math.Abs(hi-0.8770) > 1e-4 {
		t.Errorf("Wilson 56/70: %v %v", lo, hi)
	}
	// Wald, difference of means: treatment {10, 20, 30} (mean 20, variance
	// 100), holdout {0, 0, 10, 10} (mean 5, variance 100/3);
	// SE = √(100/3 + (100/3)/4) = √(41.667) = 6.4550; 15 ± 1.95996 × 6.4550
	// = [2.3485, 27.6515].
	iv, ok = db.WaldDiffMeans(60, 1400, 3, 20, 200, 4)
	if !ok || !near(iv.Estimate, 15) || math.Abs(iv.Low-2.3485) > 1e-3 || math.Abs(iv.High-27.6515) > 1e-3 {
		t.Errorf("Wald: %+v", iv)
	}
	if _, ok := db.NewcombeDiff(1, 10, 0, 0); ok {
		t.Error("an empty holdout gave an interval")
	}
}
