// Package worker runs Linkdesk's background work that outlives a request.
// Every piece of it is a job in the durable queue of db (db/jobs.go): the
// Runner claims due jobs with a lease, hands each to the handler registered
// for its kind, and records the outcome, retrying failures with backoff. A
// crash or a restart therefore resumes where it stopped: a lease that runs
// out makes its job due again. The data fetches after webhook events
// (fetch.go) are the first kind; campaign launches, remediation batches and
// alert checks are added the same way (docs/ARCHITECTURE.md).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"linkdesk/db"
)

// Handler runs one job. It returns nil when the job is done, with an
// optional effect that db stores in the transaction marking it done (nil
// for none); an error retries the job with backoff, unless it is wrapped
// with Permanent. A handler must stop soon after ctx ends (the job is then
// put back, not failed), and must tolerate running again for a job it has
// partly done: a crash before the outcome is recorded runs it again.
type Handler func(ctx context.Context, j db.Job) (db.JobEffect, error)

// Pool is one or more job kinds that share a handler and its limits: one
// claim loop of the Runner.
type Pool struct {
	// Kinds are the jobs.kind values the pool claims.
	Kinds []string
	// Handle runs one job.
	Handle Handler
	// Concurrency is how many jobs run at once; 0 means 2.
	Concurrency int
	// Batch is how many due jobs one claim leases; 0 means 16.
	Batch int
	// Lease is how long a claimed job is reserved; a worker that dies
	// leaves it to be claimed again after this. 0 means 2 minutes.
	Lease time.Duration
	// MaxAttempts is when a failing job gives up (state failed); 0 means 8.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubling each attempt up
	// to MaxBackoff; 0 means 5 s and 30 minutes.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Rate caps job starts per second (for kinds that call a rate-limited
	// API); 0 means no cap. The cap is the deployment's, not each
	// instance's: every claim reserves its start times from a pace that
	// all instances on the database share (db.ReservePace), so two
	// instances together start no more than one would. A job never starts
	// before its time; one held up by Concurrency starts late, so in any
	// window the starts exceed Rate by at most Concurrency per instance.
	Rate float64
	// Pace names that shared pace; "" means the pool's first kind.
	Pace string
}

// Options tune a Runner; the zero value is sensible.
type Options struct {
	// Poll is how often an idle pool looks at the queue without being
	// woken; 0 means 5 s.
	Poll time.Duration
	// Log receives failures; nil discards.
	Log *slog.Logger
	// Finished, if set, is told of every attempt: its kind, how it ended
	// (ResultDone, ResultRetry, ResultFailed or ResultInterrupted) and how
	// long the handler ran. It must be quick (metrics).
	Finished func(kind, result string, took time.Duration)
	// Wall is the clock that paces a rate-capped pool (Pool.Rate): real
	// time, whatever the Store's clock says; nil means the real one. Tests
	// give one that sleeps without waiting.
	Wall Wall
}

// Wall tells the time and sleeps: the clock of Pool.Rate's pacing.
type Wall interface {
	Now() time.Time
	// Sleep waits d, or less if ctx ends first: then it returns false.
	Sleep(ctx context.Context, d time.Duration) bool
}

// realWall is time itself.
type realWall struct{}

func (realWall) Now() time.Time { return time.Now() }

func (realWall) Sleep(ctx context.Context, d time.Duration) bool { return sleep(ctx, d) }

