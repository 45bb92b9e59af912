package worker_test

import (
	"context"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/worker"
)

// TestAuditJobs_Daily: the first check runs soon after start-up, records
// its verification and schedules the next a day later on the Store's
// clock; a second start-up adds nothing.
func TestAuditJobs_Daily(t *testing.T) {
	s, clk := newQueue(t)
	ctx := context.Background()
	if err := s.SignOut(ctx, db.Actor{Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := worker.ScheduleAuditJobs(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := worker.ScheduleAuditJobs(ctx, s); err != nil {
		t.Fatal(err)
	}
	r := worker.NewRunner(s, worker.Options{Poll: 10 * time.Millisecond})
	r.Add(worker.AuditJobs(s))
	started(t, r)
	clk.add(2 * time.Minute)
	first := waitJob(t, s, r, db.JobAuditVerify, "daily", "the first check ran", func(j db.Job) bool { return j.State == db.JobQueued && j.RunAt.After(clk.now().Add(time.Hour)) })
	if want := clk.now().Add(worker.Daily); !first.RunAt.Equal(want) {
		t.Errorf("next check at %v, want %v", first.RunAt, want)
	}
	v, err := s.LastVerification(ctx)
	if err != nil || !v.OK || v.Source != db.VerifyDaily || v.Rows != 1 {
		t.Fatalf("verification %+v, %v", v, err)
	}
	// The run that scheduled it finishes as done (its outcome is recorded
	// just after the handler returns).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		jobs, _ := s.Jobs(ctx, []string{db.JobAuditVerify}, "daily")
		if len(jobs) == 2 && jobs[1].State == db.JobDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs %+v; want one done and one queued", jobs)
		}
	}
	waitJob(t, s, r, db.JobRetention, "daily", "retention ran and rescheduled", func(j db.Job) bool { return j.State == db.JobQueued && j.RunAt.After(clk.now().Add(time.Hour)) })
	// A day later the next check runs.
	clk.add(worker.Daily)
	waitJob(t, s, r, db.JobAuditVerify, "daily", "the second check ran", func(j db.Job) bool { return j.State == db.JobQueued && j.RunAt.After(clk.now().Add(time.Hour)) })
	if v2, _ := s.LastVerification(ctx); v2.ID == v.ID {
		t.Error("no second verification")
	}
}
