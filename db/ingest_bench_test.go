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
			gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 1, Accounts: 20000})
			var mu sync.Mutex
			next := func() []byte { mu.Lock(); defer mu.Unlock(); return gen.Next().Body }
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := b.N / conc
			for range conc {
				wg.Go(func() {
					for range per {
						d, err := db.ParseDelivery(next())
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
			cancel()
			<-done
			ccancel()
		})
	}
}
