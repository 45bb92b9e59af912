package sandbox_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

func TestDelivery_RetriesUntilSuccess(t *testing.T) {
	e := newEnv(t, tidy)
	acc := e.connect("eu-retry", "income") // before any webhook: no events yet
	rc := newReceiver(t, e.clock.Now)
	rc.fail = func(n int, _ pinwheel.Event) bool { return n <= 2 }
	e.hook(rc, "2023-11-22", "account.monitoring_status.updated")

	e.setStatus(acc, "degraded")
	waitFor(t, "third attempt", time.Minute, func() bool { return len(rc.all()) >= 3 })

	// A marker event sent after the success: once it has arrived, the first
	// event is known to be settled (tidy deliveries of a webhook go out in order).
	e.setStatus(acc, "active")
	waitFor(t, "marker event", time.Minute, func() bool { return len(rc.all()) >= 4 })

	got := rc.all()
	first := got[0].Event.EventID
	var stamps []string
	for i, d := range got[:3] {
		if d.Event.EventID != first {
			t.Errorf("attempt %d has event_id %s, want %s", i+1, d.Event.EventID, first)
		}
		if d.Err != nil {
			t.Errorf("attempt %d: signature: %v", i+1, d.Err)
		}
		if string(d.Body) != string(got[0].Body) {
			t.Errorf("attempt %d body differs", i+1)
		}
		stamps = append(stamps, d.Header.Get(pinwheel.HeaderTimestamp))
	}
	if _, err := strconv.ParseInt(stamps[0], 10, 64); err != nil {
		t.Errorf("X-Timestamp %q", stamps[0])
	}
	if len(got) != 4 || got[3].Event.EventID == first {
		t.Errorf("got %d deliveries; the 4th must be the marker", len(got))
	}
	p, _ := got[3].Event.AccountPayload()
	if p.MonitoringStatus != "active" {
		t.Errorf("marker %+v", p)
	}
}

func TestDelivery_KeepsAccountOrderAcrossRetries(t *testing.T) {
	e := newEnv(t, tidy)
	rc := newReceiver(t, e.clock.Now)
	// Fail the first identity.added twice: later events of the account wait.
	failures := 0
	rc.fail = func(_ int, ev pinwheel.Event) bool {
		if ev.Event == "identity.added" && failures < 2 {
			failures++
			return true
		}
		return false
	}
	e.hook(rc, "2023-11-22", "account.added", "identity.added", "income.added")
	acc := e.connect("eu-order", "identity", "income")
	rc.waitEvent(t, acc, "income.added")
	var firstSeen []string
	for _, name := range rc.events(acc) {
		if !slices.Contains(firstSeen, name) {
			firstSeen = append(firstSeen, name)
		}
	}
	if !slices.Equal(firstSeen, []string{"account.added", "identity.added", "income.added"}) {
		t.Errorf("order %v", rc.events(acc))
	}
	if n := len(rc.events(acc)); n != 5 {
		t.Errorf("%d deliveries, want 5 (2 failures)", n)
	}
}

func TestDelivery_RestartResumesPending(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, e.clock.Now)
	var accept atomic.Bool
	rc.fail = func(int, pinwheel.Event) bool { return !accept.Load() }
	e.hook(rc, "2023-11-22", "account.added", "identity.added", "income.added")
	acc := e.connect("eu-restart", "identity", "income")
	waitFor(t, "a failed attempt", time.Minute, func() bool { return len(rc.all()) >= 1 })

	// Stop, let the receiver accept, and start a new emulator on the same
	// state file with a long retry base: only resumed deliveries can arrive.
	e.stop()
	accept.Store(true)
	e.start(func(c *sandbox.Config) { c.RetryBase = time.Hour })
	// Retries were scheduled by the old process (20 ms base); the new one
	// picks them up from the state file.
	rc.waitEvent(t, acc, "income.added")
	waitFor(t, "all three events delivered", time.Minute, func() bool {
		var ok []string
		for _, d := range rc.all() {
			if !slices.Contains(ok, d.Event.Event) {
				ok = append(ok, d.Event.Event)
			}
		}
		return len(ok) == 3
	})

	// The account survived and On Demand Updates still work.
	var a pinwheel.Response[pinwheel.Account]
	e.mustOK("GET", "/v1/accounts/"+acc, nil).decode(t, &a)
	if a.Data.ID != acc {
		t.Fatalf("account after restart %+v", a.Data)
	}
	var before, after pinwheel.Response[pinwheel.Identity]
	e.mustOK("GET", "/v1/accounts/"+acc+"/identity", nil).decode(t, &before)
	odu := e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "skip_intro_screen": true})
	res, err := e.driver().Complete(context.Background(), odu.Token, sandbox.SessionPlan{})
	if err != nil || res.Outcome != "success" || res.AccountID != acc {
		t.Fatalf("ODU after restart: %v %+v", err, res)
	}
	e.restart()
	e.mustOK("GET", "/v1/accounts/"+acc+"/identity", nil).decode(t, &after)
	if before.Data.FullName != after.Data.FullName || before.Data.ID != after.Data.ID {
		t.Errorf("identity changed across restarts: %q vs %q", before.Data.FullName, after.Data.FullName)
	}
}