// How an attempt ended, as reported to Options.Finished.
const (
	ResultDone        = "done"
	ResultRetry       = "retry"
	ResultFailed      = "failed"
	ResultInterrupted = "interrupted"
)

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the job fails at once instead of retrying (a
// payload that does not decode, a request the API refused as invalid).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// isPermanent reports whether err was wrapped with Permanent.
func isPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// Runner claims jobs from the queue and dispatches them by kind to the
// pools added to it. Its clock is the Store's (db.Options.Now), so tests
// drive backoff and lease expiry without waiting.
type Runner struct {
	store *db.Store
	opt   Options

	mu      sync.Mutex
	pools   []*pool
	started bool
}

// pool is a Pool with its defaults filled in and its wake channel.
type pool struct {
	Pool
	wake chan struct{}
}

// NewRunner returns a Runner over store; add pools, then call Run.
func NewRunner(store *db.Store, opt Options) *Runner {
	if opt.Poll <= 0 {
		opt.Poll = 5 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Wall == nil {
		opt.Wall = realWall{}
	}
	return &Runner{store: store, opt: opt}
}

// Add registers a pool. Every kind belongs to one pool; Add panics on a
// kind added twice, a pool without kinds or handler, or after Run began
// (all programming errors, found by the first test that runs).
func (r *Runner) Add(p Pool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		panic("worker: Add after Run")
	}
	if len(p.Kinds) == 0 || p.Handle == nil {
		panic("worker: a pool needs kinds and a handler")
	}
	for _, q := range r.pools {
		for _, k := range p.Kinds {
			if slices.Contains(q.Kinds, k) {
				panic(fmt.Sprintf("worker: job kind %q added twice", k))
			}
		}
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 2
	}
	if p.Batch <= 0 {
		p.Batch = 16
	}
	if p.Lease <= 0 {
		p.Lease = 2 * time.Minute
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.Backoff <= 0 {
		p.Backoff = 5 * time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 30 * time.Minute
	}
	p.Kinds = slices.Clone(p.Kinds)
	r.pools = append(r.pools, &pool{Pool: p, wake: make(chan struct{}, 1)})
}

// Wake tells idle pools that jobs were queued. It never blocks.
func (r *Runner) Wake() { r.WakeKinds(nil) }

// WakeKinds tells the idle pools that run any of kinds that jobs of those
// kinds were queued (every pool when kinds is empty). A woken pool reads
// the queue (NextJobAt); ingestion queues only fetches, once per batch,
// and waking the other pools too cost each instance a read per pool per
// batch. It never blocks.
func (r *Runner) WakeKinds(kinds []string) {
	r.mu.Lock()
	pools := r.pools
	r.mu.Unlock()
	for _, p := range pools {
		if len(kinds) > 0 && !slices.ContainsFunc(p.Kinds, func(k string) bool { return slices.Contains(kinds, k) }) {
			continue
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Run works off due jobs until ctx ends, one claim loop per pool. When ctx
// ends, running handlers see it; the jobs they leave are put back at once
// (not counted as attempts), every outcome already known is recorded, and
// Run returns after all of that, so the Store may close.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	r.started = true
	pools := r.pools
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Go(func() { r.loop(ctx, p) })
	}
	wg.Wait()
	return nil
}

// loop claims and runs the jobs of one pool until ctx ends.
func (r *Runner) loop(ctx context.Context, p *pool) {
	var gap time.Duration
	if p.Rate > 0 {
		gap = time.Duration(float64(time.Second) / p.Rate)
	}
	var nextStart time.Time
	// failed reports a store error (quietly when stopping) and waits a
	// poll before the pool tries again.
	failed := func(what string, err error) {
		if ctx.Err() == nil {
			r.opt.Log.Error("job queue: "+what, "kinds", p.Kinds, "err", err)
			r.idle(ctx, p, r.opt.Poll)
		}
	}
	for ctx.Err() == nil {
		// Look before claiming: a claim is a write transaction (on SQLite
		// it takes the one writer from ingestion; on PostgreSQL it costs a
		// transaction and an UPDATE), and every pool is woken whenever
		// any job is queued, so most wakes find nothing due for this
		// pool. The look is one read of jobs_kind_due per kind.
		at, ok, err := r.store.NextJobAt(ctx, p.Kinds)
		if err != nil {
			failed("next due", err)
			continue
		}
		if now := r.store.Now(); !ok || at.After(now) {
			wait := r.opt.Poll
			if ok {
				wait = min(wait, max(at.Sub(now), 10*time.Millisecond))
			}
			r.idle(ctx, p, wait)
			continue
		}
		jobs, err := r.store.ClaimJobs(ctx, p.Kinds, p.Batch, p.Lease)
		if err != nil {
			failed("claim", err)
			continue
		}
		if len(jobs) == 0 {
			// Due, but another claim holds or took them: look again soon.
			r.idle(ctx, p, 10*time.Millisecond)
			continue
		}

		// Start times from the pace every instance shares; if it cannot
		// be read, this instance keeps the rate on its own meanwhile.
		var starts []time.Time
		if gap > 0 {
			name := p.Pace
			if name == "" {
				name = p.Kinds[0]
			}
			starts, err = r.store.ReservePace(ctx, name, len(jobs), gap, r.opt.Wall.Now())
			if err != nil {
				if ctx.Err() == nil {
					r.opt.Log.Warn("job queue: pace", "pace", name, "err", err)
				}
				starts = nil
			}
		}
		results := make([]db.JobOutcome, len(jobs))
		sem := make(chan struct{}, p.Concurrency)
		var wg sync.WaitGroup
		for i, j := range jobs {
			if gap > 0 {
				at := nextStart
				if starts != nil {
					at = starts[i]
				}
				if d := at.Sub(r.opt.Wall.Now()); d > 0 && !r.opt.Wall.Sleep(ctx, d) {
					results[i] = r.interrupted(p, j)
					continue
				}
				nextStart = r.opt.Wall.Now().Add(gap)
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i] = r.run(ctx, p, j)
			})
		}
		wg.Wait()
		// Record even when ctx ended meanwhile: the outcomes are known.
		r.finish(p, results)
	}
}

// run calls the handler for one job and decides what happens next.
func (r *Runner) run(ctx context.Context, p *pool, j db.Job) db.JobOutcome {
	start := time.Now()
	effect, err := r.call(ctx, p.Handle, j)
	took := time.Since(start)
	if err != nil && ctx.Err() != nil {
		// The runner is stopping: the handler was cut short.
		return r.interrupted(p, j)
	}
	out := db.JobOutcome{Job: j, Effect: effect}
	if err == nil {
		r.report(j.Kind, ResultDone, took)
		return out
	}
	out.Err = err
	if !isPermanent(err) && j.Attempts < p.MaxAttempts {
		out.RetryAt = r.store.Now().Add(backoff(p.Backoff, p.MaxBackoff, j.Attempts))
	}
	if out.RetryAt.IsZero() {
		r.report(j.Kind, ResultFailed, took)
		r.opt.Log.Warn("job gave up", "kind", j.Kind, "job", j.ID, "key", j.DedupeKey, "attempts", j.Attempts, "err", err)
	} else {
		r.report(j.Kind, ResultRetry, took)
		r.opt.Log.Debug("job failed, will retry", "kind", j.Kind, "job", j.ID, "key", j.DedupeKey, "attempt", j.Attempts, "err", err)
	}
	return out
}

// call runs the handler, turning a panic into a failure: one bad job must
// not take the process down.
func (r *Runner) call(ctx context.Context, h Handler, j db.Job) (effect db.JobEffect, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.opt.Log.Error("job handler panicked", "kind", j.Kind, "job", j.ID, "panic", v, "stack", string(debug.Stack()))
			effect, err = nil, fmt.Errorf("worker: handler panicked: %v", v)
		}
	}()
	return h(ctx, j)
}

