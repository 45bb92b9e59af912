package worker_test

import (
	"context"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/worker"
)

// BenchmarkCampaignLaunch launches a campaign of every account sending
// less than $300 a paycheck to the organisation (about 104,000 of the
// 150,000 accounts of a database made by `linkdesk seed`) with a 10%
// holdout, through the
// job runner exactly as `linkdesk serve` does: the freeze, then a
// mint-on-open launch link per treatment member in batches. Each run works
// on a fresh copy of the database. It skips unless LINKDESK_BENCH_DB names
// such a database (see docs/PERFORMANCE.md):
//
//	LINKDESK_BENCH_DB=/tmp/campbench/full.db go test ./worker -run '^$' -bench CampaignLaunch -benchtime 1x -count 2
func BenchmarkCampaignLaunch(b *testing.B) {
	src := os.Getenv("LINKDESK_BENCH_DB")
	if src == "" {
		b.Skip("set LINKDESK_BENCH_DB to a database made by `linkdesk seed` (see docs/PERFORMANCE.md)")
	}
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "launch.db")
		if err := copyFile(src, path); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		s, err := db.Open(ctx, path, db.Options{})
		if err != nil {
			b.Fatal(err)
		}
		st, err := s.CreateStaff(ctx, db.Actor{Email: "bench"}, db.StaffCreate{Email: "bench-launch@example.com", Name: "Bench", Role: db.RoleOperator, Password: "correct horse battery"})
		if err != nil {
			b.Fatal(err)
		}
		op := db.Actor{StaffID: st.ID, Email: st.Email}
		deps, err := s.ListDepositAccounts(ctx, true)
		if err != nil || len(deps) == 0 {
			b.Fatalf("the seeded database has no deposit account: %v", err)
		}
		if err := s.SetCampaignApproval(ctx, op, false); err != nil {
			b.Fatal(err)
		}
		id, err := s.CreateCampaign(ctx, op, db.CampaignInput{Name: "Bench launch", Goal: db.GoalAllocation, DepositAccount: itoa64(deps[0].ID),
			Ask: db.AskMinimum, AskAmount: "200", IncentiveAmount: "50", LifetimeDays: "14", HoldDays: "30", HoldoutPct: "10",
			Cohort: url.Values{"alloc": {db.CohortAllocAmount}, "alloc_amount": {"300"}}})
		if err != nil {
			b.Fatal(err)
		}
		// As in `linkdesk serve`: the ingester (whose writer settings and
		// WAL checkpointer the launch shares) and the job runner.
		ing, err := s.NewIngester(ctx, db.IngestOptions{})
		if err != nil {
			b.Fatal(err)
		}
		r := worker.NewRunner(s, worker.Options{Poll: 10 * time.Millisecond})
		r.Add(worker.CampaignLaunches(odu.New(odu.Config{Store: s}), s))
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 3)
		go func() { done <- ing.Run(rctx) }()
		go func() { done <- ing.RunCheckpointer(rctx, db.CheckpointOptions{}) }()
		b.StartTimer()
		start := time.Now()
		if err := s.LaunchCampaign(ctx, op, id); err != nil {
			b.Fatal(err)
		}
		go func() { done <- r.Run(rctx) }()
		var c db.Campaign
		for {
			if c, err = s.CampaignByID(ctx, id); err != nil {
				b.Fatal(err)
			}
			if c.State == db.CampaignLive {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		<-done
		<-done
		s.Close()
		b.ReportMetric(float64(c.Members), "members")
		b.ReportMetric(float64(c.LinksCreated), "links")
		b.ReportMetric(took.Seconds(), "launch-s")
		b.ReportMetric(float64(c.LinksCreated)/took.Seconds(), "links/s")
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
