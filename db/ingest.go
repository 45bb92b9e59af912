package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit.
//
// Every webhook must be on disk (synchronous=FULL) before it is answered
// 200, and one fsync costs about half a millisecond here: one transaction
// per request tops out near 1,400 requests/s. So one goroutine, the
// committer, owns the writes of webhook events. A request hands its
// verified delivery to the committer over a channel and waits. The
// committer takes whatever has queued up (at most MaxBatch items; while it
// was busy committing, the next batch formed by itself), runs one write
// transaction for all of them, commits, and then answers each waiter. At
// concurrency 1 a delivery therefore waits for one commit only; at
// concurrency 64 one fsync acknowledges dozens of events.
//
// Each item runs inside its own SAVEPOINT, so an item that fails (a
// duplicate event_id, a payload the projection cannot handle, a constraint)
// is rolled back alone and never poisons its batch. A duplicate only bumps
// the stored event's delivery_count; an item whose projection fails is
// stored unprojected with the error (projection = 'failed') so that staff
// can see it, and is still acknowledged. Only when the batch's transaction
// itself fails (disk full, I/O error) do all its waiters get an error (the
// handler answers 500 and Pinwheel redelivers later).
//
// Rejected deliveries are recorded by the same committer, in the same
// batches, without making the 401 wait: a flood of bad requests costs one
// fsync per batch, not per request. When the rejection queue is full the
// detail row is dropped but still counted (totals.rejections_unrecorded and
// rejection_counts), so a flood cannot exhaust memory.

// IngestOptions tune an Ingester. The zero value is sensible.
type IngestOptions struct {
	// MaxBatch caps the deliveries of one transaction; 0 means 256.
	MaxBatch int
	// Window is how long the committer may wait for more deliveries before
	// committing, and only while busy (the previous batch held at least 8):
	// a lone delivery is committed at once. 0 never waits: the batch is
	// what queued up during the previous commit.
	Window time.Duration
	// WriterCacheKiB sets the page cache of the writer connection, which
	// the committer keeps busy; 0 means 16 MiB. The writer also stops using
	// mmap, so that its reads stay inside this bound: the resident memory of
	// a busy server stays flat as the database grows (the modernc allocator
	// needs about twice the cache size).
	WriterCacheKiB int
	// QueueSize is how many deliveries may wait for the committer before
	// Ingest blocks; 0 means 4096.
	QueueSize int
	// RejectQueue is how many rejections may wait to be recorded before
	// further ones are only counted; 0 means 4096.
	RejectQueue int
	// KeepRejections is how many webhook_rejections rows are kept; older
	// ones are pruned. 0 means 50,000.
	KeepRejections int
	// Hooks report what happened, for metrics and to wake the job runner.
	Hooks IngestHooks
}

// IngestHooks are optional callbacks; nil ones are skipped. They run on the
// committer's goroutine (Rejected on the caller's) and must be quick.
type IngestHooks struct {
	// Result reports each answered delivery: "accepted", "duplicate" or
	// "error", and how long it waited for its commit.
	Result func(result string, wait time.Duration)
	// Rejected reports each refused delivery by reason.
	Rejected func(reason string)
	// Batch reports each transaction: deliveries, rejections, duration.
	Batch func(deliveries, rejections int, took time.Duration)
	// Queued reports that a commit queued jobs (data fetches), to wake
	// the job runner.
	Queued func()
}

// IngestResult is the outcome of an accepted delivery.
type IngestResult struct {
	// ID is the events row (0 for a duplicate).
	ID int64
	// Duplicate is true when event_id was already stored; the delivery was
	// counted and nothing was projected.
	Duplicate bool
}

// ErrIngesterClosed is returned by Ingest after shutdown began.
var ErrIngesterClosed = errors.New("db: ingester closed")

