package sandbox_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// TestKnobs_DeliveryRules: a drop rule keeps an account's job webhooks
// from leaving while others' go out; a count retires a rule; a delay rule
// holds deliveries back on the wall clock; a bad_signature rule signs with
// a wrong secret (refused by a verifying receiver, and retried).
func TestKnobs_DeliveryRules(t *testing.T) {
	e := newEnv(t, tidy)
	ctx := context.Background()
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, pinwheel.DefaultVersion)
	d := e.driver()
	d.Secret = testSecret

	t.Run("drop one account's job webhooks", func(t *testing.T) {
		acc := e.connect("eu-drop-1")
		rc.waitEvent(t, acc, "employment.added") // the session's last (tidy delivery)
		r, err := d.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleDrop, Event: sandbox.JobEvents, AccountID: acc})
		if err != nil || r.ID == 0 {
			t.Fatalf("rule %+v %v", r, err)
		}
		before := len(rc.events(acc))
		other := e.connect("eu-drop-2")
		e.setStatus(acc, "degraded") // not a job event: still sent
		rc.waitEvent(t, other, "identity.added")
		rc.waitEvent(t, acc, "account.monitoring_status.updated")
		// A second session of acc's platform would be acc again; an ODU
		// session is the simplest way to make acc's jobs run again.
		tok := e.token(map[string]any{"org_name": "Linkdesk Test", "account_id": acc, "required_jobs": []string{"identity"}})
		if _, err := d.Complete(ctx, tok.Token, sandbox.SessionPlan{}); err != nil {
			t.Fatal(err)
		}
		e.setStatus(acc, "active")
		waitFor(t, "the last status update", 10*time.Second, func() bool {
			n := 0
			for _, ev := range rc.events(acc) {
				if ev == "account.monitoring_status.updated" {
					n++
				}
			}
			return n == 2
		})
		for _, ev := range rc.events(acc)[before:] {
			if strings.HasSuffix(ev, ".added") { // job events; sync milestones are no jobs
				t.Errorf("a dropped %s arrived", ev)
			}
		}
		list, err := d.DeliveryRules(ctx)
		if err != nil || len(list) != 1 || list[0].Matched == 0 {
			t.Fatalf("rules %+v %v", list, err)
		}
		if err := d.DeleteDeliveryRules(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a count retires the rule", func(t *testing.T) {
		if _, err := d.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleDrop, Event: "account.monitoring_status.updated", Count: 1}); err != nil {
			t.Fatal(err)
		}
		acc := e.connect("eu-count")
		rc.waitEvent(t, acc, "identity.added")
		e.setStatus(acc, "degraded") // dropped
		e.setStatus(acc, "active")   // sent
		rc.waitEvent(t, acc, "account.monitoring_status.updated")
		var statuses []string
		for _, dl := range rc.all() {
			if payloadAccount(dl.Event) == acc && dl.Event.Event == "account.monitoring_status.updated" {
				statuses = append(statuses, string(dl.Event.Payload))
			}
		}
		if len(statuses) != 1 || !strings.Contains(statuses[0], `"monitoring_status": "active"`) {
			t.Fatalf("status updates received %v, want only the second", statuses)
		}
		if list, _ := d.DeliveryRules(ctx); len(list) != 0 {
			t.Fatalf("a spent rule is still in force: %+v", list)
		}
	})

	t.Run("delay", func(t *testing.T) {
		acc := e.connect("eu-delay")
		rc.waitEvent(t, acc, "identity.added")
		if _, err := d.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleDelay, Event: "account.monitoring_status.updated", AccountID: acc, DelaySeconds: 1}); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		e.setStatus(acc, "degraded")
		rc.waitEvent(t, acc, "account.monitoring_status.updated")
		if waited := time.Since(sent); waited < time.Second {
			t.Fatalf("delivered after %v, want at least the delay", waited)
		}
		d.DeleteDeliveryRules(ctx, 0)
	})

	t.Run("bad signature", func(t *testing.T) {
		if _, err := d.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleBadSignature, Event: "*", Count: 1}); err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		rc.fail = func(n int, ev pinwheel.Event) bool { return false }
		rc.mu.Unlock()
		acc := e.connect("eu-badsig")
		rc.waitEvent(t, acc, "identity.added")
		var bad, good int
		for _, dl := range rc.all() {
			if payloadAccount(dl.Event) != acc {
				continue
			}
			if errors.Is(dl.Err, pinwheel.ErrBadSignature) {
				bad++
			} else if dl.Err == nil {
				good++
			}
		}
		if bad == 0 || good == 0 {
			t.Fatalf("bad %d, good %d: want the first event spoilt and the others signed", bad, good)
		}
	})
}

// TestKnobs_PlatformStatus: every account of a platform takes the status at
// once, each with its webhook; accounts of other platforms stay.
func TestKnobs_PlatformStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, pinwheel.DefaultVersion)
	d := e.driver()
	d.Secret = testSecret
	a1, a2 := e.connect("eu-p1"), e.connect("eu-p2")
	n, err := d.SetPlatformStatus(ctx, "5965580e-380f-4b86-8a8a-7278c77f73cb", "degraded")
	if err != nil || n != 2 {
		t.Fatalf("changed %d: %v", n, err)
	}
	for _, acc := range []string{a1, a2} {
		rc.waitEvent(t, acc, "account.monitoring_status.updated")
		var got pinwheel.Response[pinwheel.Account]
		e.mustOK("GET", "/v1/accounts/"+acc, nil).decode(t, &got)
		if got.Data.MonitoringStatus != "degraded" {
			t.Errorf("%s is %s", acc, got.Data.MonitoringStatus)
		}
	}
	if n, _ := d.SetPlatformStatus(ctx, "5965580e-380f-4b86-8a8a-7278c77f73cb", "degraded"); n != 0 {
		t.Errorf("the same status again changed %d", n)
	}
	if r := e.call("POST", "/emulator/platforms/5965580e-380f-4b86-8a8a-7278c77f73cb/monitoring_status", map[string]any{"monitoring_status": "broken"}); r.Status != http.StatusBadRequest {
		t.Errorf("an unknown status: %d", r.Status)
	}
	if r := e.call("POST", "/emulator/platforms/00000000-0000-0000-0000-000000000000/monitoring_status", map[string]any{"monitoring_status": "active"}); r.Status != http.StatusNotFound {
		t.Errorf("an unknown platform: %d", r.Status)
	}
	if r := e.call("POST", "/emulator/webhooks/rules", map[string]any{"action": "delay", "delay_seconds": 0}); r.Status != http.StatusBadRequest {
		t.Errorf("a delay of nothing: %d", r.Status)
	}
	if r := e.call("POST", "/emulator/webhooks/rules", map[string]any{"action": "drop"}, "x-api-secret", "wrong"); r.Status != http.StatusUnauthorized {
		t.Errorf("without the secret: %d", r.Status)
	}
}
