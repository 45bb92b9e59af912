package db

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestIngest_DeliveriesWaitingForTheLockJoinTheBatch: on SQLite, while a
// batch waits for the right to write (the one writer connection), the
// deliveries that queue behind it join it once it may write, instead of
// forming the next batch. On PostgreSQL a batch has written everything but
// its counters when it waits for the "ingest" lock (another instance's
// batch holds it for its counters and commit: ingest.go, "Several
// writers"), so it stays as it was and the deliveries behind it form the
// next batch, all of them: batches of 1 and 4, every delivery stored.
func TestIngest_DeliveriesWaitingForTheLockJoinTheBatch(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, "join.db")
	var mu sync.Mutex
	var sizes []int
	g := runIngester(t, s, IngestOptions{Hooks: IngestHooks{Batch: func(n, _ int, _ time.Duration) {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
	}}})

	// Take what the committer needs before it may write.
	var release func()
	var waiting func() bool
	if s.Backend() == "postgres" {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.d.lock(ctx, tx, "ingest"); err != nil {
			t.Fatal(err)
		}
		release = func() { tx.Rollback() }
		waiting = func() bool {
			var n int
			err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n)
			return err == nil && n > 0
		}
	} else {
		conn, err := s.w.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		release = func() { conn.Close() }
		waiting = func() bool { return s.w.Stats().WaitCount > 0 }
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) { // a hang guard, not a timing
				release()
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	errs := make(chan error, 5)
	send := func(i int) {
		d, err := ParseDelivery(fmt.Appendf(nil, `{"event_id": "join-%d", "event": "account.monitoring_status.updated", "payload": {"created_at": "2026-11-26T10:00:00.000000+00:00", "link_token_id": "tok-1", "platform_id": "plat-1", "connected": true, "monitoring_status": "active", "end_user_id": "eu-1", "account_id": "acc-%d", "platform_name": "Workday"}}`, i, i))
		if err != nil {
			errs <- err
			return
		}
		_, err = g.Ingest(ctx, d)
		errs <- err
	}
	go send(0)
	until("the first batch to wait for the right to write", waiting)
	for i := 1; i < 5; i++ {
		go send(i)
	}
	until("four deliveries queued behind it", func() bool { return len(g.in) == 4 })
	release()
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{5}
	if s.Backend() == "postgres" {
		want = []int{1, 4}
	}
	if !slices.Equal(sizes, want) {
		t.Errorf("batches %v, want %v", sizes, want)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE event_id LIKE 'join-%'`).Scan(&n); err != nil || n != 5 {
		t.Errorf("%d events stored (%v), want 5", n, err)
	}
}
