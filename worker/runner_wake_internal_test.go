package worker

import (
	"context"
	"testing"

	"linkdesk/db"
)

// TestWakeKinds_OnlyThePoolsOfThoseKinds: ingestion's wake (fetches
// queued) reaches the fetch pool alone; Wake reaches every pool.
func TestWakeKinds_OnlyThePoolsOfThoseKinds(t *testing.T) {
	none := func(context.Context, db.Job) (db.JobEffect, error) { return nil, nil }
	r := NewRunner(nil, Options{})
	r.Add(Pool{Kinds: db.FetchJobKinds, Handle: none})
	r.Add(Pool{Kinds: []string{"alert.check", "alert.notify"}, Handle: none})
	r.Add(Pool{Kinds: []string{"campaign.launch"}, Handle: none})
	woken := func() (out []int) {
		for _, p := range r.pools {
			out = append(out, len(p.wake))
			select {
			case <-p.wake:
			default:
			}
		}
		return out
	}
	r.WakeKinds(db.FetchJobKinds)
	if got := woken(); got[0] != 1 || got[1] != 0 || got[2] != 0 {
		t.Errorf("WakeKinds(fetches) woke %v, want the fetch pool only", got)
	}
	r.WakeKinds([]string{"alert.notify", "no.such.kind"})
	if got := woken(); got[0] != 0 || got[1] != 1 || got[2] != 0 {
		t.Errorf("WakeKinds(alert.notify) woke %v, want the alerts pool only", got)
	}
	r.Wake()
	r.Wake() // a pool already woken stays woken once; Wake never blocks
	if got := woken(); got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Errorf("Wake woke %v, want every pool", got)
	}
}
