package db

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"linkdesk/dbtest"
)

// TestEventsHorizon_AnEventCommittedLaterBelowIsNotSkipped: on PostgreSQL
// an ingest batch that announced itself and inserted an event (id A) is
// still open while another instance's batch commits a later event (id B >
// A) of the same account. A live timeline, a page drawn now, the toasts'
// position and the cap stop below A; once the first batch commits, the
// timeline's next poll returns A and then B: nothing is skipped or shown
// twice. Without the cap the timeline
// would have moved to B and never read A. On SQLite one writer commits in
// id order, and there is no cap.
func TestEventsHorizon_AnEventCommittedLaterBelowIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, "horizon.db")
	if s.Backend() != "postgres" {
		if c, err := s.newestEvent(ctx, s.r); err != nil || c != 0 {
			t.Fatalf("SQLite newest event %d (%v), want 0", c, err)
		}
		t.Skip("ids follow commit order on SQLite")
	}
	g := runIngester(t, s, IngestOptions{})
	ingest := func(eventID string) {
		t.Helper()
		d, err := ParseDelivery(fmt.Appendf(nil, `{"event_id": %q, "event": "account.monitoring_status.updated", "payload": {"created_at": "2026-11-26T10:00:00.000000+00:00", "link_token_id": "tok-h", "platform_id": "plat-1", "connected": true, "monitoring_status": "active", "end_user_id": "eu-h", "account_id": "acc-h", "platform_name": "Workday"}}`, eventID))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Ingest(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ingest("ev-first")
	q := TimelineQuery{AccountID: "acc-h", Kinds: []string{KindWebhook}}
	pos, err := s.TimelinePositions(ctx, q)
	if err != nil {
		t.Fatal(err)
	}

	// The open batch: announced, one event inserted, not committed.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := s.reserveEvents(ctx, tx); err != nil {
		t.Fatal(err)
	}
	var held int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO events (event_id, event, account_ref, received_at, last_received_at, projection, body)
VALUES ('ev-held', 'account.monitoring_status.updated', (SELECT id FROM accounts WHERE account_id = 'acc-h'), ?, ?, 'unknown', '{}') RETURNING id`,
		"2026-11-26T10:00:01.000000Z", "2026-11-26T10:00:01.000000Z").Scan(&held); err != nil {
		t.Fatal(err)
	}
	ingest("ev-later") // another batch commits a higher id meanwhile
	var later int64
	if err := s.r.QueryRowContext(ctx, `SELECT id FROM events WHERE event_id = 'ev-later'`).Scan(&later); err != nil {
		t.Fatal(err)
	}
	if later <= held {
		t.Fatalf("ids %d (open) and %d (committed): the test needs the committed one above", held, later)
	}

	if c, err := s.newestEvent(ctx, s.r); err != nil || c >= held {
		t.Errorf("newest event %d (%v) while event %d may still commit, want below it", c, err, held)
	}
	if tp, err := s.ToastPosition(ctx); err != nil || tp.Event >= held {
		t.Errorf("toast position %d (%v), want below %d", tp.Event, err, held)
	}
	page, err := s.Timeline(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, e := range page.Entries {
		shown = append(shown, e.EventID)
	}
	if fmt.Sprint(shown) != "[ev-first]" || page.Latest.Event >= held {
		t.Errorf("a page drawn now shows %v and streams from %d, want [ev-first] (ev-later comes with the stream, after ev-held) and below %d",
			shown, page.Latest.Event, held)
	}
	got, next, err := s.TimelineSince(ctx, q, pos, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || next.Event >= held {
		t.Errorf("live timeline read %d entries and moved to %d while %d is open, want none and below it", len(got), next.Event, held)
	}

	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, next, err = s.TimelineSince(ctx, q, next, 50)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.EventID)
	}
	if fmt.Sprint(ids) != "[ev-held ev-later]" || next.Event != later {
		t.Errorf("after the commit the live timeline read %v and moved to %d, want [ev-held ev-later] and %d", ids, next.Event, later)
	}
	if c, err := s.newestEvent(ctx, s.r); err != nil || c != later {
		t.Errorf("newest event %d (%v) with nothing open, want %d", c, err, later)
	}
}

// TestEventsHorizon_ConcurrentBatchesMissNothing: two Stores (two
// instances) ingest 400 deliveries each at once into one database, 16
// concurrent senders each, the accounts, end users and link tokens shared
// between them (so their batches race to create the same rows). Meanwhile
// a reader follows the events as live pages do: the cap, then the events
// above its position up to the cap, over and over. Every delivery is
// acknowledged, the reader ends having read every event exactly once in
// increasing ids, and the totals and counters that triggers keep at commit
// (migration 088) equal the rows. (Whether a batch commits below another
// while the reader looks depends on timing here; the test above makes it
// happen.)
func TestEventsHorizon_ConcurrentBatchesMissNothing(t *testing.T) {
	ctx := context.Background()
	path := dbtest.Path(t, "horizon-two.db")
	var stores []*Store
	for range 2 {
		s, err := Open(ctx, path, Options{PasswordCost: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	if stores[0].Backend() != "postgres" {
		t.Skip("one writer on SQLite")
	}
	var gs []*Ingester
	for _, s := range stores {
		gs = append(gs, runIngester(t, s, IngestOptions{}))
	}

	const perStore, senders = 400, 16
	var sent sync.WaitGroup
	errs := make(chan error, 2*senders)
	for si, g := range gs {
		for k := range senders {
			sent.Go(func() {
				for i := k; i < perStore; i += senders {
					n := si*perStore + i
					d, err := ParseDelivery(fmt.Appendf(nil, `{"event_id": "ev-%d", "event": "account.monitoring_status.updated", "payload": {"created_at": "2026-11-26T10:00:00.000000+00:00", "link_token_id": "tok-%d", "platform_id": "plat-%d", "connected": true, "monitoring_status": %q, "end_user_id": "eu-%d", "account_id": "acc-%d", "platform_name": "Workday"}}`,
						n, n%40, n%3, []string{"active", "degraded", "disconnected"}[n%3], n%25, n%40))
					if err == nil {
						_, err = g.Ingest(ctx, d)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	allSent := make(chan struct{})
	go func() { sent.Wait(); close(allSent) }()

	r := stores[0]
	seen := map[int64]int{}
	var cur, last int64
	follow := func() {
		t.Helper()
		capped, err := r.newestEvent(ctx, r.r)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := r.r.QueryContext(ctx, `SELECT id FROM events WHERE id > ? AND id <= ? ORDER BY id`, cur, capped)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			if id <= last {
				t.Errorf("read %d after %d", id, last)
			}
			seen[id]++
			last = id
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		cur = max(cur, last)
	}
	for waiting := true; waiting; {
		select {
		case <-allSent:
			waiting = false
		default:
			follow()
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	follow()

	var total int
	if err := r.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 2*perStore || len(seen) != total {
		t.Errorf("%d events stored, the reader read %d distinct, want %d both", total, len(seen), 2*perStore)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %d read %d times", id, n)
		}
	}
	for _, q := range []string{
		`SELECT 'end_users', (SELECT n FROM totals WHERE name = 'end_users'), (SELECT COUNT(*) FROM end_users)`,
		`SELECT 'accounts', (SELECT n FROM totals WHERE name = 'accounts'), (SELECT COUNT(*) FROM accounts)`,
		`SELECT 'link_tokens', (SELECT n FROM totals WHERE name = 'link_tokens'), (SELECT COUNT(*) FROM link_tokens_seen)`,
		`SELECT 'platform facets', (SELECT SUM(n) FROM account_facet_counts WHERE facet = 'platform'), (SELECT COUNT(*) FROM accounts)`,
		`SELECT 'platform status counts', (SELECT SUM(n) FROM platform_status_counts), (SELECT COUNT(*) FROM accounts)`,
	} {
		var name string
		var kept, rows int64
		if err := r.r.QueryRowContext(ctx, q).Scan(&name, &kept, &rows); err != nil {
			t.Fatal(err)
		}
		if kept != rows {
			t.Errorf("%s: %d kept, %d rows", name, kept, rows)
		}
	}
}
