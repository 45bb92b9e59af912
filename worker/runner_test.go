package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/pinwheel"
	"linkdesk/worker"
)

// openStore opens a store on path with the settable clock.
func openStore(t *testing.T, path string, clk *clock) *db.Store {
	t.Helper()
	s, err := db.Open(context.Background(), path, db.Options{Now: clk.now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newQueue(t *testing.T) (*db.Store, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	s := openStore(t, dbtest.Path(t, "q.db"), clk)
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// started runs r in the background and returns the function that stops it
// and waits for Run to return.
func started(t *testing.T, r *worker.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitJob waits (deadline 10 s) until the job with key satisfies cond,
// waking r meanwhile, and returns it.
func waitJob(t *testing.T, s *db.Store, r *worker.Runner, kind, key string, what string, cond func(db.Job) bool) db.Job {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		jobs, err := s.Jobs(context.Background(), []string{kind}, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) > 0 && cond(jobs[0]) {
			return jobs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s/%s: timed out (a minute) waiting until %s; it is %+v", kind, key, what, jobs)
		}
		r.Wake()
		time.Sleep(time.Millisecond)
	}
}

func isDone(j db.Job) bool { return j.State == db.JobDone }

func TestRunner_DispatchesByKind(t *testing.T) {
	s, _ := newQueue(t)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string][]string{}
	handler := func(pool string) worker.Handler {
		return func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			var p struct{ Name string }
			if err := j.Decode(&p); err != nil {
				return nil, worker.Permanent(err)
			}
			mu.Lock()
			seen[pool] = append(seen[pool], j.Kind+":"+p.Name)
			mu.Unlock()
			return nil, nil
		}
	}
	r := worker.NewRunner(s, worker.Options{Poll: time.Hour})
	r.Add(worker.Pool{Kinds: []string{"campaign.launch"}, Handle: handler("launches")})
	r.Add(worker.Pool{Kinds: []string{"alert.check", "alert.notify"}, Handle: handler("alerts")})
	for i, kind := range []string{"campaign.launch", "alert.check", "alert.notify", "campaign.launch"} {
		if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: kind, Payload: map[string]string{"name": fmt.Sprint("j", i)}, DedupeKey: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	started(t, r)
	waitJob(t, s, r, "campaign.launch", "3", "done", isDone)
	waitJob(t, s, r, "alert.notify", "2", "done", isDone)
	waitJob(t, s, r, "alert.check", "1", "done", isDone)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(seen["launches"])
	if got := strings.Join(seen["launches"], ","); got != "campaign.launch:j0,campaign.launch:j3" {
		t.Errorf("launches handled %s", got)
	}
	if len(seen["alerts"]) != 2 {
		t.Errorf("alerts handled %v", seen["alerts"])
	}
}

// TestRunner_BackoffOnTheStoreClock: a failing job waits Backoff, then
// twice that, and so on (plus up to 10% jitter), measured on the Store's
// clock, which the test moves; then it gives up.
func TestRunner_BackoffOnTheStoreClock(t *testing.T) {
	s, clk := newQueue(t)
	var calls atomic.Int32
	r := worker.NewRunner(s, worker.Options{Poll: time.Hour})
	r.Add(worker.Pool{Kinds: []string{"k"}, MaxAttempts: 4, Backoff: time.Minute, MaxBackoff: 3 * time.Minute,
		Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
			calls.Add(1)
			return nil, fmt.Errorf("attempt %d failed", j.Attempts)
		}})
	if _, err := s.EnqueueJob(context.Background(), db.NewJob{Kind: "k", DedupeKey: "x"}); err != nil {
		t.Fatal(err)
	}
	started(t, r)
	for n, wait := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		attempt := n + 1
		j := waitJob(t, s, r, "k", "x", fmt.Sprintf("attempt %d is recorded", attempt), func(j db.Job) bool {
			return j.Attempts == attempt && j.State == db.JobQueued
		})
		if d := j.RunAt.Sub(clk.now()); d < wait || d > wait+wait/10 {
			t.Errorf("after attempt %d the job waits %v, want %v (+10%%)", attempt, d, wait)
		}
		if j.LastError != fmt.Sprintf("attempt %d failed", attempt) {
			t.Errorf("last error %q", j.LastError)
		}
		if got := calls.Load(); got != int32(attempt) {
			t.Fatalf("%d calls before the backoff ran out, want %d", got, attempt)
		}
		clk.add(j.RunAt.Sub(clk.now()))
	}
	j := waitJob(t, s, r, "k", "x", "it gives up", func(j db.Job) bool { return j.State == db.JobFailed })
	if j.Attempts != 4 || calls.Load() != 4 {
		t.Errorf("gave up after %d attempts and %d calls, want 4", j.Attempts, calls.Load())
	}
}

func TestRunner_PermanentErrorsAndPanics(t *testing.T) {
	s, _ := newQueue(t)
	r := worker.NewRunner(s, worker.Options{Poll: time.Hour})
	r.Add(worker.Pool{Kinds: []string{"bad", "boom"}, Backoff: time.Hour, Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
		if j.Kind == "boom" {
			panic("nil map")
		}
		return nil, worker.Permanent(errors.New("payload refused"))
	}})
	for _, k := range []string{"bad", "boom"} {
		if _, err := s.EnqueueJob(context.Background(), db.NewJob{Kind: k, DedupeKey: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	started(t, r)
	bad := waitJob(t, s, r, "bad", "x", "it fails", func(j db.Job) bool { return j.State == db.JobFailed })
	if bad.Attempts != 1 || bad.LastError != "payload refused" {
		t.Errorf("permanent failure: %+v", bad)
	}
	boom := waitJob(t, s, r, "boom", "x", "the panic is recorded", func(j db.Job) bool { return j.Attempts == 1 && j.State == db.JobQueued })
	if !strings.Contains(boom.LastError, "panicked: nil map") {
		t.Errorf("panic recorded as %q", boom.LastError)
	}
}

// TestRunner_StopsSafelyAndResumesAfterRestart: a job cut short by
// shutdown goes back uncounted; a job whose worker died (the process was
// killed holding its lease) runs once the lease ends, after a restart.
func TestRunner_StopsSafelyAndResumesAfterRestart(t *testing.T) {
	path := dbtest.Path(t, "restart.db")
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	s := openStore(t, path, clk)
	ctx := context.Background()
	for _, k := range []string{"killed", "slow"} {
		if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: "k", DedupeKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	// A worker claims "killed" (claims go in enqueue order) and dies
	// without a word.
	got, err := s.ClaimJobs(ctx, []string{"k"}, 1, 10*time.Minute)
	if err != nil || len(got) != 1 || got[0].DedupeKey != "killed" {
		t.Fatalf("claim: %+v %v", got, err)
	}
	killedID := got[0].ID

	// A runner starts "slow", whose handler holds on until shutdown.
	var runs sync.Map
	inSlow := make(chan struct{})
	handler := func(ctx context.Context, j db.Job) (db.JobEffect, error) {
		n, _ := runs.LoadOrStore(j.DedupeKey, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if j.DedupeKey == "slow" && n.(*atomic.Int32).Load() == 1 {
			close(inSlow)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, nil
	}
	r := worker.NewRunner(s, worker.Options{Poll: time.Hour})
	r.Add(worker.Pool{Kinds: []string{"k"}, Handle: handler})
	stop := started(t, r)
	<-inSlow
	stop() // Run returns only once the outcome is recorded
	slow, _ := s.Jobs(ctx, []string{"k"}, "slow")
	if slow[0].State != db.JobQueued || slow[0].Attempts != 0 || !slow[0].RunAt.Equal(clk.now()) {
		t.Fatalf("interrupted job = %+v, want queued at once, attempt uncounted", slow[0])
	}
	s.Close()

	// Restart: a new process, a new runner. "slow" runs at once; "killed"
	// once its lease has run out.
	s = openStore(t, path, clk)
	defer s.Close()
	r = worker.NewRunner(s, worker.Options{Poll: time.Hour})
	r.Add(worker.Pool{Kinds: []string{"k"}, Handle: handler})
	started(t, r)
	waitJob(t, s, r, "k", "slow", "done after the restart", isDone)
	if killed, _ := s.Jobs(ctx, []string{"k"}, "killed"); killed[0].State != db.JobRunning || killed[0].ID != killedID {
		t.Fatalf("killed = %+v, want still leased", killed[0])
	}
	clk.add(10 * time.Minute)
	killed := waitJob(t, s, r, "k", "killed", "done once its lease ran out", isDone)
	if killed.Attempts != 2 {
		t.Errorf("killed job done on attempt %d, want 2", killed.Attempts)
	}
}

// TestRunner_AStoreErrorDoesNotPoisonTheBatch: a result the database
// refuses (a snapshot of an account it does not know) is retried alone;
// its batch mates are recorded.
func TestRunner_AStoreErrorDoesNotPoisonTheBatch(t *testing.T) {
	s, _ := setup(t, jobEvent("e1", pinwheel.EventIdentityAdded, "identity", "acc-ok", "success"))
	ctx := context.Background()
	// A fetch for an account Linkdesk never saw (enqueued by hand).
	payload, _ := json.Marshal(db.FetchPayload{AccountID: "acc-ghost", EventID: "nope"})
	if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: db.FetchJobKind(db.FetchIdentity), Payload: json.RawMessage(payload), DedupeKey: "acc-ghost"}); err != nil {
		t.Fatal(err)
	}
	r := fetchRunner(s, &source{calls: map[string]int{}}, func(p *worker.Pool) { p.Backoff = time.Hour })
	started(t, r)
	kind := db.FetchJobKind(db.FetchIdentity)
	waitJob(t, s, r, kind, "acc-ok", "done", isDone)
	ghost := waitJob(t, s, r, kind, "acc-ghost", "its result is refused", func(j db.Job) bool { return j.State == db.JobQueued && j.Attempts == 1 })
	if !strings.Contains(ghost.LastError, "store result") {
		t.Errorf("ghost = %+v", ghost)
	}
}

// TestRunner_ManyJobsOnceEach runs many jobs at high concurrency (run it
// with -race): each runs exactly once, all are done.
func TestRunner_ManyJobsOnceEach(t *testing.T) {
	s, _ := newQueue(t)
	ctx := context.Background()
	const n = 200
	var counts [n]atomic.Int32
	var finished atomic.Int32
	r := worker.NewRunner(s, worker.Options{Poll: time.Hour, Finished: func(kind, result string, took time.Duration) {
		if result == worker.ResultDone {
			finished.Add(1)
		}
	}})
	r.Add(worker.Pool{Kinds: []string{"a", "b"}, Concurrency: 8, Batch: 32, Handle: func(ctx context.Context, j db.Job) (db.JobEffect, error) {
		var p struct{ I int }
		if err := j.Decode(&p); err != nil {
			return nil, worker.Permanent(err)
		}
		counts[p.I].Add(1)
		return nil, nil
	}})
	stop := started(t, r)
	for i := range n {
		kind := []string{"a", "b"}[i%2]
		if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: kind, Payload: map[string]int{"i": i}, DedupeKey: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			r.Wake()
		}
	}
	waitJob(t, s, r, "b", fmt.Sprint(n-1), "done", isDone)
	deadline := time.Now().Add(time.Minute)
	for finished.Load() < n && time.Now().Before(deadline) {
		r.Wake()
		time.Sleep(time.Millisecond)
	}
	stop()
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			t.Errorf("job %d ran %d times", i, c)
		}
	}
	st, _ := s.JobStats(ctx)
	for _, k := range st {
		if k.Depth() != 0 || k.ByState[db.JobDone] != n/2 {
			t.Errorf("stats %+v", k)
		}
	}
}

// fakeWall is a Wall whose Sleep moves its time at once and records how
// long it was asked to wait.
type fakeWall struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (w *fakeWall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *fakeWall) Sleep(ctx context.Context, d time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.slept = append(w.slept, d)
	w.now = w.now.Add(d)
	return ctx.Err() == nil
}

// TestRunner_RateIsTheDeploymentsPace: a rate-capped pool takes its start
// times from the pace every instance on the database shares
// (db.ReservePace): after another instance took the next second of it,
// this one's three jobs wait for their own slots behind it, 100 ms apart.
// The pacing clock is the test's (Options.Wall): nothing really sleeps.
func TestRunner_RateIsTheDeploymentsPace(t *testing.T) {
	s, _ := newQueue(t)
	ctx := context.Background()
	gap := 100 * time.Millisecond
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	wall := &fakeWall{now: t0}
	r := worker.NewRunner(s, worker.Options{Poll: time.Hour, Wall: wall})
	r.Add(worker.Pool{Kinds: []string{"paced.call"}, Rate: 10, Pace: "paced", Concurrency: 1,
		Handle: func(context.Context, db.Job) (db.JobEffect, error) { return nil, nil }})
	if _, err := s.ReservePace(ctx, "paced", 10, gap, t0); err != nil { // the other instance
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: "paced.call", DedupeKey: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	started(t, r)
	for i := range 3 {
		waitJob(t, s, r, "paced.call", fmt.Sprint(i), "done", isDone)
	}
	wall.mu.Lock()
	slept := slices.Clone(wall.slept)
	wall.mu.Unlock()
	// Its slots are t0 + 1.0, 1.1 and 1.2 s: the first start waited out the
	// other instance's ten, the next two one gap each.
	if want := []time.Duration{time.Second, gap, gap}; !slices.Equal(slept, want) {
		t.Errorf("the runner slept %v, want %v", slept, want)
	}
	next, err := s.ReservePace(ctx, "paced", 1, gap, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(1300 * time.Millisecond); !next[0].Equal(want) {
		t.Errorf("the pace's next start is %v, want %v (after the runner's three)", next[0], want)
	}
}