// interrupted puts a job back for now without blaming it.
func (r *Runner) interrupted(p *pool, j db.Job) db.JobOutcome {
	r.report(j.Kind, ResultInterrupted, 0)
	return db.JobOutcome{Job: j, Err: errors.New("interrupted by shutdown"), Interrupted: true}
}

// finish records a batch's outcomes in one transaction. If that fails (an
// effect the database refuses), each is recorded alone, and a job whose
// effect cannot be stored is retried later instead of poisoning its batch.
func (r *Runner) finish(p *pool, results []db.JobOutcome) {
	bg := context.Background() // recording an outcome is never abandoned
	err := r.store.FinishJobs(bg, results)
	if err == nil {
		return
	}
	r.opt.Log.Error("job queue: finish batch", "kinds", p.Kinds, "err", err)
	for _, res := range results {
		err := r.store.FinishJobs(bg, []db.JobOutcome{res})
		if err == nil || res.Effect == nil {
			continue
		}
		res.Effect, res.Err = nil, fmt.Errorf("store result: %w", err)
		if res.Job.Attempts < p.MaxAttempts {
			res.RetryAt = r.store.Now().Add(backoff(p.Backoff, p.MaxBackoff, res.Job.Attempts))
		}
		if err := r.store.FinishJobs(bg, []db.JobOutcome{res}); err != nil {
			r.opt.Log.Error("job queue: finish", "kind", res.Job.Kind, "job", res.Job.ID, "err", err)
		}
	}
}

func (r *Runner) report(kind, result string, took time.Duration) {
	if r.opt.Finished != nil {
		r.opt.Finished(kind, result, took)
	}
}

// backoff is the wait after attempt n (1-based): base doubling up to
// limit, with up to 10% jitter so that failures together do not retry
// together.
func backoff(base, limit time.Duration, n int) time.Duration {
	d := limit
	if n-1 < 30 {
		d = min(base<<(n-1), limit)
	}
	return d + rand.N(d/10+1)
}

func (r *Runner) idle(ctx context.Context, p *pool, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-p.wake:
	case <-t.C:
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
