package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/worker"
)

// Benchmarks of the campaign pages on a seeded database (see bench_test.go
// for LINKDESK_BENCH_DB):
//
//	LINKDESK_BENCH_DB=/tmp/campbench/full.db go test ./handlers -run '^$' -bench 'Campaign' -benchtime 200x
//
// The first run launches a campaign of every account sending less than
// $200 a paycheck to the organisation (100,927 members), converts 3,000 of them through
// allocation snapshots, and ends it (so that its members can join the
// launch benchmark's campaign); later runs reuse it.

const benchCampaignName = "Bench: 100k members"

// ensureBenchCampaign returns the bench campaign, launching it first when
// the database has none.
func ensureBenchCampaign(b *testing.B, env *benchEnv) db.Campaign {
	b.Helper()
	ctx := context.Background()
	s := env.srv
	list, _, err := s.store.ListCampaigns(ctx, db.CampaignFilter{Limit: 200})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range list {
		if c.Name == benchCampaignName && !c.FrozenAt.IsZero() {
			return c.Campaign
		}
	}
	admin := staffActorB(b, s, db.RoleAdmin)
	op := staffActorB(b, s, db.RoleOperator)
	deps, err := s.store.ListDepositAccounts(ctx, true)
	if err != nil || len(deps) == 0 {
		b.Fatalf("the seeded database has no deposit account: %v", err)
	}
	id, err := s.store.CreateCampaign(ctx, op, db.CampaignInput{Name: benchCampaignName, Goal: db.GoalAllocation,
		DepositAccount: strconv.FormatInt(deps[0].ID, 10), Ask: db.AskMinimum, AskAmount: "200", IncentiveAmount: "50",
		LifetimeDays: "14", HoldDays: "30", HoldoutPct: "10", Cohort: url.Values{"alloc": {db.CohortAllocAmount}, "alloc_amount": {"200"}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.store.ApproveCampaign(ctx, admin, db.RoleAdmin, id); err != nil {
		b.Fatal(err)
	}
	if err := s.store.LaunchCampaign(ctx, op, id); err != nil {
		b.Fatal(err)
	}
	r := worker.NewRunner(s.store, worker.Options{Poll: 10 * time.Millisecond})
	r.Add(worker.CampaignLaunches(odu.New(odu.Config{Store: s.store}), s.store))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	for {
		c, err := s.store.CampaignByID(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if c.State == db.CampaignLive {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	// 3,000 members convert (a tenth of them in the holdout), a snapshot
	// each, as monitoring or a switch would bring in.
	members := []db.MemberRow{}
	for f := (db.MemberFilter{Limit: 200}); len(members) < 3000; {
		rows, next, err := s.store.ListCampaignMembers(ctx, id, f)
		if err != nil {
			b.Fatal(err)
		}
		members = append(members, rows...)
		if next == 0 {
			break
		}
		f.Before = next
	}
	now := time.Now().UTC()
	for i, m := range members {
		at := now.Add(time.Duration(i) * time.Second)
		s.clk.set(at)
		s.ingest(b, jobEvent(fmt.Sprintf("bench-alloc-%d", i), "direct_deposit_allocations.added", m.AccountID, m.EndUserID, "success", at, ""))
		body := fmt.Sprintf(`{"id": "b-%d", "account_id": %q, "created_at": "2026-01-01T00:00:00+00:00", "updated_at": "2026-01-01T00:00:00+00:00", "allocations": [{"account_name": "Seed Checking", "allocation_type": "amount", "amount": %d, "masked_account_number": "6789", "routing_number": "021000021", "percentage": null, "priority": 1, "currency": "USD"}]}`,
			i, m.AccountID, 10000+100*(i%300))
		jobs, err := s.store.ClaimJobs(ctx, []string{db.FetchJobKind(db.FetchDDAllocations)}, 10, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		var out []db.JobOutcome
		for _, j := range jobs {
			out = append(out, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(body), RefreshedAt: at}})
		}
		if err := s.store.FinishJobs(ctx, out); err != nil {
			b.Fatal(err)
		}
	}
	s.clk.set(time.Now().UTC())
	if err := s.store.EndCampaign(ctx, op, id); err != nil {
		b.Fatal(err)
	}
	c, err := s.store.CampaignByID(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// loginB signs in for a benchmark and returns the session cookie.
func loginB(b *testing.B, s *testServer, email string) *http.Cookie {
	form := url.Values{"email": {email}, "password": {testPassword}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "linkdesk" {
			return c
		}
	}
	b.Fatalf("login %s: %d", email, w.Code)
	return nil
}

func staffActorB(b *testing.B, s *testServer, role string) db.Actor {
	list, err := s.store.ListStaff(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, st := range list {
		if st.Role == role {
			return db.Actor{StaffID: st.ID, Email: st.Email}
		}
	}
	b.Fatalf("no %s", role)
	return db.Actor{}
}

// BenchmarkCampaign measures the campaign pages and the cohort preview
// with a campaign of 100,927 members on 150,000 accounts.
func BenchmarkCampaign(b *testing.B) {
	env := openBench(b)
	c := ensureBenchCampaign(b, env)
	id := strconv.FormatInt(c.ID, 10)
	b.Logf("campaign %d: %d members", c.ID, c.Members)
	pages := []struct{ name, target string }{
		{"campaign", "/campaigns/" + id},
		{"campaigns", "/campaigns"},
		{"members/page1", "/campaigns/" + id + "/members"},
		{"members/converted", "/campaigns/" + id + "/members?stage=converted"},
		{"members/holdout", "/campaigns/" + id + "/members?group=holdout"},
		{"cohort/none", "/campaigns/cohort?goal=allocation&alloc=none"},
		{"cohort/below-$100,connected,not-live", "/campaigns/cohort?goal=allocation&alloc=amount_below&alloc_amount=100&connected=yes&exclude_live=yes"},
		{"cohort/below-20%,active", "/campaigns/cohort?goal=allocation&alloc=percent_below&alloc_pct=20&status=active"},
		{"cohort/remainder", "/campaigns/cohort?goal=allocation&alloc=remainder"},
		{"cohort/any,quiet-switch,unlinked", "/campaigns/cohort?goal=allocation&switch_days=30&exclude_linked_days=30"},
		{"cohort/everything", "/campaigns/cohort?goal=allocation&exclude_live=no"},
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) { env.measure(b, pg.target) })
	}
}

// BenchmarkCampaignMembersExport exports the bench campaign's members as
// CSV through the router and reports rows/s and the growth of the
// resident set during the export.
func BenchmarkCampaignMembersExport(b *testing.B) {
	env := openBench(b)
	c := ensureBenchCampaign(b, env)
	op := loginB(b, env.srv, "operator@example.com")
	for range b.N {
		runtime.GC()
		base := rssBytes()
		var peak atomic.Int64
		peak.Store(base)
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(10 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if r := rssBytes(); r > peak.Load() {
						peak.Store(r)
					}
				}
			}
		}()
		r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/campaigns/%d/members.csv", c.ID), nil)
		r.AddCookie(op)
		w := &countingWriter{h: http.Header{}}
		start := time.Now()
		env.srv.ServeHTTP(w, r)
		took := time.Since(start)
		close(stop)
		<-sampled
		if w.code != 0 && w.code != http.StatusOK {
			b.Fatalf("export: %d", w.code)
		}
		rows := w.lines - 1
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
		b.ReportMetric(float64(peak.Load()-base)/(1<<20), "rss-growth-MiB")
	}
}
