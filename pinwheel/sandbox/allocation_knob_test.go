package sandbox_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// The allocation knob changes an account's allocations outside Link and
// sends direct_deposit_allocations.added, as monitoring would; it needs the
// secret and validates its body.
func TestEmulator_AllocationKnob(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, pinwheel.Version20231122)
	acc := e.connect("knob-user")
	rc.waitEvent(t, acc, "direct_deposit_allocations.added")
	before := len(rc.events(acc))

	d := e.driver()
	d.Secret = testSecret
	ours := sandbox.BankAccount{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "4400556789"}
	if err := d.SetAllocation(context.Background(), acc, sandbox.AllocationChange{Action: "partial_switch", Type: "amount", Value: 300, Target: ours}); err != nil {
		t.Fatal(err)
	}
	var got pinwheel.Response[pinwheel.DDAllocations]
	e.mustOK("GET", "/v1/accounts/"+acc+"/direct_deposit_allocations", nil).decode(t, &got)
	a := got.Data.Allocations
	if len(a) != 2 || a[0].AllocationType != "amount" || a[0].Amount == nil || *a[0].Amount != 30000 || *a[0].MaskedAccountNumber != "6789" ||
		a[1].AllocationType != "remainder" {
		t.Fatalf("allocations after the knob: %+v", a)
	}
	waitFor(t, "a second allocations event", 10*time.Second, func() bool {
		n := 0
		for _, name := range rc.events(acc)[before:] {
			if name == "direct_deposit_allocations.added" {
				n++
			}
		}
		return n == 1
	})

	// Removing it gives the paycheck back to the primary account.
	if err := d.SetAllocation(context.Background(), acc, sandbox.AllocationChange{Action: "remove", Target: ours}); err != nil {
		t.Fatal(err)
	}
	e.mustOK("GET", "/v1/accounts/"+acc+"/direct_deposit_allocations", nil).decode(t, &got)
	if a := got.Data.Allocations; len(a) != 1 || a[0].AllocationType != "remainder" || *a[0].MaskedAccountNumber == "6789" {
		t.Errorf("after remove: %+v", a)
	}
	// A full switch makes ours the remainder account.
	if err := d.SetAllocation(context.Background(), acc, sandbox.AllocationChange{Action: "full_switch", Target: ours}); err != nil {
		t.Fatal(err)
	}
	e.mustOK("GET", "/v1/accounts/"+acc+"/direct_deposit_allocations", nil).decode(t, &got)
	if a := got.Data.Allocations; len(a) != 1 || *a[0].MaskedAccountNumber != "6789" {
		t.Errorf("after a full switch: %+v", a)
	}

	if r := e.call("POST", "/emulator/accounts/"+acc+"/allocations", map[string]any{"action": "partial_switch", "type": "amount", "value": 10},
		pinwheel.HeaderAPISecret, "wrong"); r.Status != http.StatusUnauthorized {
		t.Errorf("without the secret: %d", r.Status)
	}
	r := e.call("POST", "/emulator/accounts/"+acc+"/allocations", map[string]any{"action": "sideways", "type": "amount", "value": -1,
		"target": map[string]any{"routing_number": "12", "account_number": "x"}})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "target.routing_number") || !strings.Contains(string(r.Body), `"action"`) {
		t.Errorf("bad body: %d %s", r.Status, r.Body)
	}
	if r := e.call("POST", "/emulator/accounts/00000000-0000-4000-8000-000000000000/allocations", map[string]any{"action": "full_switch",
		"target": map[string]any{"routing_number": "021000021", "account_number": "4400556789"}}); r.Status != http.StatusNotFound {
		t.Errorf("unknown account: %d", r.Status)
	}
}
