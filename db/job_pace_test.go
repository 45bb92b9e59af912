package db_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// TestReservePace: a pace hands out start times gap apart to every
// instance on the database in turn, each pace on its own, from the
// reserving instance's now once the slots handed out have passed, and
// forgets a next start that a clock running ahead left far in the future.
func TestReservePace(t *testing.T) {
	ctx := context.Background()
	path := dbtest.Path(t, "pace.db")
	a, b := openAt(t, path), openAt(t, path)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	gap := 100 * time.Millisecond
	reserve := func(s *db.Store, name string, n int, now time.Time, want ...time.Duration) {
		t.Helper()
		got, err := s.ReservePace(ctx, name, n, gap, now)
		if err != nil {
			t.Fatal(err)
		}
		w := make([]time.Time, len(want))
		for i, d := range want {
			w[i] = t0.Add(d)
		}
		if !slices.EqualFunc(got, w, time.Time.Equal) {
			t.Errorf("%s: reserved %v, want %v", name, got, w)
		}
	}
	ms := time.Millisecond
	reserve(a, "fetches", 3, t0, 0, 100*ms, 200*ms)
	reserve(b, "fetches", 2, t0.Add(10*ms), 300*ms, 400*ms) // the other instance, after a's
	reserve(b, "reconciles", 1, t0.Add(10*ms), 10*ms)       // another pace
	reserve(a, "fetches", 1, t0.Add(5*time.Second), 5*time.Second)
	reserve(b, "fetches", 1, t0.Add(time.Hour), time.Hour)                  // a clock an hour ahead
	reserve(a, "fetches", 2, t0.Add(6*time.Second), 6*time.Second, 6100*ms) // forgets it
	// A slow pace may stand further ahead (64 gaps) than a fast one.
	slow, err := a.ReservePace(ctx, "slow", 40, time.Second, t0)
	if err != nil || len(slow) != 40 {
		t.Fatal(slow, err)
	}
	if got, err := b.ReservePace(ctx, "slow", 1, time.Second, t0); err != nil || len(got) != 1 || !got[0].Equal(t0.Add(40*time.Second)) {
		t.Errorf("a slow pace 40 s ahead: %v, %v, want %v", got, err, t0.Add(40*time.Second))
	}
	if got, err := a.ReservePace(ctx, "fetches", 0, gap, t0); err != nil || got != nil {
		t.Errorf("no slot: %v, %v", got, err)
	}

	// Two instances reserving at once: every start once, gap apart.
	t1 := t0.Add(24 * time.Hour)
	var mu sync.Mutex
	var all []time.Time
	var wg sync.WaitGroup
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			got, err := s.ReservePace(ctx, "together", 2, gap, t1)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			all = append(all, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(all, time.Time.Compare)
	for i, at := range all {
		if want := t1.Add(time.Duration(i) * gap); !at.Equal(want) {
			t.Fatalf("start %d of %d reserved at once: %v, want %v (all: %v)", i, len(all), at, want, all)
		}
	}
	if len(all) != 32 {
		t.Errorf("%d starts reserved, want 32", len(all))
	}
}
