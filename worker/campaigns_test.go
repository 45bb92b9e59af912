package worker_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/worker"
)

// campaignStore is a store with an operator, accounts with no allocation
// to us (no snapshot: an identity campaign judges them all) and a launched
// identity campaign of n accounts.
func campaignStore(t *testing.T, n int) (*db.Store, *clock, int64) {
	t.Helper()
	ctx := context.Background()
	s, clk := newQueue(t)
	st, err := s.CreateStaff(ctx, db.Actor{Email: "test"}, db.StaffCreate{Email: "op@example.com", Name: "Op", Role: db.RoleOperator, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	op := db.Actor{StaffID: st.ID, Email: st.Email}
	g, err := s.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	for i := range n {
		a := fmt.Sprintf("acct-%03d", i)
		d, err := db.ParseDelivery(fmt.Appendf(nil, `{"event_id": "e-%s", "event": "account.added", "payload": {"created_at": "2026-11-26T10:00:00+00:00", "link_token_id": "t-%s", "platform_id": "p1", "connected": true, "monitoring_status": "active", "end_user_id": "eu-%s", "account_id": %q, "platform_name": "Workday"}}`, a, a, a, a))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	<-done
	if err := s.SetCampaignApproval(ctx, db.Actor{Email: "test"}, false); err != nil {
		t.Fatal(err)
	}
	id, err := s.CreateCampaign(ctx, op, db.CampaignInput{Name: "Refresh", Goal: db.GoalIdentity, IncentiveAmount: "5", LifetimeDays: "7",
		HoldDays: "0", HoldoutPct: "10", Cohort: url.Values{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LaunchCampaign(ctx, op, id); err != nil {
		t.Fatal(err)
	}
	return s, clk, id
}

// A worker dies in the middle of a launch (it claimed the job, froze the
// cohort and created one batch of links, then never recorded an outcome);
// once its lease runs out the next runner resumes the launch and every
// treatment member ends with exactly one link.
func TestCampaignLaunches_RestartMidLaunch(t *testing.T) {
	ctx := context.Background()
	s, clk, id := campaignStore(t, 1300)
	m := odu.New(odu.Config{Store: s})

	jobs, err := s.ClaimJobs(ctx, []string{db.JobCampaignLaunch}, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if err := s.FreezeCampaign(ctx, id); err != nil {
		t.Fatal(err)
	}
	b, err := s.NextLaunchBatch(ctx, id, 0, 1000)
	if err != nil || len(b.Members) != 1000 {
		t.Fatalf("batch: %d %v", len(b.Members), err)
	}
	if _, err := m.CreateCampaignLinks(ctx, b); err != nil {
		t.Fatal(err)
	}
	// The crash: nothing more. The lease runs out.
	clk.add(2 * time.Minute)

	r := worker.NewRunner(s, worker.Options{Poll: 10 * time.Millisecond})
	r.Add(worker.CampaignLaunches(m, s))
	stop := started(t, r)
	deadline := time.Now().Add(time.Minute)
	var c db.Campaign
	for {
		if c, err = s.CampaignByID(ctx, id); err != nil {
			t.Fatal(err)
		}
		if c.State == db.CampaignLive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the launch did not resume: %s, %d links", c.State, c.LinksCreated)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if c.LinksCreated != c.Treatment || c.Treatment+c.Holdout != 1300 {
		t.Fatalf("%d links for %d treatment members", c.LinksCreated, c.Treatment)
	}
	perAccount := map[string]int{}
	for f := (db.LinkFilter{Limit: 200}); ; {
		list, next, err := s.ListLinks(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range list {
			perAccount[l.AccountID]++
		}
		if next == 0 {
			break
		}
		f.Before = next
	}
	if int64(len(perAccount)) != c.Treatment {
		t.Errorf("%d accounts with links, want %d", len(perAccount), c.Treatment)
	}
	for a, n := range perAccount {
		if n != 1 {
			t.Errorf("account %s has %d links", a, n)
		}
	}
	done, err := s.Jobs(ctx, []string{db.JobCampaignLaunch}, fmt.Sprint(id))
	if err != nil || len(done) != 1 || done[0].State != db.JobDone || done[0].Attempts != 2 {
		t.Errorf("launch job %+v %v", done, err)
	}
}
