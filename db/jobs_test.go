package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
)

func enqueue(t *testing.T, s *db.Store, j db.NewJob) int64 {
	t.Helper()
	id, err := s.EnqueueJob(context.Background(), j)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func claim(t *testing.T, s *db.Store, n int, lease time.Duration, kinds ...string) []db.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(context.Background(), kinds, n, lease)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func jobByKey(t *testing.T, s *db.Store, kind, key string) []db.Job {
	t.Helper()
	jobs, err := s.Jobs(context.Background(), []string{kind}, key)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestJobs_ClaimLeaseAndExpiry(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	enqueue(t, s, db.NewJob{Kind: "a", Payload: map[string]int{"n": 1}, DedupeKey: "k1"})
	enqueue(t, s, db.NewJob{Kind: "b", Payload: map[string]int{"n": 2}, DedupeKey: "k2"})
	enqueue(t, s, db.NewJob{Kind: "a", Payload: map[string]int{"n": 3}, DedupeKey: "k3", RunAt: clk.t.Add(time.Hour)})

	// Only due jobs of the kinds asked for.
	got := claim(t, s, 10, time.Minute, "a")
	if len(got) != 1 || got[0].DedupeKey != "k1" || got[0].State != db.JobRunning || got[0].Attempts != 1 ||
		!got[0].RunAt.Equal(clk.t.Add(time.Minute)) {
		t.Fatalf("claim = %+v", got)
	}
	var p struct{ N int }
	if err := got[0].Decode(&p); err != nil || p.N != 1 {
		t.Errorf("payload = %s (%v)", got[0].Payload, err)
	}
	// A leased job is nobody else's until its lease ends.
	if again := claim(t, s, 10, time.Minute, "a", "b"); len(again) != 1 || again[0].Kind != "b" {
		t.Fatalf("second claim = %+v, want only b", again)
	}
	if at, ok, _ := s.NextJobAt(ctx, []string{"a"}); !ok || !at.Equal(clk.t.Add(time.Minute)) {
		t.Errorf("next a due at %v, want the lease's end", at)
	}
	clk.t = clk.t.Add(time.Minute)
	again := claim(t, s, 10, time.Minute, "a")
	if len(again) != 1 || again[0].ID != got[0].ID || again[0].Attempts != 2 {
		t.Fatalf("after the lease ran out: %+v", again)
	}
	// The first holder's late outcome is ignored; the second's counts.
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: got[0]}}); err != nil {
		t.Fatal(err)
	}
	if j := jobByKey(t, s, "a", "k1")[0]; j.State != db.JobRunning {
		t.Errorf("a stale lease finished the job: %+v", j)
	}
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: again[0]}}); err != nil {
		t.Fatal(err)
	}
	if j := jobByKey(t, s, "a", "k1")[0]; j.State != db.JobDone || !j.FinishedAt.Equal(clk.t) {
		t.Errorf("finished job = %+v", j)
	}
	// The scheduled one falls due at its time.
	clk.t = clk.t.Add(59 * time.Minute)
	if later := claim(t, s, 10, time.Minute, "a"); len(later) != 1 || later[0].DedupeKey != "k3" {
		t.Errorf("scheduled job: %+v", later)
	}
}

func TestJobs_FailureRetriesThenGivesUp(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	enqueue(t, s, db.NewJob{Kind: "a", DedupeKey: "k"})
	j := claim(t, s, 1, time.Minute, "a")[0]
	retry := clk.t.Add(30 * time.Second)
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: j, Err: errors.New("upstream 503"), RetryAt: retry}}); err != nil {
		t.Fatal(err)
	}
	got := jobByKey(t, s, "a", "k")[0]
	if got.State != db.JobQueued || !got.RunAt.Equal(retry) || got.LastError != "upstream 503" || got.Attempts != 1 {
		t.Fatalf("after a failure: %+v", got)
	}
	if early := claim(t, s, 1, time.Minute, "a"); len(early) != 0 {
		t.Fatalf("claimed before its backoff: %+v", early)
	}
	clk.t = retry
	j = claim(t, s, 1, time.Minute, "a")[0]
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: j, Err: errors.New("bad request")}}); err != nil {
		t.Fatal(err)
	}
	got = jobByKey(t, s, "a", "k")[0]
	if got.State != db.JobFailed || got.Attempts != 2 || got.LastError != "bad request" || got.FinishedAt.IsZero() {
		t.Errorf("after giving up: %+v", got)
	}
	d, err := s.Dashboard(ctx)
	if err != nil || d.Queue.Failed != 1 || len(d.Queue.Failures) != 1 || d.Queue.Failures[0].Key != "k" || d.Queue.Failures[0].LastError != "bad request" {
		t.Errorf("dashboard queue = %+v, %v", d.Queue, err)
	}
}