// Rejection is a refused webhook delivery, recorded for staff.
type Rejection struct {
	// At is when it arrived; zero means the Store's clock.
	At     time.Time
	Reason string
	// Status is the HTTP status answered.
	Status     int
	RemoteAddr string
	// Headers are the headers that matter (the caller leaves out cookies
	// and secrets).
	Headers map[string]string
	// Body is what was read of the body; BodySize its full size when known
	// to be larger (Content-Length of an oversized body), else 0.
	Body     []byte
	BodySize int64
	// KeepBody stores the body itself: only when the signature was valid.
	KeepBody bool
}

type rejection struct {
	at, hour, reason, remote, headers, sha string
	status                                 int
	size                                   int64
	body                                   []byte
}

type item struct {
	d     Delivery
	start time.Time
	done  chan itemResult
}

type itemResult struct {
	res IngestResult
	err error
}

// Ingester is the group-commit writer of webhook events. Create it with
// NewIngester, run Run on a goroutine, and call Ingest from any number of
// request goroutines.
type Ingester struct {
	s    *Store
	opt  IngestOptions
	st   *boundStmts
	in   chan *item
	rej  chan *rejection
	lost atomic.Int64 // rejections dropped because rej was full

	mu      sync.Mutex
	closed  bool
	sending sync.WaitGroup

	stopped chan struct{}
	pruneN  int

	// restartWAL is set by the checkpointer when the WAL should start
	// over; the committer then checkpoints between batches (sqlite_checkpoint.go).
	restartWAL   atomic.Bool
	checkpointed func(frames int, mode string, took time.Duration)
}

// committer is the per-batch view of the Ingester used by project.
type committer struct{ g *Ingester }

// NewIngester prepares the ingest statements on the Store's writer.
func (s *Store) NewIngester(ctx context.Context, opt IngestOptions) (*Ingester, error) {
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 256
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = 4096
	}
	if opt.RejectQueue <= 0 {
		opt.RejectQueue = 4096
	}
	if opt.KeepRejections <= 0 {
		opt.KeepRejections = 50000
	}
	if opt.WriterCacheKiB <= 0 {
		opt.WriterCacheKiB = 16 << 10
	}
	if err := s.d.tuneWriter(ctx, s.w, opt.WriterCacheKiB); err != nil {
		return nil, fmt.Errorf("db: ingester: %w", err)
	}
	st, err := s.prepareStmts(ctx)
	if err != nil {
		return nil, err
	}
	return &Ingester{
		s: s, opt: opt, st: st,
		in:      make(chan *item, opt.QueueSize),
		rej:     make(chan *rejection, opt.RejectQueue),
		stopped: make(chan struct{}),
	}, nil
}

// Ingest stores one verified delivery exactly once and returns after the
// transaction holding it has committed. It blocks while the queue is full;
// when ctx ends first the delivery may or may not be stored (a redelivery
// settles it).
func (g *Ingester) Ingest(ctx context.Context, d Delivery) (IngestResult, error) {
	it := &item{d: d, start: time.Now(), done: make(chan itemResult, 1)}
	if it.d.ReceivedAt.IsZero() {
		it.d.ReceivedAt = g.s.now()
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return IngestResult{}, ErrIngesterClosed
	}
	g.sending.Add(1)
	g.mu.Unlock()

	select {
	case g.in <- it:
		g.sending.Done()
	case <-ctx.Done():
		g.sending.Done()
		return IngestResult{}, ctx.Err()
	}
	select {
	case r := <-it.done:
		return r.res, r.err
	case <-ctx.Done():
		return IngestResult{}, ctx.Err()
	}
}

// Reject records a refused delivery without waiting for the disk. It never
// blocks: when the recording queue is full only the count is kept.
func (g *Ingester) Reject(r Rejection) {
	if h := g.opt.Hooks.Rejected; h != nil {
		h(r.Reason)
	}
	if r.At.IsZero() {
		r.At = g.s.now()
	}
	sum := sha256.Sum256(r.Body)
	headers, _ := json.Marshal(r.Headers)
	if r.Headers == nil {
		headers = []byte("{}")
	}
	x := &rejection{
		at: FormatTime(r.At), hour: hourOf(r.At), reason: r.Reason, remote: truncate(r.RemoteAddr, 100), headers: string(headers),
		sha: hex.EncodeToString(sum[:]), status: r.Status, size: max(int64(len(r.Body)), r.BodySize),
	}
	if r.KeepBody {
		x.body = r.Body
	}
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		g.lost.Add(1)
		return
	}
	select {
	case g.rej <- x:
	default:
		g.lost.Add(1)
	}
}

