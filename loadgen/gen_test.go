package loadgen_test

import (
	"testing"

	"linkdesk/db"
	"linkdesk/loadgen"
)

func TestGenerator_ProducesValidSessions(t *testing.T) {
	g := loadgen.NewGenerator(loadgen.GenConfig{Seed: 7, Accounts: 70, EndUsers: 50})
	seen := map[string]bool{}
	accounts, endUsers := map[string]bool{}, map[string]bool{}
	names := map[string]int{}
	var dups int
	for range 5000 {
		e := g.Next()
		d, err := db.ParseDelivery(e.Body)
		if err != nil {
			t.Fatalf("%s: %v", e.Body, err)
		}
		if d.EventID != e.EventID || d.Event != e.Name {
			t.Fatalf("envelope %q/%q, want %q/%q", d.EventID, d.Event, e.EventID, e.Name)
		}
		if seen[e.EventID] != e.Duplicate {
			t.Fatalf("event %s: seen %v, marked duplicate %v", e.EventID, seen[e.EventID], e.Duplicate)
		}
		if e.Duplicate {
			dups++
		}
		seen[e.EventID] = true
		names[e.Name]++
		if d.AccountID() != "" {
			accounts[d.AccountID()] = true
		}
		if d.EndUserID() != "" {
			endUsers[d.EndUserID()] = true
		}
	}
	if len(accounts) != 70 || len(endUsers) != 50 {
		t.Errorf("%d accounts of %d end users, want 70 of 50", len(accounts), len(endUsers))
	}
	if dups < 50 || dups > 200 {
		t.Errorf("%d duplicates in 5000, want about 2%%", dups)
	}
	for _, n := range []string{"account.added", "identity.added", "paystubs.added", "paystubs.fully_synced", "direct_deposit_allocations.added", "account.monitoring_status.updated"} {
		if names[n] == 0 {
			t.Errorf("no %s in %v", n, names)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for target, ok := range map[string]bool{
		"http://127.0.0.1:8080/webhooks/pinwheel": true,
		"http://localhost:1/x":                    true,
		"http://[::1]:9/x":                        true,
		"http://10.0.0.1/x":                       false,
		"https://example.com/x":                   false,
		"ftp://127.0.0.1/x":                       false,
		"not a url":                               false,
	} {
		if err := loadgen.CheckLoopback(target); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok %v", target, err, ok)
		}
	}
}
