package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// Several writers.
//
// On PostgreSQL several Linkdesk instances ingest into one database, each
// with its own committer, and their batches run at the same time except
// for their end. A batch's first attempt (applyAtOnce, pipelined):
//
//  1. announces the events it is about to insert (events_horizon.go);
//  2. without the "ingest" lock (the dialect's advisory transaction lock):
//     reads which events are known already, writes its end users (first,
//     in id order, one statement), reads its accounts FOR UPDATE (in id
//     order), merges them in Go and writes them, and writes its events
//     and everything else a delivery projects, in the batch's order;
//  3. takes the "ingest" lock and, under it, writes its rejections, the
//     counters (in key order) and the notifications, and commits; the
//     counters that triggers keep from the accounts table, and the totals
//     of new rows, are updated at the commit (deferred triggers, migration
//     088), so under the lock too.
//
// So
//
//   - a delivery is stored exactly once by event_id across instances: the
//     UNIQUE index on event_id is the last word. An event another
//     instance's batch inserted after this one looked (knownEvents) makes
//     this one's insert wait for that commit and fail; the attempt runs
//     again (errRaced) and finds the event: a duplicate. Two batches
//     creating the same account, likewise (end users are upserted: the
//     second waits for the first and adds to its row);
//   - the projections are order-insensitive (project.go), and an account
//     is read locked and written back by one batch at a time (a job's
//     fetch of the same account waits for the batch's commit);
//   - two batches that name the same end users or accounts lock them in
//     one order, so the second waits instead of deadlocking; what they do
//     not share, they write at the same time;
//   - counter rows are changed by one transaction at a time, in key order:
//     no deadlock over them, and a counter row is not held locked from the
//     middle of a batch to its commit;
//   - event ids are not in commit order (two batches take ids at the same
//     time): a reader of new events stops below the announcements of the
//     batches still running (events_horizon.go), so it never passes an
//     event that commits later below one it has read.
//
// An attempt one item at a time (applyCarefully: savepoints, nothing
// pipelined) takes the lock first, as SQLite's single writer connection
// serializes every batch anyway. Deadlocks that remain possible (two
// batches inserting the same two new accounts in opposite orders, a
// careful attempt against a batch that waits for the lock, campaign
// counters of one campaign) end one transaction, which Store.tx runs
// again; they are rare because each delivery goes to one instance. The
// earlier design (every batch under the lock from its start) and why it
// was left are in docs/PERFORMANCE.md ("Eighth pass").

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
	// Queued reports that a commit queued jobs (data fetches only:
	// FetchJobKinds, announced as TopicFetches), to wake
	// the job runner.
	Queued func()
}

// IngestResult is the outcome of an accepted delivery.
type IngestResult struct {
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

	// perEvent makes every batch run one event at a time (applyCarefully),
	// for tests that compare the batch-wide statements with it.
	perEvent bool
}