// Run commits batches until ctx ends, then refuses new deliveries, commits
// everything already handed over, and returns. Call it once.
func (g *Ingester) Run(ctx context.Context) error {
	defer close(g.stopped)
	defer g.st.close()
	batch := make([]*item, 0, g.opt.MaxBatch)
	var rejs []*rejection
	for {
		select {
		case <-ctx.Done():
			return g.shutdown()
		case it := <-g.in:
			busy := len(batch) >= 8 // the previous batch
			batch = g.collect(append(batch[:0], it), busy)
		case r := <-g.rej:
			rejs = append(rejs, r)
			batch = g.collect(batch[:0], false)
		}
		rejs = g.drainRejections(rejs)
		g.commit(batch, rejs)
		rejs = rejs[:0]
	}
}

// Done is closed when Run has returned.
func (g *Ingester) Done() <-chan struct{} { return g.stopped }

// collect adds deliveries that are already queued (and, with a Window,
// those arriving within it) up to MaxBatch.
func (g *Ingester) collect(batch []*item, wait bool) []*item {
	for len(batch) < g.opt.MaxBatch {
		select {
		case it := <-g.in:
			batch = append(batch, it)
			continue
		default:
		}
		break
	}
	if !wait || g.opt.Window <= 0 || len(batch) >= g.opt.MaxBatch {
		return batch
	}
	t := time.NewTimer(g.opt.Window)
	defer t.Stop()
	for len(batch) < g.opt.MaxBatch {
		select {
		case it := <-g.in:
			batch = append(batch, it)
		case <-t.C:
			return batch
		}
	}
	return batch
}

func (g *Ingester) drainRejections(rejs []*rejection) []*rejection {
	for len(rejs) < 4*g.opt.MaxBatch {
		select {
		case r := <-g.rej:
			rejs = append(rejs, r)
		default:
			return rejs
		}
	}
	return rejs
}

// shutdown refuses new deliveries, waits for senders already past the
// check while still committing what they hand over, then commits the rest.
func (g *Ingester) shutdown() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	sent := make(chan struct{})
	go func() { g.sending.Wait(); close(sent) }()
	for {
		select {
		case it := <-g.in:
			g.commit(g.collect([]*item{it}, false), g.drainRejections(nil))
		case <-sent:
			for {
				batch := g.collect(nil, false)
				rejs := g.drainRejections(nil)
				if len(batch) == 0 && len(rejs) == 0 && g.lost.Load() == 0 {
					return nil
				}
				if err := g.commit(batch, rejs); err != nil && len(batch) == 0 {
					return err // only counts were left, and the disk refuses them
				}
			}
		}
	}
}

// batchAgg sums the counter changes of a batch so that each counter row is
// written once per transaction.
type batchAgg struct {
	events  map[[2]string][2]int64 // (hour, event) → accepted, duplicates
	jobs    map[[3]string]int64    // (hour, job, outcome)
	rejects map[[2]string]int64    // (hour, reason)
	status  map[string]int64
	totals  map[string]int64
	queued  bool
}

func newAgg() *batchAgg {
	return &batchAgg{
		events: map[[2]string][2]int64{}, jobs: map[[3]string]int64{}, rejects: map[[2]string]int64{},
		status: map[string]int64{}, totals: map[string]int64{},
	}
}

