package handlers_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/loadgen"
)

// Benchmarks of account health on a seeded database (see bench_test.go):
//
//	go run . seed --db /tmp/browsebench/full.db --end-users 100000 --accounts 150000 --events 1650000 --seed 42
//	LINKDESK_BENCH_DB=/tmp/browsebench/full.db go test ./handlers -run '^$' -bench 'Health' -benchtime 200x
//
// BenchmarkHealthRules runs each alert rule's check (db.Store.CheckRule:
// its reads, its own state and the alerts it opens or updates, in one
// write transaction) and reports the median and p99; before measuring, it
// adds traffic the rules follow (new accounts, Link successes, refused
// deliveries) so that the cursors have something new to read.
// BenchmarkHealthPages measures the board and the alerts pages through the
// router, like BenchmarkBrowse.

func BenchmarkHealthRules(b *testing.B) {
	env := openBench(b)
	ctx := context.Background()
	s := env.srv
	// Every rule on, and the cursors started (a first check starts at the
	// end of its source, as on an upgraded installation).
	set := db.DefaultAlertSettings()
	set.Off = nil
	f := db.AlertSettingsForm{Values: map[string]string{}}
	for _, st := range db.AlertSettingFields {
		f.Values[st.Name] = fmt.Sprint(st.Value(set))
	}
	for _, r := range db.Rules {
		f.On = append(f.On, r.Name)
	}
	st, err := env.store.StaffByEmail(ctx, db.RoleAdmin+"@example.com")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := env.store.UpdateAlertSettings(ctx, db.Actor{StaffID: st.ID, Email: st.Email}, f); err != nil {
		b.Fatal(err)
	}
	for _, r := range db.Rules {
		if _, err := env.store.CheckRule(ctx, r.Name); err != nil {
			b.Fatal(err)
		}
	}
	// New traffic since: 2,000 webhooks of fresh Link sessions (their
	// account.added become expectations of the job-webhook rule) and 200
	// refused deliveries (the signature rule's window).
	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: uint64(time.Now().UnixNano()), Accounts: 400})
	for range 2000 {
		s.ingest(b, string(gen.Next().Body))
	}
	for i := range 200 {
		s.ing.Reject(db.Rejection{Reason: db.ReasonBadSignature, Status: 401, RemoteAddr: "192.0.2.1:1", Body: []byte(fmt.Sprint(i))})
	}
	for deadline := time.Now().Add(time.Minute); ; { // the committer records rejections in its next batch
		rows, _, err := env.store.ListRejections(ctx, db.ReasonBadSignature, 0, 200)
		if err == nil && len(rows) == 200 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the rejections were not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}

	for _, r := range db.Rules {
		b.Run(r.Name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if _, err := env.store.CheckRule(ctx, r.Name); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			first := times[0] // the run that read what was new since the setup
			slices.Sort(times)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(times[len(times)/2]), "p50-ms")
			b.ReportMetric(ms(times[min(len(times)-1, len(times)*99/100)]), "p99-ms")
			b.ReportMetric(ms(first), "first-ms")
		})
	}
}

func BenchmarkHealthPages(b *testing.B) {
	env := openBench(b)
	ctx := context.Background()
	plats, _, err := env.store.StatusByPlatform(ctx)
	if err != nil || len(plats) == 0 {
		b.Fatal("no platforms", err)
	}
	waiting, next, err := env.store.WaitingAccounts(ctx, db.WaitingQuery{})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d platforms; the first page lists %d accounts waiting", len(plats), len(waiting))
	pages := []struct{ name, target string }{
		{"monitoring", "/monitoring"},
		{"monitoring/status=degraded", "/monitoring?status=degraded"},
		{"monitoring/platform+status", "/monitoring?status=user_action_required&platform=" + plats[0].PlatformID},
		{"alerts", "/alerts"},
	}
	if !next.IsZero() {
		pages = append(pages, struct{ name, target string }{"monitoring/page2", "/monitoring?after=" + next.String()})
	}
	for _, pg := range pages {
		b.Run(pg.name, func(b *testing.B) { env.measure(b, pg.target) })
	}
}