// committer is the per-batch view of the Ingester used by project.
// accounts, when set, holds the batch's accounts as the batch has left
// them (applyAtOnce); without it each merge reads its account.
type committer struct {
	g        *Ingester
	accounts map[string]*accountState
	// links, when set, holds the campaign launch links of the batch's
	// link tokens (campaignLinks); without it each job event probes.
	links map[string]int64
	// endUsersDone: the batch's end users are written already
	// (upsertEndUsers, ingest_sets.go): users are those, usersBefore the
	// ones of them that existed before the batch (read only for events
	// stored unprojected), usersSeen the ones an event of the batch has
	// reached so far. jobs, when set, collects the fetch jobs to queue
	// after the events.
	endUsersDone           bool
	users                  map[string]*seenEndUser
	usersBefore, usersSeen map[string]bool
	jobs                   *batchJobs
}

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
		batch, _ = g.commit(batch, rejs)
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
				if batch, err := g.commit(batch, rejs); err != nil && len(batch) == 0 {
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

// commit runs one transaction for the batch and answers its waiters. It
// returns the batch as committed (deliveries that queued while it waited
// for the "ingest" lock joined it) and the transaction's error (each waiter
// got it too).
func (g *Ingester) commit(batch []*item, rejs []*rejection) ([]*item, error) {
	lost := g.lost.Swap(0)
	if len(batch) == 0 && len(rejs) == 0 && lost == 0 {
		return batch, nil
	}
	start := time.Now()
	ctx := context.Background() // a commit in progress is never abandoned
	results := make([]itemResult, len(batch))
	var agg *batchAgg
	careful := g.perEvent
	var err error
	races := 0
	for {
		err = g.s.tx(ctx, func(tx *sql.Tx) error {
			agg = newAgg()
			// See "Several writers" above: on PostgreSQL a batch's first
			// attempt takes the "ingest" lock at its end, after its
			// events and projections; an attempt one item at a time
			// (careful) and SQLite's (one writer anyway) take it first.
			late := g.s.d.concurrentIngest && !careful
			if !late {
				if err := g.s.d.lock(ctx, tx, "ingest"); err != nil {
					return err
				}
			}
			// Deliveries that queued while this batch waited (for the lock,
			// SQLite's writer, or its previous attempt) join it: otherwise
			// batches fragment and every event costs more batches.
			batch = g.collect(batch, false)
			for len(results) < len(batch) {
				results = append(results, itemResult{})
			}
			st := g.st.bind(ctx, tx)
			var before []int64 // PostgreSQL's new rows count themselves (migration 088)
			if !g.s.d.concurrentIngest {
				var err error
				if before, err = newIDs(ctx, tx, nil); err != nil {
					return err
				}
			}
			// On PostgreSQL every batch announces the events it is about to
			// insert (events_horizon.go); pipelined, it goes with the next
			// query.
			actx := ctx
			if !careful {
				actx = withPipeline(ctx)
			}
			if err := g.s.reserveEvents(actx, tx); err != nil {
				return err
			}
			known, err := knownEvents(ctx, tx, batch)
			if err != nil {
				return err
			}
			if careful {
				err = g.applyCarefully(ctx, st, batch, known, results, agg)
			} else {
				err = g.applyAtOnce(ctx, tx, st, batch, known, results, agg)
			}
			if err != nil {
				return err
			}
			if late {
				// The counters, the notifications and the commit (with
				// the deferred triggers' counters) one batch at a time.
				// Taking the lock sends what is pipelined first: an error
				// of it shows here.
				if err := g.s.d.lock(ctx, tx, "ingest"); err != nil {
					return g.orCarefully(err)
				}
			}
			pctx := ctx
			if !careful {
				pctx = withPipeline(ctx)
			}
			if err := g.recordRejections(pctx, st, rejs, lost, agg); err != nil {
				return err
			}
			// The first query after the items: an error of a pipelined
			// statement shows here.
			if err := countNew(ctx, tx, before); err != nil {
				if careful {
					return err
				}
				return g.orCarefully(err)
			}
			for i, k := range []string{"end_users", "accounts", "link_tokens"} {
				if before != nil && before[i] > 0 {
					agg.totals[k] += before[i]
				}
			}
			if len(batch) > 0 {
				if err := g.s.changed(pctx, tx, TopicEvents); err != nil {
					return err
				}
			}
			if agg.queued {
				if err := g.s.changed(pctx, tx, TopicFetches); err != nil {
					return err
				}
			}
			return agg.flush(pctx, st)
		})
		if errors.Is(err, errRaced) && races < maxRaces {
			races++ // another instance's batch wrote the same row first: look again
			continue
		}
		if !(errors.Is(err, errTryCarefully) || errors.Is(err, errRaced)) || careful {
			break
		}
		careful = true
	}
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
	return batch, err
}

// errTryCarefully ends applyAtOnce's transaction: an item failed, and the
// batch runs again with one savepoint per item.
var errTryCarefully = errors.New("db: an item failed; the batch runs again item by item")

// applyAtOnce is a batch's first attempt, for the usual batch in which
// nothing fails: no savepoints; the batch's accounts are read (and locked)
// in one query, and the statements whose results nothing reads are
// pipelined (postgres_pipeline.go), so that on PostgreSQL a whole batch
// costs a handful of round trips instead of about eight per webhook. Any
// failure rolls the whole attempt back (errTryCarefully), and
// applyCarefully isolates it.
func (g *Ingester) applyAtOnce(ctx context.Context, tx *sql.Tx, st *boundStmts, batch []*item, known map[string]bool, results []itemResult, agg *batchAgg) error {
	pctx := withPipeline(ctx)
	// End users first, then accounts: the order in which every batch
	// locks them (see "Several writers").
	users := batchEndUsers(batch, known)
	before, err := endUsersBefore(ctx, tx, batch, known, users)
	if err != nil {
		return err
	}
	if err := upsertEndUsers(pctx, tx, users); err != nil {
		return g.orCarefully(err)
	}
	accounts, err := g.s.prefetchAccounts(ctx, tx, batch)
	if err != nil {
		return g.orCarefully(err)
	}
	links, err := campaignLinks(ctx, tx, batch)
	if err != nil {
		return err
	}
	c := committer{g: g, accounts: accounts, links: links, endUsersDone: true, users: users, usersBefore: before,
		usersSeen: map[string]bool{}, jobs: &batchJobs{}}
	for i, it := range batch {
		d := &it.d
		recvT := d.ReceivedAt.UTC()
		recv, hour := FormatTime(recvT), hourOf(recvT)
		if known[d.EventID] {
			if _, err := st.eventDuplicate.ExecContext(pctx, recv, recv, d.EventID); err != nil {
				return g.orCarefully(err)
			}
			agg.duplicate(hour, d.Event)
			results[i] = itemResult{res: IngestResult{Duplicate: true}}
			continue
		}
		pr, err := c.project(pctx, st, d, recv)
		if err != nil {
			return g.orCarefully(err)
		}
		known[d.EventID] = true // a second delivery in this batch is a duplicate
		agg.accepted(hour, d.Event, pr, d.Reconciled)
		results[i] = itemResult{}
	}
	if err := c.jobs.insert(pctx, tx); err != nil {
		return g.orCarefully(err)
	}
	return nil
}

// errRaced ends a first attempt on PostgreSQL that failed on a unique
// key: most likely another instance's batch inserted the same event or
// account after this one looked (knownEvents, prefetchAccounts) and has
// committed since (the insert waited for it).
// The attempt runs again as it was, up to maxRaces times, and finds the
// row; a unique violation that stays is an item's, and the batch then runs
// one item at a time.
var errRaced = errors.New("db: a row was written by another batch meanwhile; the batch runs again")

const maxRaces = 3

// orCarefully is the error that ends applyAtOnce: a retryable one (the
// transaction runs again as it is), errRaced, or errTryCarefully.
func (g *Ingester) orCarefully(err error) error {
	switch {
	case g.s.d.retryable(err):
		return err
	case g.s.d.concurrentIngest && g.s.d.isUnique(err):
		return errRaced
	}
	return errTryCarefully
}

// knownEvents returns which of the batch's event ids are stored already.
// Only the ingester inserts events, and a batch commits only under the
// "ingest" lock. An attempt one item at a time reads them under the lock,
// so no event can be committed before it commits: a delivery is a
// duplicate exactly when its event_id is known here or earlier in the
// batch (another instance's batch inserting the same event meanwhile
// waits for the lock, and one of the two ends in a deadlock and runs
// again). A first attempt on PostgreSQL reads them before the lock; an
// event committed in between fails its insert, and the attempt runs again
// (errRaced, "Several writers").
func knownEvents(ctx context.Context, tx *sql.Tx, batch []*item) (map[string]bool, error) {
	known := make(map[string]bool, len(batch))
	if len(batch) == 0 {
		return known, nil
	}
	ids := make([]any, len(batch))
	for i, it := range batch {
		ids[i] = it.d.EventID
	}
	if err := stringSet(ctx, tx, known, replan+`SELECT event_id FROM events WHERE event_id IN (`+sqlParams(len(ids))+`)`, ids...); err != nil {
		return nil, fmt.Errorf("known events: %w", err)
	}
	return known, nil
}

// stringSet adds to set the one text column of q's rows.
func stringSet(ctx context.Context, tx *sql.Tx, set map[string]bool, q string, args ...any) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		set[v] = true
	}
	return rows.Err()
}