// commit runs one transaction for the batch and answers its waiters. The
// error is the transaction's (each waiter got it too).
func (g *Ingester) commit(batch []*item, rejs []*rejection) error {
	lost := g.lost.Swap(0)
	if len(batch) == 0 && len(rejs) == 0 && lost == 0 {
		return nil
	}
	start := time.Now()
	ctx := context.Background() // a commit in progress is never abandoned
	results := make([]itemResult, len(batch))
	var agg *batchAgg
	err := g.s.tx(ctx, func(tx *sql.Tx) error {
		agg = newAgg()
		st := g.st.bind(ctx, tx)
		c := committer{g}
		for i, it := range batch {
			r, err := c.apply(ctx, st, it, agg)
			if err != nil && isSystemic(err) {
				return err
			}
			results[i] = itemResult{res: r, err: err}
		}
		if err := g.recordRejections(ctx, st, rejs, lost, agg); err != nil {
			return err
		}
		return agg.flush(ctx, st)
	})
	if err != nil {
		err = fmt.Errorf("db: ingest batch of %d: %w", len(batch), err)
		for i := range results {
			results[i] = itemResult{err: err}
		}
		g.lost.Add(int64(len(rejs)) + lost) // keep the count for the next batch
	}
	hooks := g.opt.Hooks
	if hooks.Batch != nil {
		hooks.Batch(len(batch), len(rejs), time.Since(start))
	}
	now := time.Now()
	for i, it := range batch {
		r := results[i]
		it.done <- r
		if hooks.Result != nil {
			outcome := "accepted"
			switch {
			case r.err != nil:
				outcome = "error"
			case r.res.Duplicate:
				outcome = "duplicate"
			}
			hooks.Result(outcome, now.Sub(it.start))
		}
	}
	if err == nil && agg.queued && hooks.Queued != nil {
		hooks.Queued()
	}
	g.restartWALIfAsked()
	return err
}

// isSystemic reports an error that dooms the whole transaction rather than
// one item: the connection or the savepoint machinery failed.
func isSystemic(err error) bool {
	var se *systemicError
	return errors.As(err, &se)
}

type systemicError struct{ err error }

func (e *systemicError) Error() string { return e.err.Error() }
func (e *systemicError) Unwrap() error { return e.err }

// apply stores one delivery inside a savepoint.
func (c committer) apply(ctx context.Context, st *boundStmts, it *item, agg *batchAgg) (IngestResult, error) {
	d := &it.d
	recvT := d.ReceivedAt.UTC()
	recv := FormatTime(recvT)
	hour := hourOf(recvT)
	if _, err := st.savepoint.ExecContext(ctx); err != nil {
		return IngestResult{}, &systemicError{err}
	}
	pr, err := c.project(ctx, st, d, recv)
	if err == nil {
		if _, err := st.release.ExecContext(ctx); err != nil {
			return IngestResult{}, &systemicError{err}
		}
		agg.accepted(hour, d.Event, pr, d.Reconciled)
		return IngestResult{ID: pr.eventRef}, nil
	}
	if _, rerr := st.rollbackTo.ExecContext(ctx); rerr != nil {
		return IngestResult{}, &systemicError{rerr}
	}

	if errors.Is(err, errDuplicate) {
		_, err = st.eventDuplicate.ExecContext(ctx, recv, recv, d.EventID)
		if _, rerr := st.release.ExecContext(ctx); rerr != nil {
			return IngestResult{}, &systemicError{rerr}
		}
		if err != nil {
			return IngestResult{}, fmt.Errorf("db: count duplicate %s: %w", d.EventID, err)
		}
		agg.duplicate(hour, d.Event)
		return IngestResult{Duplicate: true}, nil
	}

	// The projection failed: keep the event, unprojected, with the error.
	perr := sql.NullString{String: truncate(err.Error(), 500), Valid: true}
	ref, ierr := c.insertEvent(ctx, st, d, recv, sql.NullInt64{}, sql.NullInt64{}, sql.NullInt64{}, "failed", perr)
	switch {
	case errors.Is(ierr, errDuplicate):
		// Cannot happen: the savepoint saw no such event a moment ago.
		ierr = fmt.Errorf("db: event %s vanished", d.EventID)
	case ierr == nil:
		if _, rerr := st.release.ExecContext(ctx); rerr != nil {
			return IngestResult{}, &systemicError{rerr}
		}
		agg.accepted(hour, d.Event, projection{eventRef: ref}, d.Reconciled)
		return IngestResult{ID: ref}, nil
	}
	if _, rerr := st.rollbackTo.ExecContext(ctx); rerr != nil {
		return IngestResult{}, &systemicError{rerr}
	}
	if _, rerr := st.release.ExecContext(ctx); rerr != nil {
		return IngestResult{}, &systemicError{rerr}
	}
	return IngestResult{}, fmt.Errorf("db: store event %s: %w (after projection error: %v)", d.EventID, ierr, err)
}