func TestDelivery_NotSentTwice(t *testing.T) {
	e := newEnv(t, tidy)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2023-11-22", "account.added", "income.added", "account.monitoring_status.updated")
	acc := e.connect("eu-once", "income")
	rc.waitEvent(t, acc, "income.added")
	// The receiver may have answered while the emulator has yet to record
	// it; a restart in between rightly delivers again (at least once). Wait
	// until the emulator's state says delivered.
	e.waitDelivered(t)
	e.restart(tidy)
	e.setStatus(acc, "degraded")
	rc.waitEvent(t, acc, "account.monitoring_status.updated")
	if got := rc.events(acc); !slices.Equal(got, []string{"account.added", "income.added", "account.monitoring_status.updated"}) {
		t.Errorf("events %v", got)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, tidy)

	t.Run("error rate", func(t *testing.T) {
		e.emu.SetFaults(sandbox.Faults{ErrorRate: 1})
		defer e.emu.SetFaults(sandbox.Faults{})
		r := e.call("GET", "/v1/accounts", nil)
		if r.Status != http.StatusInternalServerError {
			t.Fatalf("status %d", r.Status)
		}
		if pe := r.apiError(t); pe.Type != "UNKNOWN_ERROR" || pe.StatusCode != 500 {
			t.Errorf("envelope %+v", pe)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		e.emu.SetFaults(sandbox.Faults{RateLimitRate: 1, RetryAfter: 2 * time.Second})
		defer e.emu.SetFaults(sandbox.Faults{})
		r := e.call("POST", "/v1/link_tokens", map[string]any{})
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
			t.Fatalf("status %d retry-after %q", r.Status, r.Header.Get("Retry-After"))
		}
		r.apiError(t)
	})

	t.Run("paths", func(t *testing.T) {
		e.emu.SetFaults(sandbox.Faults{ErrorRate: 1, Paths: []string{"/v1/link_tokens"}})
		defer e.emu.SetFaults(sandbox.Faults{})
		e.mustOK("GET", "/v1/accounts", nil)
		if r := e.call("POST", "/v1/link_tokens", map[string]any{}); r.Status != 500 {
			t.Errorf("link_tokens status %d", r.Status)
		}
	})

	t.Run("latency", func(t *testing.T) {
		e.emu.SetFaults(sandbox.Faults{Latency: 50 * time.Millisecond})
		defer e.emu.SetFaults(sandbox.Faults{})
		start := time.Now()
		e.mustOK("GET", "/v1/platforms", nil)
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Errorf("took %v", d)
		}
	})

	t.Run("duplicates", func(t *testing.T) {
		rc := newReceiver(t, e.clock.Now)
		e.hook(rc, "2023-11-22", "account.added", "identity.added", "income.added")
		e.emu.SetFaults(sandbox.Faults{DuplicateRate: 1})
		defer e.emu.SetFaults(sandbox.Faults{})
		acc := e.connect("eu-dup", "identity", "income")
		waitFor(t, "6 deliveries", time.Minute, func() bool { return len(rc.events(acc)) >= 6 })
		perID := map[string]int{}
		for _, d := range rc.all() {
			perID[d.Event.EventID]++
			if d.Err != nil {
				t.Errorf("signature: %v", d.Err)
			}
		}
		if len(perID) != 3 {
			t.Errorf("%d distinct events, want 3", len(perID))
		}
		for id, n := range perID {
			if n != 2 {
				t.Errorf("event %s delivered %d times", id, n)
			}
		}
	})

	t.Run("reorder", func(t *testing.T) {
		rc := newReceiver(t, e.clock.Now)
		e.hook(rc, "2023-11-22")
		e.emu.SetFaults(sandbox.Faults{Reorder: true})
		defer e.emu.SetFaults(sandbox.Faults{})
		acc := e.connect("eu-reorder")
		// Workday fans out to identity, income, allocations, 4 paystub
		// pages, 3 shift pages, employment, and two milestones: 14 events.
		waitFor(t, "all events", time.Minute, func() bool { return len(rc.events(acc)) == 14 })
	})
}
