package db_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/loadgen"
)

// Several Linkdesk instances on one PostgreSQL database: each test opens
// two Stores on one fresh schema, as two processes would.

func openTwo(t *testing.T) (url string, a, b *db.Store, clk *clock) {
	t.Helper()
	url = dbtest.Postgres(t)
	clk = &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	open := func() *db.Store {
		s, err := db.Open(context.Background(), url, db.Options{Now: clk.now, PasswordCost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return url, open(), open(), clk
}

// TestInstances_ProjectionsWithTwoWriters sends a generated stream of
// Link sessions (redeliveries and overtaking events included) to two
// instances at once, each delivery to either, some to both at the same
// moment, and compares everything the projections and counters hold with
// the same deliveries ingested one at a time by a single instance.
func TestInstances_ProjectionsWithTwoWriters(t *testing.T) {
	_, a, b, _ := openTwo(t)
	ref, err := db.Open(context.Background(), dbtest.Postgres(t), db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()

	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 18, Accounts: 60, Concurrent: 16,
		Now: func() time.Time { return time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC) }})
	base := time.Date(2026, 11, 26, 11, 30, 0, 0, time.UTC)
	type delivery struct {
		body []byte
		at   time.Time
		both bool
	}
	rng := rand.New(rand.NewPCG(18, 1))
	var ds []delivery
	// A redelivery keeps its first delivery's time: a monitoring update
	// carries no time of its own, and the one of the attempt that got
	// through is its order key (project.go), whoever stores it.
	first := map[string]time.Time{}
	for i := range 1200 {
		e := gen.Next()
		at, seen := first[e.EventID]
		if !seen {
			at = base.Add(time.Duration(i) * time.Millisecond)
			first[e.EventID] = at
		}
		ds = append(ds, delivery{body: e.Body, at: at, both: rng.IntN(20) == 0})
	}
	parse := func(d delivery) db.Delivery {
		p, err := db.ParseDelivery(d.body)
		if err != nil {
			t.Fatal(err)
		}
		p.ReceivedAt = d.at
		return p
	}

	ga, gb := runIngester(t, a, db.IngestOptions{MaxBatch: 32}), runIngester(t, b, db.IngestOptions{MaxBatch: 32})
	work := make(chan int)
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for i := range work {
				d := ds[i]
				targets := []*db.Ingester{ga}
				switch {
				case d.both:
					targets = []*db.Ingester{ga, gb}
				case r.IntN(2) == 0:
					targets = []*db.Ingester{gb}
				}
				var inner sync.WaitGroup
				for _, g := range targets {
					inner.Go(func() {
						if _, err := g.Ingest(context.Background(), parse(d)); err != nil {
							t.Errorf("delivery %d: %v", i, err)
						}
					})
				}
				inner.Wait()
			}
		})
	}
	for i := range ds {
		work <- i
	}
	close(work)
	wg.Wait()

	gr := runIngester(t, ref, db.IngestOptions{})
	for _, d := range ds {
		n := 1
		if d.both {
			n = 2
		}
		for range n {
			if _, err := gr.Ingest(context.Background(), parse(d)); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, want := fingerprint(t, a.Path()), fingerprint(t, ref.Path())
	for table, w := range want {
		if g := got[table]; !slices.Equal(g, w) {
			t.Errorf("%s differs from one writer's (%d rows, want %d); first differences:\n%s", table, len(g), len(w), dbtest.FirstDiffs(g, w, 5))
		}
	}
	// Two writers' batches refer only to rows that exist (PostgreSQL
	// keeps these references without foreign keys: migration 086).
	if err := a.CheckReferences(context.Background()); err != nil {
		t.Error(err)
	}
}

// fingerprint reads what ingestion wrote, by Pinwheel's ids (our integer
// ids depend on the order of arrival).
func fingerprint(t *testing.T, url string) map[string][]string {
	t.Helper()
	raw, err := db.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	out := map[string][]string{}
	for table, q := range map[string]string{
		"events": `SELECT e.event_id, e.event, e.delivery_count, e.last_received_at, e.projection, COALESCE(a.account_id, ''), COALESCE(u.end_user_id, ''), COALESCE(l.link_token_id, '')
FROM events e LEFT JOIN accounts a ON a.id = e.account_ref LEFT JOIN end_users u ON u.id = e.end_user_ref LEFT JOIN link_tokens_seen l ON l.id = e.link_token_ref ORDER BY e.event_id`,
		"accounts": `SELECT a.account_id, COALESCE(u.end_user_id, ''), COALESCE(a.platform_id, ''), COALESCE(a.platform_name, ''), COALESCE(a.link_token_id, ''),
  COALESCE(a.created_at, ''), COALESCE(CAST(a.connected AS TEXT), ''), COALESCE(a.monitoring_status, ''), COALESCE(a.monitoring_status_at, ''), a.status_rank,
  a.first_seen_at, a.last_event_at, a.event_count, COALESCE(a.last_job, ''), COALESCE(a.last_job_outcome, ''), COALESCE(a.last_job_at, '')
FROM accounts a LEFT JOIN end_users u ON u.id = a.end_user_ref ORDER BY a.account_id`,
		"end_users": `SELECT end_user_id, first_seen_at, last_seen_at, account_count, event_count FROM end_users ORDER BY end_user_id`,
		"link_tokens": `SELECT l.link_token_id, COALESCE(a.account_id, ''), COALESCE(u.end_user_id, ''), l.first_seen_at, l.last_seen_at, l.event_count, l.success_count,
  l.error_count, l.pending_count, COALESCE(l.last_job, ''), COALESCE(l.last_outcome, ''), COALESCE(l.last_outcome_at, ''), COALESCE(l.last_error_code, '')
FROM link_tokens_seen l LEFT JOIN accounts a ON a.id = l.account_ref LEFT JOIN end_users u ON u.id = l.end_user_ref ORDER BY l.link_token_id`,
		"account_jobs": `SELECT a.account_id, j.job, j.outcome, j.at, e.event_id FROM account_jobs j JOIN accounts a ON a.id = j.account_ref JOIN events e ON e.id = j.event_ref
ORDER BY a.account_id, j.job`,
		"history":  `SELECT e.event_id, h.status, h.status_rank, h.at FROM monitoring_status_history h JOIN events e ON e.id = h.event_ref ORDER BY e.event_id`,
		"switches": `SELECT e.event_id, d.outcome, d.at FROM dd_switches d JOIN events e ON e.id = d.event_ref ORDER BY e.event_id`,
		"counters": `SELECT 'totals', name, '', n FROM totals UNION ALL SELECT 'status', monitoring_status, '', n FROM status_counts
UNION ALL SELECT 'facet', facet, value, n FROM account_facet_counts UNION ALL SELECT 'events', hour, event, accepted * 1000000 + duplicates FROM event_counts
UNION ALL SELECT 'jobs', hour, job || '/' || outcome, n FROM job_outcome_counts
UNION ALL SELECT 'queue', kind, state, CAST(SUM(n) AS BIGINT) FROM (SELECT kind, state, n FROM job_state_counts UNION ALL SELECT kind, state, n FROM job_state_deltas) q
  WHERE kind <> 'fetch.account' GROUP BY kind, state HAVING SUM(n) <> 0 ORDER BY 1, 2, 3`,
		// An account.added that finds its account already there (a job
		// event overtook it) also queues an account fetch: which
		// deliveries do depends on their order, whoever writes.
		"jobs": `SELECT kind, COALESCE(dedupe_key, ''), state FROM jobs WHERE kind <> 'fetch.account' ORDER BY 1, 2, 3`,
	} {
		out[table] = dbtest.Rows(t, raw, q)
	}
	return out
}

// TestInstances_JobClaimsSkipEachOther: workers of two instances claim
// from one queue at once; every job is claimed exactly once (FOR UPDATE
// SKIP LOCKED), and finishing through either instance counts each once.
func TestInstances_JobClaimsSkipEachOther(t *testing.T) {
	_, a, b, _ := openTwo(t)
	ctx := context.Background()
	const n = 300
	for i := range n {
		if _, err := a.EnqueueJob(ctx, db.NewJob{Kind: "k", DedupeKey: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		s := []*db.Store{a, b}[w%2]
		wg.Go(func() {
			for {
				jobs, err := s.ClaimJobs(ctx, []string{"k"}, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				var done []db.JobOutcome
				mu.Lock()
				for _, j := range jobs {
					claimed[j.ID]++
					done = append(done, db.JobOutcome{Job: j})
				}
				mu.Unlock()
				if err := s.FinishJobs(ctx, done); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Errorf("%d jobs claimed, want %d", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Errorf("job %d claimed %d times", id, c)
		}
	}
	stats, err := b.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stats {
		if k.Kind == "k" && (k.ByState[db.JobDone] != n || k.Depth() != 0) {
			t.Errorf("counts %v, want %d done", k.ByState, n)
		}
	}
}

// TestInstances_JobQueueNeverDeadlocks: two instances' runners claim,
// retry, interrupt and finish jobs while a third writer keeps enqueueing
// (as the ingest committer does), all on the same kind, so every
// transaction moves rows between the same states in every direction. No
// transaction may end in a deadlock (PostgreSQL breaks one and the Store
// runs it again, so only the count shows it: Store.Deadlocks), and the
// state counts stay exact.
func TestInstances_JobQueueNeverDeadlocks(t *testing.T) {
	_, a, b, clk := openTwo(t)
	ctx := context.Background()
	const n = 240
	// After an error or a deadlock everything stops: a failed call's jobs
	// stay leased, and the test has failed anyway.
	var stop atomic.Bool
	enqueue := func(s *db.Store, i int) {
		if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: "k", DedupeKey: fmt.Sprint(i), RunAt: clk.now()}); err != nil {
			t.Error(err)
			stop.Store(true)
		}
	}
	for i := range n / 2 {
		enqueue(a, i)
	}
	var wg sync.WaitGroup
	var enqueued atomic.Bool
	wg.Go(func() { // the committer: the rest, while the runners work
		for i := n / 2; i < n && !stop.Load() && a.Deadlocks()+b.Deadlocks() == 0; i++ {
			enqueue(a, i)
		}
		enqueued.Store(true)
	})
	var mu sync.Mutex
	done, interrupted := map[string]bool{}, map[int64]bool{}
	for w := range 6 {
		s := []*db.Store{a, b}[w%2]
		wg.Go(func() {
			for !stop.Load() && a.Deadlocks()+b.Deadlocks() == 0 {
				// Read before claiming: an empty claim after the last
				// enqueue means nothing is left that this worker could
				// take (a job another worker holds, it finishes or
				// requeues and claims again itself).
				last := enqueued.Load()
				jobs, err := s.ClaimJobs(ctx, []string{"k"}, 5, time.Minute)
				if err != nil {
					t.Error(err)
					stop.Store(true)
					return
				}
				if len(jobs) == 0 {
					if last {
						return
					}
					runtime.Gosched()
					continue
				}
				var out []db.JobOutcome
				mu.Lock()
				for _, j := range jobs {
					switch {
					case j.Attempts == 1: // fails once: back to queued
						out = append(out, db.JobOutcome{Job: j, Err: fmt.Errorf("try again"), RetryAt: clk.now()})
					case j.ID%3 == 0 && !interrupted[j.ID]: // the worker stops once: back uncounted
						interrupted[j.ID] = true
						out = append(out, db.JobOutcome{Job: j, Interrupted: true})
					default:
						out = append(out, db.JobOutcome{Job: j})
					}
				}
				mu.Unlock()
				// Outcomes in the reverse of the claim's order: the Store
				// must not depend on the caller's.
				slices.Reverse(out)
				if err := s.FinishJobs(ctx, out); err != nil {
					t.Error(err)
					stop.Store(true)
					return
				}
				mu.Lock()
				for _, o := range out {
					if o.Err == nil && !o.Interrupted {
						done[o.Job.DedupeKey] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if d := a.Deadlocks() + b.Deadlocks(); d > 0 {
		t.Fatalf("%d transactions deadlocked (and ran again)", d)
	}
	if len(done) != n {
		t.Errorf("%d jobs done, want %d", len(done), n)
	}
	stats, err := b.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]int64
	for _, k := range stats {
		if k.Kind == "k" {
			got = k.ByState
		}
	}
	if got[db.JobDone] != n || got[db.JobQueued]+got[db.JobRunning]+got[db.JobFailed] != 0 {
		t.Errorf("state counts %v, want %d done and nothing else", got, n)
	}
}

// TestInstances_AuditChainHasOneOrder: staff actions on two instances at
// once append to one chain that verifies, with every action in it once.
func TestInstances_AuditChainHasOneOrder(t *testing.T) {
	_, a, b, _ := openTwo(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	const each = 20
	for i := range 2 * each {
		s := []*db.Store{a, b}[i%2]
		wg.Go(func() {
			_, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: fmt.Sprintf("p%d@example.com", i), Name: "P", Role: db.RoleOperator, Password: "correct horse battery"})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n, err := a.VerifyAuditChain(ctx)
	if err != nil || n != 2*each {
		t.Fatalf("chain: %d rows, %v; want %d rows that verify", n, err, 2*each)
	}
}

// TestInstances_ChangesReachTheOtherInstance: a subscriber of one instance
// hears of events, staff actions and jobs committed by the other
// (LISTEN/NOTIFY), and not of a transaction that rolled back.
func TestInstances_ChangesReachTheOtherInstance(t *testing.T) {
	_, a, b, clk := openTwo(t)
	ctx := context.Background()
	events, stopE := a.Subscribe(db.TopicEvents)
	defer stopE()
	audit, stopA := a.Subscribe(db.TopicAudit)
	defer stopA()
	jobs, stopJ := a.Subscribe(db.TopicJobs)
	defer stopJ()
	fetches, stopF := a.Subscribe(db.TopicFetches)
	defer stopF()
	drain := func(ch <-chan struct{}) {
		for {
			select {
			case <-ch:
			default:
				return
			}
		}
	}
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatalf("no %s notification from the other instance", what)
		}
	}
	// The listener connects in the background; once it does it wakes
	// everyone. Send until the first notification arrives, then test.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := b.EnqueueJob(ctx, db.NewJob{Kind: "warm-up"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-jobs:
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the listener never connected")
			}
			continue
		}
		break
	}
	drain(events)
	drain(audit)
	drain(jobs)
	drain(fetches)

	g := runIngester(t, b, db.IngestOptions{})
	ingest(t, g, accountAddedBody("n1", "acc-n", "eu-n", "tok-n", "2026-11-26T11:00:00.000000+00:00", "active", true), clk.t)
	wait(events, "events")
	// A job event's batch queues the fetch of its data: the other
	// instance's fetch pools hear of it (serve wakes only those on this
	// topic).
	ingest(t, g, jobBody("n2", "identity.added", "identity", "acc-n", "eu-n", "tok-n", "2026-11-26T11:00:01.000000+00:00", "success", "", "", ""), clk.t)
	wait(fetches, "fetches")
	if _, err := b.CreateStaff(ctx, admin, db.StaffCreate{Email: "n@example.com", Name: "N", Role: db.RoleOperator, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	wait(audit, "audit")
	// A refused change notifies nobody. First a barrier: notifications
	// reach a listener in commit order, so once the marker job's arrives,
	// every notification of what committed before it (a second one of the
	// staff change above, say) has been delivered and can be drained.
	drain(jobs)
	if _, err := b.EnqueueJob(ctx, db.NewJob{Kind: "barrier"}); err != nil {
		t.Fatal(err)
	}
	wait(jobs, "jobs")
	drain(audit)
	if _, err := b.CreateStaff(ctx, admin, db.StaffCreate{Email: "n@example.com", Name: "Again", Role: db.RoleOperator, Password: "correct horse battery"}); err == nil {
		t.Fatal("a duplicate email was accepted")
	}
	if _, err := b.EnqueueJob(ctx, db.NewJob{Kind: "marker"}); err != nil {
		t.Fatal(err)
	}
	wait(jobs, "jobs")
	select {
	case <-audit:
		t.Error("a rolled-back staff change was announced")
	default:
	}
}

// TestInstances_ListenerReconnects: when the listening connection is cut
// (pg_terminate_backend, as a server restart or a failover would), the
// listener connects again, wakes its subscribers once (what was sent
// meanwhile is lost), and the next change another instance commits
// arrives over the new connection.
func TestInstances_ListenerReconnects(t *testing.T) {
	url, a, b, _ := openTwo(t)
	ctx := context.Background()
	// Only the triggers of migration 085 send this topic (the Go write
	// paths announce others): what arrives came through PostgreSQL.
	ch, stop := a.Subscribe(db.TopicLive)
	defer stop()
	drain := func() {
		for {
			select {
			case <-ch:
			default:
				return
			}
		}
	}
	// waitStats waits for the listener to be connected for the n-th time
	// (Connects moves after the wake that connecting sends).
	waitStats := func(n uint64) db.ListenerStats {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			st := a.ListenerStats()
			if st.Connects >= n && st.Connected {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("listener: %+v, want connection %d", st, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatalf("%s never reached the other instance", what)
		}
	}
	first := waitStats(1)
	drain() // the wake of connecting
	if _, err := b.EnqueueJob(ctx, db.NewJob{Kind: "before"}); err != nil {
		t.Fatal(err)
	}
	wait("a job queued before the cut")

	admin, err := db.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed bool
	if err := admin.QueryRowContext(ctx, `SELECT pg_terminate_backend(?)`, first.PID).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listener (pid %d): %v, %v", first.PID, killed, err)
	}
	second := waitStats(2)
	if second.PID == first.PID {
		t.Fatalf("still on backend %d", first.PID)
	}
	drain() // the wake of reconnecting: now only a notification can wake ch
	before := a.ListenerStats().Notifications
	if _, err := b.EnqueueJob(ctx, db.NewJob{Kind: "after"}); err != nil {
		t.Fatal(err)
	}
	wait("a job queued after the reconnect")
	if got := a.ListenerStats().Notifications; got <= before {
		t.Errorf("notifications received: %d, then %d", before, got)
	}
}

// TestInstances_RunExclusive: a single-runner task runs in one instance at
// a time; the other is told it did not run.
func TestInstances_RunExclusive(t *testing.T) {
	_, a, b, _ := openTwo(t)
	ctx := context.Background()
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan bool)
	go func() {
		ran, err := a.RunExclusive(ctx, "check", func(context.Context) error {
			close(inside)
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- ran
	}()
	<-inside
	ran, err := b.RunExclusive(ctx, "check", func(context.Context) error { return nil })
	if err != nil || ran {
		t.Errorf("the second instance ran the task while the first held it: %v %v", ran, err)
	}
	close(release)
	if !<-done {
		t.Error("the first instance did not run it")
	}
	ran, err = b.RunExclusive(ctx, "check", func(context.Context) error { return nil })
	if err != nil || !ran {
		t.Errorf("after the first finished: ran %v, %v", ran, err)
	}
}
