// Package worker runs Linkdesk's background work that outlives a request.
// Every piece of it is driven by durable queue rows in db, so a crash or a
// restart resumes where it stopped. The Fetcher reads, after webhook events,
// the data behind them (identity, employment, income, deposit allocations)
// through the Pinwheel client and stores a snapshot of each, keeping the
// history Pinwheel itself does not keep.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// Source is the part of the Pinwheel client the Fetcher reads from;
// *pinwheel.Client implements it.
type Source interface {
	Identity(ctx context.Context, accountID string) (pinwheel.Identity, pinwheel.Meta, error)
	Employment(ctx context.Context, accountID string) (pinwheel.Employment, pinwheel.Meta, error)
	Income(ctx context.Context, accountID string) (pinwheel.Income, pinwheel.Meta, error)
	DirectDepositAllocations(ctx context.Context, accountID string) (pinwheel.DDAllocations, pinwheel.Meta, error)
	Account(ctx context.Context, accountID string) (pinwheel.Account, error)
}

// FetcherOptions tune a Fetcher; the zero value is sensible.
type FetcherOptions struct {
	// Concurrency is how many fetches run at once; 0 means 2.
	Concurrency int
	// Batch is how many due fetches one claim leases; 0 means 16.
	Batch int
	// Lease is how long a claimed fetch is reserved; a worker that dies
	// leaves it to be claimed again after this. 0 means 2 minutes.
	Lease time.Duration
	// MaxAttempts is when a failing fetch gives up (state failed); 0 means 8.
	MaxAttempts int
	// Backoff is the wait after the first failure, doubling each attempt up
	// to MaxBackoff; 0 means 5 s and 30 minutes.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Rate caps fetches per second (Pinwheel bills and rate-limits API
	// calls); 0 means 20.
	Rate float64
	// Poll is how often an idle worker looks at the queue without being
	// woken; 0 means 5 s.
	Poll time.Duration
	// Log receives failures; nil discards.
	Log *slog.Logger
}

// Fetcher works off the fetch queue.
type Fetcher struct {
	store *db.Store
	src   Source
	opt   FetcherOptions
	wake  chan struct{}
}

// NewFetcher returns a Fetcher over store and src.
func NewFetcher(store *db.Store, src Source, opt FetcherOptions) *Fetcher {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 2
	}
	if opt.Batch <= 0 {
		opt.Batch = 16
	}
	if opt.Lease <= 0 {
		opt.Lease = 2 * time.Minute
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 8
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 5 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Minute
	}
	if opt.Rate <= 0 {
		opt.Rate = 20
	}
	if opt.Poll <= 0 {
		opt.Poll = 5 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{store: store, src: src, opt: opt, wake: make(chan struct{}, 1)}
}

// Wake tells an idle Fetcher that new fetches were queued. It never blocks.
func (f *Fetcher) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run works off due fetches until ctx ends. Fetches interrupted by the end
// are put back at once, so a restart picks them up.
func (f *Fetcher) Run(ctx context.Context) error {
	gap := time.Duration(float64(time.Second) / f.opt.Rate)
	var nextStart time.Time
	for ctx.Err() == nil {
		jobs, err := f.store.ClaimFetches(ctx, f.opt.Batch, f.opt.Lease)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			f.opt.Log.Error("fetch queue: claim", "err", err)
			f.idle(ctx, f.opt.Poll)
			continue
		}
		if len(jobs) == 0 {
			wait := f.opt.Poll
			if at, ok, err := f.store.NextFetchAt(ctx); err == nil && ok {
				wait = min(wait, max(time.Until(at), 10*time.Millisecond))
			}
			f.idle(ctx, wait)
			continue
		}

		results := make([]db.FetchResult, len(jobs))
		sem := make(chan struct{}, f.opt.Concurrency)
		var wg sync.WaitGroup
		for i, j := range jobs {
			if d := time.Until(nextStart); d > 0 && !sleep(ctx, d) {
				results[i] = f.interrupted(j)
				continue
			}
			nextStart = time.Now().Add(gap)
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i] = f.fetch(ctx, j)
			})
		}
		wg.Wait()
		// Record even when ctx ended meanwhile: the outcome is known.
		if err := f.store.FinishFetches(context.Background(), results); err != nil {
			f.opt.Log.Error("fetch queue: finish", "err", err)
		}
	}
	return nil
}

// fetch runs one job and decides what happens next.
func (f *Fetcher) fetch(ctx context.Context, j db.FetchJob) db.FetchResult {
	body, meta, err := f.get(ctx, j.Kind, j.AccountID)
	if ctx.Err() != nil {
		return f.interrupted(j)
	}
	r := db.FetchResult{Job: j}
	if err == nil {
		r.Body = body
		if meta.RefreshedAt != nil {
			r.RefreshedAt = meta.RefreshedAt.Time
		}
		return r
	}
	r.Err = err
	if retryable(err) && j.Attempts < f.opt.MaxAttempts {
		r.RetryAt = f.store.Now().Add(f.backoff(j.Attempts))
	}
	if r.RetryAt.IsZero() {
		f.opt.Log.Warn("fetch gave up", "kind", j.Kind, "account_id", j.AccountID, "attempts", j.Attempts, "err", err)
	} else {
		f.opt.Log.Debug("fetch failed, will retry", "kind", j.Kind, "account_id", j.AccountID, "attempt", j.Attempts, "err", err)
	}
	return r
}

// interrupted puts a job back for now without blaming the job.
func (f *Fetcher) interrupted(j db.FetchJob) db.FetchResult {
	return db.FetchResult{Job: j, Err: errors.New("interrupted by shutdown"), RetryAt: f.store.Now()}
}

// get calls the endpoint of kind and returns its data as JSON.
func (f *Fetcher) get(ctx context.Context, kind, accountID string) ([]byte, pinwheel.Meta, error) {
	var data any
	var meta pinwheel.Meta
	var err error
	switch kind {
	case db.FetchIdentity:
		data, meta, err = f.src.Identity(ctx, accountID)
	case db.FetchEmployment:
		data, meta, err = f.src.Employment(ctx, accountID)
	case db.FetchIncome:
		data, meta, err = f.src.Income(ctx, accountID)
	case db.FetchDDAllocations:
		data, meta, err = f.src.DirectDepositAllocations(ctx, accountID)
	case db.FetchAccount:
		data, err = f.src.Account(ctx, accountID)
	default:
		return nil, meta, fmt.Errorf("worker: unknown fetch kind %q", kind)
	}
	if err != nil {
		return nil, meta, err
	}
	b, err := json.Marshal(data)
	return b, meta, err
}

// backoff is the wait after attempt n (1-based): Backoff doubling up to
// MaxBackoff, with up to 10% jitter so that failures together do not retry
// together.
func (f *Fetcher) backoff(n int) time.Duration {
	d := f.opt.MaxBackoff
	if n-1 < 30 {
		d = min(f.opt.Backoff<<(n-1), f.opt.MaxBackoff)
	}
	return d + rand.N(d/10+1)
}

// retryable: a request Pinwheel refused as invalid will not succeed later;
// anything else (5xx, 429, transport, not found yet, unauthorized while
// the secret is fixed) may.
func retryable(err error) bool {
	return !pinwheel.IsInvalidRequest(err)
}

func (f *Fetcher) idle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-f.wake:
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