func TestJobs_InterruptedGoesBackUncounted(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	enqueue(t, s, db.NewJob{Kind: "a"})
	j := claim(t, s, 1, time.Hour, "a")[0]
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: j, Err: errors.New("stopping"), Interrupted: true}}); err != nil {
		t.Fatal(err)
	}
	again := claim(t, s, 1, time.Hour, "a")
	if len(again) != 1 || again[0].ID != j.ID || again[0].Attempts != 1 {
		t.Errorf("after an interruption: %+v, want claimable at once with attempt 1 again", again)
	}
}

func TestJobs_Dedupe(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	first := enqueue(t, s, db.NewJob{Kind: "a", Payload: map[string]string{"v": "1"}, DedupeKey: "acc"})
	second := enqueue(t, s, db.NewJob{Kind: "a", Payload: map[string]string{"v": "2"}, DedupeKey: "acc"})
	other := enqueue(t, s, db.NewJob{Kind: "b", Payload: map[string]string{"v": "3"}, DedupeKey: "acc"})
	noKey1 := enqueue(t, s, db.NewJob{Kind: "a"})
	noKey2 := enqueue(t, s, db.NewJob{Kind: "a"})
	if first != second || other == first || noKey1 == noKey2 {
		t.Fatalf("ids %d %d %d %d %d: one queued job per kind and key, none without a key", first, second, other, noKey1, noKey2)
	}
	if j := jobByKey(t, s, "a", "acc"); len(j) != 1 || string(j[0].Payload) != `{"v":"2"}` {
		t.Fatalf("deduplicated job = %+v, want the newer payload", j)
	}

	// While it runs, new work queues a new job; when the running one fails,
	// the queued one covers it.
	running := claim(t, s, 1, time.Minute, "a")[0]
	third := enqueue(t, s, db.NewJob{Kind: "a", Payload: map[string]string{"v": "4"}, DedupeKey: "acc"})
	if third == running.ID {
		t.Fatal("a running job absorbed new work")
	}
	if err := s.FinishJobs(ctx, []db.JobOutcome{{Job: running, Err: errors.New("boom"), RetryAt: clk.t}}); err != nil {
		t.Fatal(err)
	}
	jobs := jobByKey(t, s, "a", "acc")
	if len(jobs) != 2 || jobs[0].ID != third || jobs[0].State != db.JobQueued || jobs[1].State != db.JobFailed ||
		jobs[1].LastError != "boom (a newer job is queued)" {
		t.Errorf("jobs = %+v", jobs)
	}
}

func TestJobs_EnqueueRefusesBadInput(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.EnqueueJob(ctx, db.NewJob{}); err == nil {
		t.Error("a job without a kind was enqueued")
	}
	if _, err := s.EnqueueJob(ctx, db.NewJob{Kind: "a", Payload: json.RawMessage(`{"x":`)}); err == nil {
		t.Error("a payload that is not JSON was enqueued")
	}
}

func TestJobs_StatsAndRestart(t *testing.T) {
	path := dbtest.Path(t, "jobs.db")
	clk := &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	open := func() *db.Store {
		s, err := db.Open(context.Background(), path, db.Options{Now: clk.now, PasswordCost: bcrypt.MinCost})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	s := open()
	enqueue(t, s, db.NewJob{Kind: "a", DedupeKey: "1"})
	clk.t = clk.t.Add(time.Minute)
	enqueue(t, s, db.NewJob{Kind: "a", DedupeKey: "2"})
	enqueue(t, s, db.NewJob{Kind: "b"})
	leased := claim(t, s, 1, 5*time.Minute, "a")
	// The process dies holding the lease.
	s.Close()

	s = open()
	defer s.Close()
	st, err := s.JobStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Kind != "a" || st[0].ByState[db.JobQueued] != 1 || st[0].ByState[db.JobRunning] != 1 || st[0].Depth() != 2 ||
		!st[0].Oldest.Equal(clk.t.Add(-time.Minute)) || !st[0].NextDue.Equal(clk.t) || st[1].Kind != "b" || st[1].Depth() != 1 {
		t.Fatalf("stats = %+v", st)
	}
	if got := claim(t, s, 5, time.Hour, "a"); len(got) != 1 || got[0].DedupeKey != "2" {
		t.Fatalf("after the restart: %+v, want only the unleased job", got)
	}
	clk.t = clk.t.Add(5 * time.Minute)
	if got := claim(t, s, 5, time.Minute, "a"); len(got) != 1 || got[0].ID != leased[0].ID || got[0].Attempts != 2 {
		t.Fatalf("once the dead lease ran out: %+v", got)
	}
	if n, err := s.FailQueuedJobs(ctx, "skipped", "b"); err != nil || n != 1 {
		t.Errorf("fail queued: %d, %v", n, err)
	}
}
