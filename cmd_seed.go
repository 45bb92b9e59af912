package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"linkdesk/db"
	"linkdesk/loadgen"
)

// seedSettings are the settings of `linkdesk seed`.
var seedSettings = []setting{
	{"LINKDESK_DB", "db", "", "SQLite file to fill (created when missing; required)"},
	{"", "end-users", "0", "end users (0: 5/7 of --accounts)"},
	{"", "accounts", "1000", "accounts"},
	{"", "events", "100000", "events to ingest, duplicates included (about 2%)"},
	{"", "days", "30", "the events' times spread over this many days up to now"},
	{"", "seed", "0", "random seed (0: random)"},
	{"", "concurrency", "512", "deliveries in flight (the group-commit batch size follows)"},
	{"", "audit-rows", "0", "audit trail rows to append after the events (sign-ins, Reveals, exports, token and customer actions), keyed and chained"},
}

// cmdSeed runs `linkdesk seed`: it fills a database with generated webhook
// events through the same ingestion code as POST /webhooks/pinwheel (parse,
// group commit, projections, counters), without HTTP, for scale tests.
func cmdSeed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m, err := parseSettings("seed", "Usage: linkdesk seed --db PATH --end-users N --accounts M --events E\n\nFills a database with realistic webhook events through Linkdesk's ingestion code (not HTTP).\nEvent times spread evenly over --days up to now. Fetches the events would queue are marked\nfailed (\"seeded\"), so a later serve does not call Pinwheel for invented accounts.", seedSettings, args, getenv, stdout)
	if err != nil {
		return err
	}
	path := m["LINKDESK_DB"]
	if path == "" {
		return errors.New("seed: --db (LINKDESK_DB) is required")
	}
	const most = 1 << 30
	var errs []error
	num := func(key string, lo int) int {
		n, err := settingInt(m, key, lo, most)
		errs = append(errs, err)
		return n
	}
	endUsers, accounts, events, days, workers := num("--end-users", 0), num("--accounts", 1), num("--events", 0), num("--days", 1), num("--concurrency", 1)
	auditRows := num("--audit-rows", 0)
	seed, err := settingUint(m, "--seed")
	if err := errors.Join(append(errs, err)...); err != nil {
		return fmt.Errorf("seed:\n%w", err)
	}

	store, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	ing, err := store.NewIngester(ctx, db.IngestOptions{MaxBatch: 512})
	if err != nil {
		return err
	}
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { ing.Run(bg) })
	wg.Go(func() { ing.RunCheckpointer(bg, db.CheckpointOptions{}) })
	defer func() { stop(); wg.Wait() }()

	// A simulated clock: event i happens at start + i·step, so the hourly
	// counters and the timelines look like a month of traffic.
	end := time.Now().UTC()
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	step := end.Sub(start) / time.Duration(max(events, 1))
	var i atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(i.Load()) * step) }
	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: seed, Accounts: accounts, EndUsers: endUsers, Now: clock})
	var genMu sync.Mutex

	began := time.Now()
	var acked, dups atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var feeders sync.WaitGroup
	for range workers {
		feeders.Go(func() {
			for ctx.Err() == nil {
				genMu.Lock()
				n := i.Add(1)
				if n > int64(events) {
					genMu.Unlock()
					return
				}
				ev := gen.Next()
				genMu.Unlock()
				d, err := db.ParseDelivery(ev.Body)
				if err == nil {
					d.ReceivedAt = start.Add(time.Duration(n) * step)
					d.SentAt = d.ReceivedAt.Truncate(time.Second)
					var res db.IngestResult
					res, err = ing.Ingest(ctx, d)
					if res.Duplicate {
						dups.Add(1)
					}
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				if k := acked.Add(1); k%100000 == 0 {
					fmt.Fprintf(stdout, "%d events, %.0f/s\n", k, float64(k)/time.Since(began).Seconds())
				}
			}
		})
	}
	feeders.Wait()
	if firstErr != nil {
		return fmt.Errorf("seed: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	took := time.Since(began)
	skipped, err := store.FailQueuedJobs(ctx, "seeded data: not fetched", db.FetchJobKinds...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %s: %d deliveries (%d duplicates) for %d accounts in %s, %.0f/s; %d queued fetches marked failed\n",
		path, acked.Load(), dups.Load(), gen.AccountsCreated(), took.Round(time.Millisecond), float64(acked.Load())/took.Seconds(), skipped)
	if auditRows > 0 {
		stop() // the ingester and its checkpointer are done: the trail has the writer to itself
		wg.Wait()
		began := time.Now()
		if err := store.SeedAuditTrail(ctx, auditRows, start, end, seed); err != nil {
			return err
		}
		took := time.Since(began)
		fmt.Fprintf(stdout, "seeded %d audit rows in %s, %.0f/s\n", auditRows, took.Round(time.Millisecond), float64(auditRows)/took.Seconds())
	}
	return nil
}
