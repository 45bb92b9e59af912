package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/loadgen"
)

// BenchmarkIngester measures the group-commit path without HTTP: 64
// goroutines submit generated deliveries (the loadgen mix) and wait for
// their commits, like 64 concurrent webhook requests.
//
//	go test -run '^$' -bench Ingester -benchtime 20000x ./db/
func BenchmarkIngester(b *testing.B) {
	for _, conc := range []int{1, 64} {
		b.Run(map[int]string{1: "c1", 64: "c64"}[conc], func(b *testing.B) {
			ctx := context.Background()
			s, err := db.Open(ctx, dbtest.Path(b, "bench.db"), db.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			g, err := s.NewIngester(ctx, db.IngestOptions{})
			if err != nil {
				b.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- g.Run(rctx) }()
			cctx, ccancel := context.WithCancel(ctx)
			go g.RunCheckpointer(cctx, db.CheckpointOptions{})
			submit(b, []*db.Ingester{g}, conc)
			cancel()
			<-done
			ccancel()
		})
	}
}

// BenchmarkIngesterInstances measures what several instances do to the
// database's side of ingestion, without HTTP and in one process: one
// committer with 64 submitters ("one"; "one-batch32" with batches of at
// most 32, the size of the instances' below), two Stores on the same database
// (two instances) with 32 submitters each ("two-instances"), and two
// committers of one Store with 32 each ("two-committers": two connections
// of one pool). On PostgreSQL the two committers' batches run at the same
// time up to the "ingest" lock (db/ingest.go, "Several writers"); the
// submitters share one generator, so both instances' batches name the same
// accounts and end users (the worst case: in the HTTP benchmark each
// instance has a load generator of its own). On SQLite the second Store's
// committer waits for the same file lock.
//
//	LINKDESK_TEST_DATABASE_URL=postgres://… go test -run '^$' -bench IngesterInstances -benchtime 20000x ./db/
func BenchmarkIngesterInstances(b *testing.B) {
	for _, mode := range []string{"one", "one-batch32", "two-instances", "two-instances-apart", "two-committers"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			path := dbtest.Path(b, "bench.db")
			open := func() *db.Store {
				s, err := db.Open(ctx, path, db.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}
			first := open()
			stores := []*db.Store{first}
			switch mode {
			case "two-instances", "two-instances-apart":
				stores = append(stores, open())
			case "two-committers":
				stores = append(stores, first)
			}
			rctx, cancel := context.WithCancel(ctx)
			var running sync.WaitGroup
			var gs []*db.Ingester
			for _, s := range stores {
				opt := db.IngestOptions{}
				if mode == "one-batch32" {
					opt.MaxBatch = 32
				}
				g, err := s.NewIngester(ctx, opt)
				if err != nil {
					b.Fatal(err)
				}
				gs = append(gs, g)
				running.Go(func() { g.Run(rctx) })
			}
			cctx, ccancel := context.WithCancel(ctx)
			go gs[0].RunCheckpointer(cctx, db.CheckpointOptions{})
			if mode == "two-instances-apart" {
				submitApart(b, gs, 64)
			} else {
				submit(b, gs, 64)
			}
			cancel()
			ccancel()
			running.Wait()
		})
	}
}

// submit starts the timer and conc goroutines, goroutine i handing b.N/conc
// generated deliveries (the loadgen mix) to gs[i % len(gs)], one at a
// time, each waiting for its commit, like conc concurrent webhook
// requests; it reports the deliveries committed per second.
func submit(b *testing.B, gs []*db.Ingester, conc int) {
	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 1, Accounts: 20000})
	var mu sync.Mutex
	next := func(int) []byte { mu.Lock(); defer mu.Unlock(); return gen.Next().Body }
	submitFrom(b, gs, conc, next)
}

// submitApart is submit with a generator of its own for each of gs (other
// accounts and end users, as two instances' load generators send in the
// HTTP benchmark).
func submitApart(b *testing.B, gs []*db.Ingester, conc int) {
	mus := make([]sync.Mutex, len(gs))
	var gens []*loadgen.Generator
	for i := range gs {
		gens = append(gens, loadgen.NewGenerator(loadgen.GenConfig{Seed: uint64(i + 1), Accounts: 20000 / len(gs)}))
	}
	next := func(i int) []byte { mus[i].Lock(); defer mus[i].Unlock(); return gens[i].Next().Body }
	submitFrom(b, gs, conc, next)
}

// submitFrom is submit's loop; next(i) gives the body for gs[i].
func submitFrom(b *testing.B, gs []*db.Ingester, conc int, next func(i int) []byte) {
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N / conc
	for i := range conc {
		g := gs[i%len(gs)]
		wg.Go(func() {
			for range per {
				d, err := db.ParseDelivery(next(i % len(gs)))
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := g.Ingest(ctx, d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*conc)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
}
