package db

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"linkdesk/dbtest"
	"linkdesk/loadgen"
)

// TestIngest_BatchWideStatementsMatchPerEvent: the end users and fetch
// jobs a batch writes once (ingest_sets.go) end as the statements of each
// event leave them. Two stores take the same 3,000 generated deliveries
// (the loadgen mix: end users and accounts seen again, duplicates, job
// events that queue fetches of the same account), one through the
// batch-wide statements, the other through the per-event path. Their end
// users, jobs, job counts, accounts' latest jobs and events' end users are
// equal.
func TestIngest_BatchWideStatementsMatchPerEvent(t *testing.T) {
	ctx := context.Background()
	gen := loadgen.NewGenerator(loadgen.GenConfig{Seed: 7, Accounts: 300})
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var ds []Delivery
	for i := range 3000 {
		d, err := ParseDelivery(gen.Next().Body)
		if err != nil {
			t.Fatal(err)
		}
		d.ReceivedAt = base.Add(time.Duration(i) * time.Second)
		ds = append(ds, d)
	}
	// Events of a type Linkdesk does not know link to the end users that
	// exist when they are stored: before a new end user's first known
	// event in the same batch (not yet), after it (yes), and one that
	// existed before the batch (yes).
	old := ds[0].p.EndUserID
	for k := range 5 {
		at := k*600 + 150
		user, acc := fmt.Sprintf("eu-new-%d", k), fmt.Sprintf("acc-new-%d", k)
		for j, body := range []string{
			fmt.Sprintf(`{"event_id": "unknown-a-%d", "event": "something.new", "payload": {"end_user_id": %q, "account_id": %q}}`, k, user, acc),
			fmt.Sprintf(`{"event_id": "added-%d", "event": "account.added", "payload": {"created_at": "2026-12-01T09:00:00.000000+00:00", "link_token_id": "tok-new-%d", "platform_id": "plat-1", "connected": true, "monitoring_status": "active", "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}}`, k, k, user, acc),
			fmt.Sprintf(`{"event_id": "unknown-b-%d", "event": "something.new", "payload": {"end_user_id": %q}}`, k, user),
			fmt.Sprintf(`{"event_id": "unknown-c-%d", "event": "something.new", "payload": {"end_user_id": %q}}`, k, old),
		} {
			d, err := ParseDelivery([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			d.ReceivedAt = ds[at+j].ReceivedAt
			ds[at+j] = d
		}
	}

	run := func(name string, perEvent bool) map[string][]string {
		s := openInternal(t, name+".db")
		g, err := s.NewIngester(ctx, IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer g.st.close()
		g.perEvent = perEvent
		// The same deliveries in the same order, in batches of 100, so
		// that what depends on their order (which account.added finds its
		// account already there, which job's payload is the last) is the
		// same in both runs.
		for from := 0; from < len(ds); from += 100 {
			var batch []*item
			for _, d := range ds[from:min(from+100, len(ds))] {
				batch = append(batch, &item{d: d, start: time.Now(), done: make(chan itemResult, 1)})
			}
			if _, err := g.commit(batch, nil); err != nil {
				t.Fatal(err)
			}
			for _, it := range batch {
				if r := <-it.done; r.err != nil {
					t.Fatalf("%s: %v", it.d.EventID, r.err)
				}
			}
		}
		out := map[string][]string{}
		for table, q := range map[string]string{
			"end_users": `SELECT end_user_id, first_seen_at, last_seen_at, account_count, event_count FROM end_users ORDER BY end_user_id`,
			"jobs": `SELECT kind, COALESCE(dedupe_key, ''), state, payload, run_at, attempts, created_at, updated_at FROM jobs
ORDER BY kind, dedupe_key, created_at`,
			"job counts": `SELECT kind, state, CAST(SUM(n) AS BIGINT) FROM (SELECT kind, state, n FROM job_state_counts
UNION ALL SELECT kind, state, n FROM job_state_deltas) q GROUP BY kind, state HAVING SUM(n) <> 0 ORDER BY 1, 2`,
			"accounts": `SELECT account_id, COALESCE(last_job, ''), COALESCE(last_job_outcome, ''), COALESCE(last_job_at, ''), event_count
FROM accounts ORDER BY account_id`,
			"events": `SELECT e.event_id, e.projection, COALESCE(u.end_user_id, '') FROM events e LEFT JOIN end_users u ON u.id = e.end_user_ref
ORDER BY e.event_id`,
		} {
			out[table] = dbtest.Rows(t, s.r, q)
		}
		return out
	}
	batched, perEvent := run("batched", false), run("per-event", true)
	for table, want := range perEvent {
		if len(want) == 0 {
			t.Errorf("%s: no rows", table)
		}
		if got := batched[table]; !slices.Equal(got, want) {
			t.Errorf("%s differs (%d rows, want %d); first differences:\n%s", table, len(got), len(want), dbtest.FirstDiffs(got, want, 3))
		}
	}
}
