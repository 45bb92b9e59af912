package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"linkdesk/db"
	"linkdesk/loadgen"
)

// seedSettings are the settings of `linkdesk seed`.
var seedSettings = []setting{
	{"LINKDESK_DB", "db", "", "SQLite file to fill (created when missing; required unless --database-url)"},
	databaseURLSetting,
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
	m, err := parseSettings("seed", "Usage: linkdesk seed --db PATH --end-users N --accounts M --events E\n\nFills a database with realistic webhook events through Linkdesk's ingestion code (not HTTP).\nEvent times spread evenly over --days up to now. The allocation fetches the events queue get\ngenerated snapshots (for campaigns); the other fetches are marked failed (\"seeded\"), so a\nlater serve does not call Pinwheel for invented accounts.", seedSettings, args, getenv, stdout)
	if err != nil {
		return err
	}
	path, err := databaseOf(m)
	if err != nil {
		return fmt.Errorf("seed: %w (--db or --database-url)", err)
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
	allocs, err := seedAllocations(ctx, store, start, end)
	if err != nil {
		return err
	}
	skipped, err := store.FailQueuedJobs(ctx, "seeded data: not fetched", db.FetchJobKinds...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %s: %d deliveries (%d duplicates) for %d accounts in %s, %.0f/s; %d allocation snapshots; %d queued fetches marked failed\n",
		path, acked.Load(), dups.Load(), gen.AccountsCreated(), took.Round(time.Millisecond), float64(acked.Load())/took.Seconds(), allocs, skipped)
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

// seedDeposit is the organisation's deposit account of a seeded database.
var seedDeposit = db.DepositAccountCreate{Name: "Seed Checking", Type: db.AccountChecking, RoutingNumber: "021000021", AccountNumber: "5500116789"}

// seedAllocations completes the queued allocation fetches of a seeded
// database with generated snapshots, through the job queue's own path
// (db.SnapshotFetched), so that campaigns have allocations to filter on
// and judge: per account (from a hash of its id) 70% send nothing to the
// organisation's Seed Checking, 15% a fixed $50–$500, 5% a percentage, 5%
// the remainder, 5% have no snapshot. Snapshot times spread over the seeded
// period. It returns the number of snapshots stored.
func seedAllocations(ctx context.Context, store *db.Store, start, end time.Time) (int, error) {
	deps, err := store.ListDepositAccounts(ctx, true)
	if err != nil {
		return 0, err
	}
	if len(deps) == 0 {
		if _, err := store.CreateDepositAccount(ctx, db.Actor{Email: "linkdesk seed"}, seedDeposit); err != nil {
			return 0, err
		}
	}
	kinds := []string{db.FetchJobKind(db.FetchDDAllocations)}
	n := 0
	for {
		jobs, err := store.ClaimJobs(ctx, kinds, 500, time.Hour)
		if err != nil || len(jobs) == 0 {
			return n, err
		}
		var out []db.JobOutcome
		for _, j := range jobs {
			f, ok := db.ReadFetchJob(j)
			if !ok {
				continue
			}
			body, at, ok := seedAllocationBody(f.AccountID, start, end)
			if !ok {
				out = append(out, db.JobOutcome{Job: j, Err: errors.New("seeded data: not fetched")})
				continue
			}
			out = append(out, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: body, RefreshedAt: at}})
			n++
		}
		if err := store.FinishJobs(ctx, out); err != nil {
			return n, err
		}
	}
}

// seedAllocationBody is the generated allocations of an account and the
// time they were read; ok is false for the accounts left without one.
func seedAllocationBody(account string, start, end time.Time) ([]byte, time.Time, bool) {
	h := fnv.New64a()
	h.Write([]byte(account))
	x := h.Sum64()
	at := start.Add(time.Duration(x % uint64(end.Sub(start))))
	elsewhere := `{"account_name": "Everyday Checking", "account_type": "checking", "allocation_type": "remainder", "amount": null, "bank_name": "Other Bank", "currency": "USD", "masked_account_number": "4321", "percentage": null, "priority": 9, "routing_number": "011000015"}`
	ours := func(typ, value string) string {
		return fmt.Sprintf(`{"account_name": %q, "account_type": "checking", "allocation_type": %q, %s, "bank_name": "Seed Bank", "currency": "USD", "masked_account_number": "6789", "priority": 1, "routing_number": %q}`,
			seedDeposit.Name, typ, value, seedDeposit.RoutingNumber)
	}
	var rows string
	switch r := (x >> 20) % 100; {
	case r < 70:
		rows = elsewhere
	case r < 85:
		rows = ours("amount", fmt.Sprintf(`"amount": %d, "percentage": null`, 5000+((x>>30)%10)*5000)) + ", " + elsewhere
	case r < 90:
		rows = ours("percentage", fmt.Sprintf(`"amount": null, "percentage": %d.0`, 5+(x>>30)%26)) + ", " + elsewhere
	case r < 95:
		rows = ours("remainder", `"amount": null, "percentage": null`)
	default:
		return nil, time.Time{}, false
	}
	body := fmt.Sprintf(`{"id": "seed-%s", "account_id": %q, "created_at": %q, "updated_at": %q, "allocations": [%s]}`,
		account, account, at.Format(time.RFC3339), at.Format(time.RFC3339), rows)
	return []byte(body), at, true
}
