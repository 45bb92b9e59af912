package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/pinwheel"
	"linkdesk/worker"
)

// clock is a settable clock shared by the store and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// source is a stand-in for the Pinwheel client: per account, how many calls
// fail (with which error) before data comes back.
type source struct {
	mu    sync.Mutex
	fails map[string]int
	err   map[string]error
	calls map[string]int
	// status is each account's monitoring status as GET /accounts says.
	status map[string]string
}

func (s *source) call(kind, account string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[kind+"/"+account]++
	if s.fails[account] > 0 {
		s.fails[account]--
		return s.err[account]
	}
	return nil
}

func (s *source) Identity(ctx context.Context, id string) (pinwheel.Identity, pinwheel.Meta, error) {
	return pinwheel.Identity{FullName: "Ann " + id}, pinwheel.Meta{RefreshedAt: pinwheel.NewTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)).Ptr()}, s.call("identity", id)
}
func (s *source) Employment(ctx context.Context, id string) (pinwheel.Employment, pinwheel.Meta, error) {
	return pinwheel.Employment{}, pinwheel.Meta{}, s.call("employment", id)
}
func (s *source) Income(ctx context.Context, id string) (pinwheel.Income, pinwheel.Meta, error) {
	return pinwheel.Income{}, pinwheel.Meta{}, s.call("income", id)
}
func (s *source) DirectDepositAllocations(ctx context.Context, id string) (pinwheel.DDAllocations, pinwheel.Meta, error) {
	return pinwheel.DDAllocations{}, pinwheel.Meta{}, s.call("direct_deposit_allocations", id)
}

func (s *source) Account(ctx context.Context, id string) (pinwheel.Account, error) {
	s.mu.Lock()
	status := s.status[id]
	s.mu.Unlock()
	return pinwheel.Account{ID: id, MonitoringStatus: status, Connected: true}, s.call("account", id)
}

func (s *source) PaystubPages(ctx context.Context, id string, f pinwheel.PaystubsFilter) iter.Seq2[pinwheel.RawPage, error] {
	return func(yield func(pinwheel.RawPage, error) bool) { yield(pinwheel.RawPage{}, s.call("paystubs", id)) }
}
func (s *source) PaystubRaw(ctx context.Context, id, paystub string) (json.RawMessage, error) {
	return nil, s.call("paystub", id)
}
func (s *source) ShiftPages(ctx context.Context, id string, f pinwheel.ShiftsFilter) iter.Seq2[pinwheel.RawPage, error] {
	return func(yield func(pinwheel.RawPage, error) bool) { yield(pinwheel.RawPage{}, s.call("shifts", id)) }
}

func jobEvent(eventID, event, name, account, outcome string) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": %q, "payload": {"id": "j", "name": %q, "timestamp": "2026-11-26T11:00:00.000000+00:00", "outcome": %q, "error_code": null, "error_type": null, "link_token_id": "tok", "params": {"action": "full_switch"}, "account_id": %q, "end_user_id": "eu"}}`,
		eventID, event, name, outcome, account)
}

