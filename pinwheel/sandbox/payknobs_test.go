package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// allPaystubs pages through an account's paystubs, limit 100.
func (e *env) allPaystubs(acc string) []pinwheel.Paystub {
	e.t.Helper()
	var all []pinwheel.Paystub
	for cursor := ""; ; {
		var page struct {
			Data []pinwheel.Paystub
			Meta pinwheel.Meta
		}
		q := "/v1/accounts/" + acc + "/paystubs?limit=100"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		e.mustOK("GET", q, nil).decode(e.t, &page)
		all = append(all, page.Data...)
		if page.Meta.NextCursor == nil {
			return all
		}
		cursor = *page.Meta.NextCursor
	}
}

// paystubRefs collects the added and deleted ids of an account's
// paystubs.added webhooks.
func paystubRefs(rc *receiver, acc string) (added, deleted []string) {
	for _, d := range rc.all() {
		if d.Event.Event != pinwheel.EventPaystubsAdded {
			continue
		}
		p, err := d.Event.JobPayload()
		if err != nil || p.AccountID != acc {
			continue
		}
		for _, r := range p.Added {
			if !slices.Contains(added, r.ID) {
				added = append(added, r.ID)
			}
		}
		for _, r := range p.Deleted {
			if !slices.Contains(deleted, r.ID) {
				deleted = append(deleted, r.ID)
			}
		}
	}
	return added, deleted
}

// TestPayKnobs: a preset profile gives an end user's next account five
// years of weekly pay (announced page by page, served in pages); a paystub
// added and one deleted through the knobs come in the next On Demand
// Update's added and deleted arrays; the knobs refuse what they cannot do.
func TestPayKnobs(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2023-11-22")
	d := &sandbox.Driver{BaseURL: e.base, Secret: testSecret}
	ctx := context.Background()
	if err := d.SetPayProfile(ctx, "eu-pay", "", sandbox.PayProfile{Kind: sandbox.PayKindHourly, Frequency: sandbox.FreqWeekly,
		HistoryMonths: 60, RaisePercent: 4, RaiseMonthsAgo: 20}); err != nil {
		t.Fatal(err)
	}
	acc := e.connect("eu-pay")
	rc.waitEvent(t, acc, pinwheel.EventPaystubsFullySynced)
	stubs := e.allPaystubs(acc)
	if n := len(stubs); n < 259 || n > 262 {
		t.Fatalf("%d paystubs in five years of weekly pay", n)
	}
	waitFor(t, "every page", 10*time.Second, func() bool { a, _ := paystubRefs(rc, acc); return len(a) == len(stubs) })

	// A day later the employer pays again; another paystub goes away.
	e.clock.Advance(24 * time.Hour)
	raw, err := d.AddPaystub(ctx, acc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var added pinwheel.Paystub
	if err := json.Unmarshal(raw, &added); err != nil || added.ID == "" || added.GrossPayAmount <= 0 || added.Currency != "USD" {
		t.Fatalf("added paystub %s: %v", raw, err)
	}
	gone := stubs[10].ID
	if err := d.DeletePaystub(ctx, acc, gone); err != nil {
		t.Fatal(err)
	}
	bad, err := d.AddPaystub(ctx, acc, map[string]any{"gross_pay_amount": nil, "currency": "EUR", "pay_date": "2031-01-02"})
	if err != nil || !json.Valid(bad) {
		t.Fatalf("bad paystub: %v", err)
	}
	var badFields map[string]any
	json.Unmarshal(bad, &badFields)
	if badFields["gross_pay_amount"] != nil || badFields["currency"] != "EUR" || badFields["pay_date"] != "2031-01-02" {
		t.Errorf("overrides not applied: %s", bad)
	}
	after := e.allPaystubs(acc)
	ids := func(list []pinwheel.Paystub) []string {
		var out []string
		for _, p := range list {
			out = append(out, p.ID)
		}
		return out
	}
	if len(after) != len(stubs)+1 || !slices.Contains(ids(after), added.ID) || slices.Contains(ids(after), gone) || after[0].PayDate != "2031-01-02" {
		t.Errorf("after the knobs: %d paystubs, newest %s", len(after), after[0].PayDate)
	}

	// An On Demand Update reports both.
	e.clock.Advance(time.Hour)
	tok := e.token(map[string]any{"org_name": "Linkdesk Test", "required_jobs": []string{"paystubs"}, "account_id": acc, "skip_intro_screen": true})
	if _, err := e.driver().Complete(ctx, tok.Token, sandbox.SessionPlan{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the update's arrays", 10*time.Second, func() bool {
		a, dl := paystubRefs(rc, acc)
		return slices.Contains(a, added.ID) && slices.Contains(dl, gone)
	})

	// Refusals.
	for _, tc := range []struct {
		name, path string
		body       any
		secret     string
		want       int
	}{
		{"no secret", "/emulator/accounts/" + acc + "/paystubs", map[string]any{}, "-", http.StatusUnauthorized},
		{"unknown key", "/emulator/accounts/" + acc + "/paystubs", map[string]any{"taxes": 1}, "", http.StatusBadRequest},
		{"bad date", "/emulator/accounts/" + acc + "/paystubs", map[string]any{"pay_date": "soon"}, "", http.StatusBadRequest},
		{"unknown account", "/emulator/accounts/00000000-0000-4000-8000-000000000000/paystubs", map[string]any{}, "", http.StatusNotFound},
		{"unknown paystub", "/emulator/accounts/" + acc + "/paystubs/nope/delete", nil, "", http.StatusNotFound},
		{"bad profile", "/emulator/pay_profiles", map[string]any{"end_user_id": "x", "kind": "hourly", "frequency": "daily", "history_months": 3}, "", http.StatusBadRequest},
		{"profile without end user", "/emulator/pay_profiles", map[string]any{"kind": "gig", "history_months": 3}, "", http.StatusBadRequest},
	} {
		hdr := []string{}
		if tc.secret == "-" {
			hdr = []string{pinwheel.HeaderAPISecret, ""}
		}
		if r := e.call("POST", tc.path, tc.body, hdr...); r.Status != tc.want {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.Status, tc.want, r.Body)
		}
	}
}