// applyCarefully runs each item in a savepoint of its own, so that one that
// fails is rolled back alone (and stored unprojected with its error).
func (g *Ingester) applyCarefully(ctx context.Context, st *boundStmts, batch []*item, known map[string]bool, results []itemResult, agg *batchAgg) error {
	c := committer{g: g}
	for i, it := range batch {
		r, err := c.apply(ctx, st, it, agg, known)
		if err != nil && isSystemic(err) {
			return err
		}
		results[i] = itemResult{res: r, err: err}
	}
	return nil
}

// newIDs, given nil, returns the largest id of end_users, accounts and
// link_tokens_seen; given those, it returns in it (and them) how many rows
// each table gained since. Ingestion alone inserts these rows, one batch
// at a time on SQLite, and ids only grow: what a batch added is what lies
// above the ids it started from. On PostgreSQL, where batches overlap,
// each inserted row counts itself (a trigger, migration 088) instead.
func newIDs(ctx context.Context, tx *sql.Tx, before []int64) ([]int64, error) {
	if before == nil {
		out := make([]int64, 3)
		err := tx.QueryRowContext(ctx, replan+`SELECT COALESCE((SELECT MAX(id) FROM end_users), 0), COALESCE((SELECT MAX(id) FROM accounts), 0),
  COALESCE((SELECT MAX(id) FROM link_tokens_seen), 0)`).Scan(&out[0], &out[1], &out[2])
		if err != nil {
			return nil, fmt.Errorf("ids: %w", err)
		}
		return out, nil
	}
	var n [3]int64
	err := tx.QueryRowContext(ctx, replan+`SELECT (SELECT COUNT(*) FROM end_users WHERE id > ?), (SELECT COUNT(*) FROM accounts WHERE id > ?),
  (SELECT COUNT(*) FROM link_tokens_seen WHERE id > ?)`, before[0], before[1], before[2]).Scan(&n[0], &n[1], &n[2])
	if err != nil {
		return nil, fmt.Errorf("new rows: %w", err)
	}
	copy(before, n[:])
	return before, nil
}