// setup opens a store with a settable clock and ingests events.
func setup(t *testing.T, bodies ...[]byte) (*db.Store, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	s, err := db.Open(context.Background(), dbtest.Path(t, "w.db"), db.Options{Now: clk.now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	g, err := s.NewIngester(context.Background(), db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for _, b := range bodies {
		d, err := db.ParseDelivery(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Ingest(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	return s, clk
}

// fetchRunner is a Runner with the fetch pool over src, tuned for tests:
// no rate cap, a short poll.
func fetchRunner(s *db.Store, src worker.Source, tune func(*worker.Pool)) *worker.Runner {
	p := worker.Fetches(src, s)
	p.Rate = 0
	if tune != nil {
		tune(&p)
	}
	r := worker.NewRunner(s, worker.Options{Poll: 5 * time.Millisecond})
	r.Add(p)
	return r
}

// runUntil runs r until cond holds (waking it each round), then stops it.
func runUntil(t *testing.T, r *worker.Runner, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("jobs did not settle within a minute")
		}
		r.Wake()
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// settled reports whether no job is queued or running.
func settled(s *db.Store) func() bool {
	return func() bool {
		st, err := s.JobStats(context.Background())
		if err != nil {
			return false
		}
		for _, k := range st {
			if k.Depth() > 0 {
				return false
			}
		}
		return true
	}
}

func TestFetches_StoresSnapshotsAndRetries(t *testing.T) {
	s, clk := setup(t,
		jobEvent("e1", pinwheel.EventIdentityAdded, "identity", "acc-a", "success"),
		jobEvent("e2", pinwheel.EventDDSwitchAdded, "direct_deposit_switch", "acc-a", "success"),
		jobEvent("e3", pinwheel.EventIncomeAdded, "income", "acc-b", "success"),
		jobEvent("e4", pinwheel.EventEmploymentAdded, "employment", "acc-c", "success"),
		jobEvent("e5", pinwheel.EventIdentityAdded, "identity", "acc-d", "error"),
	)
	ctx := context.Background()
	src := &source{
		fails: map[string]int{"acc-b": 2, "acc-c": 1},
		err: map[string]error{
			"acc-b": &pinwheel.Error{StatusCode: http.StatusServiceUnavailable, Type: pinwheel.TypeUnknown},
			"acc-c": &pinwheel.Error{StatusCode: http.StatusBadRequest, Type: pinwheel.TypeInvalidRequest, Message: "bad"},
		},
		calls: map[string]int{},
	}
	// The store's clock moves past every backoff, so retries fall due at once.
	r := fetchRunner(s, src, func(p *worker.Pool) { p.Backoff = time.Second })
	runUntil(t, r, func() bool {
		clk.add(time.Minute)
		return settled(s)()
	})

	o, err := s.AccountOverview(ctx, "acc-a")
	if err != nil {
		t.Fatal(err)
	}
	kinds := o.Latest
	if len(kinds) != 2 || kinds[db.FetchIdentity].SourceEventID != "e1" || kinds[db.FetchDDAllocations].SourceEventID != "e2" {
		t.Errorf("acc-a snapshots = %+v", kinds)
	}
	if id := kinds[db.FetchIdentity]; id.RefreshedAt.IsZero() || len(id.BodySHA256) != 64 || id.Body == "" {
		t.Errorf("identity snapshot = %+v", id)
	}

	fb, _ := s.AccountFetches(ctx, "acc-b")
	if len(fb) != 1 || fb[0].State != db.JobDone || fb[0].Attempts != 3 || fb[0].FinishedAt.IsZero() {
		t.Errorf("acc-b fetch = %+v, want done after 3 attempts", fb)
	}
	fc, _ := s.AccountFetches(ctx, "acc-c")
	if len(fc) != 1 || fc[0].State != db.JobFailed || fc[0].Attempts != 1 || fc[0].LastError == "" {
		t.Errorf("acc-c fetch = %+v, want failed at once on 400", fc)
	}
	if fd, _ := s.AccountFetches(ctx, "acc-d"); len(fd) != 0 {
		t.Errorf("a failed identity job queued a fetch: %+v", fd)
	}
	if o, _ := s.AccountOverview(ctx, "acc-b"); o.Latest[db.FetchIncome].ID == 0 {
		t.Errorf("acc-b has no income snapshot: %+v", o.Latest)
	}
	st, _ := s.JobStats(ctx)
	failed := int64(0)
	for _, k := range st {
		failed += k.ByState[db.JobFailed]
	}
	if failed != 1 {
		t.Errorf("job stats = %+v, want 1 failed", st)
	}
}

func TestFetches_GivesUpAfterMaxAttempts(t *testing.T) {
	s, clk := setup(t, jobEvent("e1", pinwheel.EventIncomeAdded, "income", "acc-x", "success"))
	src := &source{fails: map[string]int{"acc-x": 100}, err: map[string]error{"acc-x": &pinwheel.Error{StatusCode: 502}}, calls: map[string]int{}}
	r := fetchRunner(s, src, func(p *worker.Pool) { p.MaxAttempts = 3 })
	runUntil(t, r, func() bool {
		clk.add(time.Hour)
		return settled(s)()
	})
	fx, _ := s.AccountFetches(context.Background(), "acc-x")
	if len(fx) != 1 || fx[0].State != db.JobFailed || fx[0].Attempts != 3 || fx[0].LastError == "" {
		t.Errorf("fetch = %+v, want failed after 3 attempts with the error", fx)
	}
}

func TestFetches_ResumesALeaseLeftByACrash(t *testing.T) {
	s, clk := setup(t, jobEvent("e1", pinwheel.EventIdentityAdded, "identity", "acc-r", "success"))
	ctx := context.Background()
	// A worker claimed the fetch and died before finishing it.
	jobs, err := s.ClaimJobs(ctx, db.FetchJobKinds, 10, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(jobs))
	}
	if again, _ := s.ClaimJobs(ctx, db.FetchJobKinds, 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased fetch was claimed twice: %+v", again)
	}
	clk.add(2 * time.Minute) // the lease expires
	src := &source{calls: map[string]int{}}
	runUntil(t, fetchRunner(s, src, nil), settled(s))
	o, _ := s.AccountOverview(ctx, "acc-r")
	stored := o.Latest[db.FetchIdentity].ID
	fr, _ := s.AccountFetches(ctx, "acc-r")
	if len(fr) != 1 || fr[0].State != db.JobDone || fr[0].Attempts != 2 {
		t.Errorf("fetch = %+v, want done on the 2nd attempt", fr)
	}
	// The dead worker's late answers change nothing: neither a failure nor
	// a second snapshot.
	late := []db.JobOutcome{{Job: jobs[0], Err: fmt.Errorf("late")}, {Job: jobs[0], Effect: db.SnapshotFetched{Body: []byte(`{}`)}}}
	if err := s.FinishJobs(ctx, late); err != nil {
		t.Fatal(err)
	}
	fr, _ = s.AccountFetches(ctx, "acc-r")
	if fr[0].State != db.JobDone {
		t.Errorf("a stale lease overwrote the result: %+v", fr[0])
	}
	if o, _ := s.AccountOverview(ctx, "acc-r"); stored == 0 || o.Latest[db.FetchIdentity].ID != stored {
		t.Errorf("latest identity snapshot %d, want %d: the stale lease stored one", o.Latest[db.FetchIdentity].ID, stored)
	}
}

func TestFetches_NewerEventWhileRunningQueuesAgain(t *testing.T) {
	s, _ := setup(t, jobEvent("e1", pinwheel.EventIdentityAdded, "identity", "acc-n", "success"))
	ctx := context.Background()
	jobs, _ := s.ClaimJobs(ctx, db.FetchJobKinds, 10, time.Minute)
	// A newer identity.added arrives while the first fetch runs.
	g, _ := s.NewIngester(ctx, db.IngestOptions{})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(rctx) }()
	d, _ := db.ParseDelivery(jobEvent("e2", pinwheel.EventIdentityAdded, "identity", "acc-n", "success"))
	if _, err := g.Ingest(ctx, d); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	// The running one fails and would retry, but the newer queued one covers it.
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: jobs[0], Err: fmt.Errorf("boom"), RetryAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	fn, _ := s.AccountFetches(ctx, "acc-n")
	if len(fn) != 2 || fn[0].State != db.JobQueued || fn[0].EventID != "e2" || fn[1].State != db.JobFailed {
		t.Errorf("fetches = %+v", fn)
	}
}

func statusEvent(eventID, account, status string) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": "account.monitoring_status.updated", "payload": {"created_at": "2026-11-20T10:00:00.000000+00:00", "link_token_id": "tok", "platform_id": "p1", "connected": true, "monitoring_status": %q, "end_user_id": "eu", "account_id": %q, "platform_name": "Workday"}}`,
		eventID, status, account)
}

// A monitoring update carries no time of its own: its order key is the
// X-Timestamp of the attempt that got through. When an older update is held
// back or retried it arrives last with a later X-Timestamp and the webhooks
// alone would leave the stale status; the account fetch each update queues
// reads the status Pinwheel has now, and that wins.
func TestFetches_MonitoringStatusFromTheAPIWhateverTheOrder(t *testing.T) {
	ctx := context.Background()
	deliver := func(body []byte, sent time.Time) *db.Delivery {
		d, err := db.ParseDelivery(body)
		if err != nil {
			t.Fatal(err)
		}
		d.SentAt = sent
		return &d
	}
	s, _ := setup(t)
	g, err := s.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()
	at := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	// Pinwheel moved the account to user_action_required, then (after a
	// new login) back to active; the first delivery was held back and got
	// through last, in a later second.
	for _, d := range []*db.Delivery{deliver(statusEvent("s2", "acc-m", "active"), at), deliver(statusEvent("s1", "acc-m", "user_action_required"), at.Add(time.Second))} {
		if _, err := g.Ingest(ctx, *d); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	<-done
	if o, _ := s.AccountOverview(ctx, "acc-m"); o.Account.MonitoringStatus != "user_action_required" {
		t.Fatalf("from the webhooks alone: %q (the stale one, as expected before the fetch)", o.Account.MonitoringStatus)
	}
	src := &source{calls: map[string]int{}, status: map[string]string{"acc-m": "active"}}
	r := fetchRunner(s, src, nil)
	runUntil(t, r, settled(s))
	if o, _ := s.AccountOverview(ctx, "acc-m"); o.Account.MonitoringStatus != "active" {
		t.Errorf("after the account fetch: %q, want active", o.Account.MonitoringStatus)
	}
	if n := src.calls["account/acc-m"]; n != 1 {
		t.Errorf("%d account fetches, want 1 (both updates share the queued one)", n)
	}
	d, err := s.Dashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, f := range d.Statuses {
		counts[f.Value] = f.N
	}
	if counts["active"] != 1 || counts["user_action_required"] != 0 {
		t.Errorf("status counts %v", counts)
	}
	// A later update that arrives stale cannot undo the fetched status; its
	// own fetch reads the status again.
	s2, _ := s.NewIngester(ctx, db.IngestOptions{})
	gctx, cancel = context.WithCancel(ctx)
	go func() { done <- s2.Run(gctx) }()
	if _, err := s2.Ingest(ctx, *deliver(statusEvent("s3", "acc-m", "degraded"), at.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	src.mu.Lock()
	src.status["acc-m"] = "degraded"
	src.mu.Unlock()
	runUntil(t, r, settled(s))
	if o, _ := s.AccountOverview(ctx, "acc-m"); o.Account.MonitoringStatus != "degraded" {
		t.Errorf("after the next update and fetch: %q, want degraded", o.Account.MonitoringStatus)
	}
}