func (a *batchAgg) accepted(hour, event string, pr projection, reconciled bool) {
	a.totals["events"]++
	if reconciled {
		a.totals["reconciled"]++ // not webhook traffic: no delivery, no hourly count
	} else {
		k := [2]string{hour, event}
		v := a.events[k]
		v[0]++
		a.events[k] = v
		a.totals["deliveries"]++
	}
	if pr.newEndUser {
		a.totals["end_users"]++
	}
	if pr.newAccount {
		a.totals["accounts"]++
	}
	if pr.newToken {
		a.totals["link_tokens"]++
	}
	if pr.job != "" {
		a.jobs[[3]string{hour, pr.job, pr.jobOutcome}]++
	}
	if pr.statusFrom != nil {
		a.status[*pr.statusFrom]--
	}
	if pr.statusFrom != nil || pr.newAccount {
		a.status[pr.statusTo]++
	}
	if pr.jobQueued {
		a.queued = true
	}
}

func (a *batchAgg) duplicate(hour, event string) {
	k := [2]string{hour, event}
	v := a.events[k]
	v[1]++
	a.events[k] = v
	a.totals["duplicates"]++
	a.totals["deliveries"]++
}

// flush writes the summed counters.
func (a *batchAgg) flush(ctx context.Context, st *boundStmts) error {
	for k, v := range a.events {
		if _, err := st.eventCounts.ExecContext(ctx, k[0], k[1], v[0], v[1]); err != nil {
			return fmt.Errorf("event counts: %w", err)
		}
	}
	for k, n := range a.jobs {
		if _, err := st.jobCounts.ExecContext(ctx, k[0], k[1], k[2], n); err != nil {
			return fmt.Errorf("job counts: %w", err)
		}
	}
	for k, n := range a.rejects {
		if _, err := st.rejectionCounts.ExecContext(ctx, k[0], k[1], n); err != nil {
			return fmt.Errorf("rejection counts: %w", err)
		}
	}
	for k, n := range a.status {
		if n == 0 {
			continue
		}
		if _, err := st.statusCounts.ExecContext(ctx, k, n); err != nil {
			return fmt.Errorf("status counts: %w", err)
		}
	}
	for k, n := range a.totals {
		if _, err := st.totals.ExecContext(ctx, k, n); err != nil {
			return fmt.Errorf("totals: %w", err)
		}
	}
	return nil
}

// recordRejections inserts the detail rows and counts them; lost ones (the
// queue was full) are counted under the hour of this batch.
func (g *Ingester) recordRejections(ctx context.Context, st *boundStmts, rejs []*rejection, lost int64, agg *batchAgg) error {
	for _, r := range rejs {
		if _, err := st.rejectionInsert.ExecContext(ctx, r.at, r.reason, r.status, r.remote, r.headers, r.size, r.sha, r.body); err != nil {
			return fmt.Errorf("rejection: %w", err)
		}
		agg.rejects[[2]string{r.hour, r.reason}]++
		agg.totals["rejections"]++
	}
	if lost > 0 {
		agg.rejects[[2]string{hourOf(g.s.now()), "unrecorded"}] += lost
		agg.totals["rejections"] += lost
		agg.totals["rejections_unrecorded"] += lost
	}
	g.pruneN += len(rejs)
	if g.pruneN >= 1000 {
		g.pruneN = 0
		if _, err := st.rejectionPrune.ExecContext(ctx, g.opt.KeepRejections); err != nil {
			return fmt.Errorf("prune rejections: %w", err)
		}
	}
	return nil
}