// countNew is newIDs after the items (before nil: PostgreSQL, nothing to
// count). Either way it is the first query after them, so it sends what is
// pipelined and reports its errors.
func countNew(ctx context.Context, tx *sql.Tx, before []int64) error {
	if before != nil {
		_, err := newIDs(ctx, tx, before)
		return err
	}
	var one int
	return tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
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

// apply stores one delivery inside a savepoint: a duplicate (known) only
// counts; a delivery whose projection fails is stored unprojected with the
// error.
func (c committer) apply(ctx context.Context, st *boundStmts, it *item, agg *batchAgg, known map[string]bool) (IngestResult, error) {
	d := &it.d
	recvT := d.ReceivedAt.UTC()
	recv := FormatTime(recvT)
	hour := hourOf(recvT)
	if known[d.EventID] {
		if _, err := st.eventDuplicate.ExecContext(ctx, recv, recv, d.EventID); err != nil {
			if c.g.s.d.retryable(err) {
				return IngestResult{}, &systemicError{err}
			}
			return IngestResult{}, fmt.Errorf("db: count duplicate %s: %w", d.EventID, err)
		}
		agg.duplicate(hour, d.Event)
		return IngestResult{Duplicate: true}, nil
	}
	if _, err := st.savepoint.ExecContext(ctx); err != nil {
		return IngestResult{}, &systemicError{err}
	}
	pr, err := c.project(ctx, st, d, recv)
	if err != nil && c.g.s.d.retryable(err) {
		return IngestResult{}, &systemicError{err} // the whole transaction runs again
	}
	if err == nil {
		if _, err := st.release.ExecContext(ctx); err != nil {
			return IngestResult{}, &systemicError{err}
		}
		known[d.EventID] = true
		agg.accepted(hour, d.Event, pr, d.Reconciled)
		return IngestResult{}, nil
	}
	if _, rerr := st.rollbackTo.ExecContext(ctx); rerr != nil {
		return IngestResult{}, &systemicError{rerr}
	}

	// The projection failed: keep the event, unprojected, with the error.
	perr := sql.NullString{String: truncate(err.Error(), 500), Valid: true}
	ierr := c.insertEvent(ctx, st, d, recv, entityIDs{}, "failed", perr)
	if ierr == nil {
		if _, rerr := st.release.ExecContext(ctx); rerr != nil {
			return IngestResult{}, &systemicError{rerr}
		}
		known[d.EventID] = true
		agg.accepted(hour, d.Event, projection{}, d.Reconciled)
		return IngestResult{}, nil
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

// flush writes the summed counters, each table's rows in key order (so
// that transactions updating the same counters lock them in one order).
func (a *batchAgg) flush(ctx context.Context, st *boundStmts) error {
	for _, k := range sortedKeys(a.events, func(k [2]string) string { return k[0] + "\x00" + k[1] }) {
		v := a.events[k]
		if _, err := st.eventCounts.ExecContext(ctx, k[0], k[1], v[0], v[1]); err != nil {
			return fmt.Errorf("event counts: %w", err)
		}
	}
	for _, k := range sortedKeys(a.jobs, func(k [3]string) string { return k[0] + "\x00" + k[1] + "\x00" + k[2] }) {
		if _, err := st.jobCounts.ExecContext(ctx, k[0], k[1], k[2], a.jobs[k]); err != nil {
			return fmt.Errorf("job counts: %w", err)
		}
	}
	for _, k := range sortedKeys(a.rejects, func(k [2]string) string { return k[0] + "\x00" + k[1] }) {
		if _, err := st.rejectionCounts.ExecContext(ctx, k[0], k[1], a.rejects[k]); err != nil {
			return fmt.Errorf("rejection counts: %w", err)
		}
	}
	for _, k := range sortedKeys(a.status, func(k string) string { return k }) {
		if n := a.status[k]; n != 0 {
			if _, err := st.statusCounts.ExecContext(ctx, k, n); err != nil {
				return fmt.Errorf("status counts: %w", err)
			}
		}
	}
	for _, k := range sortedKeys(a.totals, func(k string) string { return k }) {
		if _, err := st.totals.ExecContext(ctx, k, a.totals[k]); err != nil {
			return fmt.Errorf("totals: %w", err)
		}
	}
	return nil
}

// sortedKeys returns m's keys ordered by their text.
func sortedKeys[K comparable, V any](m map[K]V, text func(K) string) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(text(a), text(b)) })
	return keys
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
