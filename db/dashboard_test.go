package db_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"linkdesk/db"
)

// TestStore_DashboardCountersEqualCounts ingests a random mix of events
// (duplicates, status changes, job outcomes, rejections, fetches finished
// and failed) and compares every dashboard figure with a COUNT over the
// tables.
func TestStore_DashboardCountersEqualCounts(t *testing.T) {
	f := newBrowseFixture(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	now := f.clk.t
	statuses := db.MonitoringStatuses
	events := []string{"identity.added", "income.added", "employment.added", "direct_deposit_allocations.added", "paystubs.added"}
	var bodies [][]byte
	for i := 0; i < 400; i++ {
		acc := fmt.Sprintf("acc-%d", rng.IntN(40))
		eu := fmt.Sprintf("eu-%d", rng.IntN(25))
		// Some events fall outside the 24-hour window.
		recv := now.Add(-time.Duration(rng.IntN(36*60)) * time.Minute)
		var body []byte
		switch k := rng.IntN(10); {
		case k < 2:
			plat := []string{"p-wd", "p-adp", "p-gusto"}[rng.IntN(3)]
			body = addedBody(fmt.Sprintf("e%d", i), acc, eu, plat, plat+" Inc", statuses[rng.IntN(len(statuses))], rng.IntN(4) > 0, recv)
		case k < 4:
			body = statusBody(fmt.Sprintf("e%d", i), acc, eu, statuses[rng.IntN(len(statuses))], rng.IntN(3) > 0)
		default:
			outcome := []string{"success", "success", "error", "pending"}[rng.IntN(4)]
			body = jobAt(fmt.Sprintf("e%d", i), events[rng.IntN(len(events))], acc, eu, outcome, recv)
		}
		bodies = append(bodies, body)
		f.add(t, body, recv)
		if rng.IntN(8) == 0 { // a redelivery, within the last hour
			f.add(t, bodies[rng.IntN(len(bodies))], now.Add(-time.Duration(rng.IntN(60))*time.Minute))
		}
		if rng.IntN(10) == 0 {
			f.g.Reject(db.Rejection{At: recv, Reason: []string{db.ReasonBadSignature, db.ReasonStaleTimestamp}[rng.IntN(2)], Status: 401, RemoteAddr: "192.0.2.1", Body: []byte("x")})
		}
	}
	// Move some fetches through the queue.
	jobs, err := f.s.ClaimJobs(ctx, db.FetchJobKinds, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var results []db.JobOutcome
	for i, j := range jobs {
		r := db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(`{"id":"x"}`)}}
		if i%2 == 1 {
			r = db.JobOutcome{Job: j, Err: errors.New("upstream 500")}
		}
		results = append(results, r)
	}
	if err := f.s.FinishJobs(ctx, results); err != nil {
		t.Fatal(err)
	}
	// Rejections are recorded asynchronously: wait for them.
	var rejected int64
	waitFor(t, func() bool {
		f.raw.QueryRow(`SELECT COALESCE(SUM(n), 0) FROM rejection_counts`).Scan(&rejected)
		var rows int64
		f.raw.QueryRow(`SELECT COUNT(*) FROM webhook_rejections`).Scan(&rows)
		return rows == rejected && rejected > 0
	})

	d, err := f.s.Dashboard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range d.Statuses {
		got[c.Value] = c.N
	}
	if want := groupCounts(t, f.raw, `SELECT COALESCE(monitoring_status, ''), COUNT(*) FROM accounts GROUP BY 1`); !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	since := db.FormatTime(d.Since)
	got = map[string]int64{}
	dups := map[string]int64{}
	for _, c := range d.Events24h {
		got[c.Event] = c.Accepted
		if c.Duplicates > 0 {
			dups[c.Event] = c.Duplicates
		}
	}
	if want := groupCounts(t, f.raw, `SELECT event, COUNT(*) FROM events WHERE received_at >= ? GROUP BY event`, since); !reflect.DeepEqual(got, want) {
		t.Errorf("events 24h %v, want %v", got, want)
	}
	// A duplicate counts in the hour it arrived; every redelivery above
	// arrived within the window.
	if want := groupCounts(t, f.raw, `SELECT event, SUM(delivery_count - 1) FROM events GROUP BY event`); !reflect.DeepEqual(dups, want) {
		t.Errorf("duplicates 24h %v, want %v", dups, want)
	}
	got = map[string]int64{}
	for _, c := range d.Rejected24h {
		got[c.Value] = c.N
	}
	if want := groupCounts(t, f.raw, `SELECT reason, COUNT(*) FROM webhook_rejections WHERE at >= ? GROUP BY reason`, since); !reflect.DeepEqual(got, want) {
		t.Errorf("rejections 24h %v, want %v", got, want)
	}
	q := map[string]int64{"queued": d.Queue.Queued, "running": d.Queue.Running, "done": d.Queue.Done, "failed": d.Queue.Failed}
	for k, v := range q {
		if v == 0 {
			delete(q, k)
		}
	}
	if want := groupCounts(t, f.raw, `SELECT state, COUNT(*) FROM jobs GROUP BY state`); !reflect.DeepEqual(q, want) {
		t.Errorf("queue %v, want %v", q, want)
	}
	for name, sql := range map[string]string{
		"events": `SELECT COUNT(*) FROM events`, "accounts": `SELECT COUNT(*) FROM accounts`, "end_users": `SELECT COUNT(*) FROM end_users`,
	} {
		var n int64
		f.raw.QueryRow(sql).Scan(&n)
		if d.Totals[name] != n {
			t.Errorf("total %s = %d, want %d", name, d.Totals[name], n)
		}
	}
	if len(d.Newest) != 10 {
		t.Errorf("newest: %d events", len(d.Newest))
	}
	var top int64
	f.raw.QueryRow(`SELECT MAX(id) FROM events`).Scan(&top)
	if d.Newest[0].ID != top {
		t.Errorf("newest event %d, want %d", d.Newest[0].ID, top)
	}
	checkFacets(t, f)
}
