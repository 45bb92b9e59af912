package sandbox_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// noExample lists the numbers whose public examples are null, a string,
// absent or too narrow, with the format the emulator chose (docs/sandbox.md).
var noExample = map[string]map[string]string{
	// The schema says number; an allocation by percentage is written the way
	// Python writes a float.
	"allocations": {"data.allocations[].percentage": "float"},
	// The schema says integer; the example's '2021' is a string.
	"tax forms": {"data[].year": "int"},
	"tax form":  {"data.year": "int"},
	// shifts.fully_synced repeats the last shift page's count, like
	// paystubs.fully_synced (recorded) repeats the paystub page's.
	"shifts.fully_synced": {"payload.params.count": "int"},
	// A switch's allocation value is an integer in the schema (unit not
	// stated); a whole amount is written so, a fractional dollar amount can
	// only be a float.
	"direct_deposit_switch.added": {"payload.params.allocation.value": "mixed"},
	// Job params as in the webhooks: counts are integers (recorded), a
	// switch's value as above.
	"jobs": {"data[].params.count": "int", "data[].params.allocation.value": "mixed"},
}

// TestNumbers_AsPinwheelWritesThem compares the number format (integer 10
// or float 10.0) of every number in every kind of response and webhook with
// a recorded example (testdata/recorded), or a documented one where nothing
// was recorded.
func TestNumbers_AsPinwheelWritesThem(t *testing.T) {
	e := newEnv(t, tidy)
	rc := newReceiver(t, e.clock.Now)
	var all []string
	for _, ev := range []string{"account.added", "account.monitoring_status.updated", "identity.added", "employment.added",
		"income.added", "paystubs.added", "paystubs.fully_synced", "shifts.added", "shifts.fully_synced",
		"direct_deposit_allocations.added", "direct_deposit_switch.added", "tax_forms.added"} {
		all = append(all, ev)
	}
	e.hook(rc, pinwheel.Version20231122, all...)
	ctx := context.Background()

	// A session like the recorded one, then tax forms, a switch by amount
	// and one by percentage, and a status change.
	tok := e.token(map[string]any{"org_name": "Report My Income", "required_jobs": []string{"paystubs", "tax_forms"},
		"end_user_id": "eu-numbers", "skip_intro_screen": true, "employer_id": recordedEmployer})
	res, err := e.driver().Complete(ctx, tok.Token, sandbox.SessionPlan{})
	if err != nil {
		t.Fatal(err)
	}
	acc := res.AccountID
	for _, c := range []sandbox.AllocationChoice{{Action: "partial_switch", Type: "amount", Value: 125.5},
		{Action: "partial_switch", Type: "percentage", Value: 20}} {
		odu := e.token(map[string]any{"org_name": "Report My Income", "account_id": acc, "skip_intro_screen": true,
			"required_jobs": []string{"direct_deposit_switch"}, "allocation": map[string]any{"targets": targets}})
		if _, err := e.driver().Complete(ctx, odu.Token, sandbox.SessionPlan{Allocation: &c}); err != nil {
			t.Fatal(err)
		}
	}
	e.mustOK("PATCH", "/v1/sandbox/accounts/"+acc, map[string]any{"monitoring_status": "user_action_required"})

	recorded := func(path string) node {
		rec := recordedAPIByPath(t, path)
		return mustNode(t, "recorded "+path, []byte(rec.ResponseBody))
	}
	// relist turns a recorded single object into a list's shape and back.
	relist := func(n node, toList bool) node {
		data, _ := n.get("data")
		if toList {
			return node{kind: "object", keys: []string{"data"}, vals: []node{{kind: "array", items: []node{data}}}}
		}
		return node{kind: "object", keys: []string{"data"}, vals: []node{data.items[0]}}
	}
	var taxFormID string
	{
		var list struct{ Data []struct{ ID string } }
		e.mustOK("GET", "/v1/accounts/"+acc+"/tax_forms", nil).decode(t, &list)
		if len(list.Data) == 0 {
			t.Fatal("no tax forms")
		}
		taxFormID = list.Data[0].ID
	}
	var paystubID string
	{
		var list struct{ Data []struct{ ID string } }
		e.mustOK("GET", "/v1/accounts/"+acc+"/paystubs?limit=1", nil).decode(t, &list)
		paystubID = list.Data[0].ID
	}
	pageMeta := mustNode(t, "documented list", []byte(`{"meta": {"count": 1, "next_cursor": null}}`))
	withMeta := func(n node) node { // a list example plus the documented page meta
		n.keys = append(n.keys, "meta")
		n.vals = append(n.vals, pageMeta.vals[0])
		return n
	}

	cases := []struct {
		name, method, path string
		body               any
		example            node
	}{
		{"link token", "POST", "/v1/link_tokens", map[string]any{"org_name": "Report My Income", "required_jobs": []string{"paystubs"}, "end_user_id": "x"}, recorded("/v1/link_tokens")},
		{"search", "GET", "/v1/search?q=foo", nil, recorded("/v1/search")},
		{"platform", "GET", "/v1/platforms/5965580e-380f-4b86-8a8a-7278c77f73cb", nil, recorded("/v1/platforms/")},
		{"platforms", "GET", "/v1/platforms", nil, withMeta(relist(recorded("/v1/platforms/"), true))},
		{"employers", "GET", "/v1/employers", nil, withMeta(recorded("/v1/search"))},
		{"employer", "GET", "/v1/employers/" + recordedEmployer, nil, relist(recorded("/v1/search"), false)},
		{"account", "GET", "/v1/accounts/" + acc, nil, recorded("/v1/accounts/{id}")},
		{"accounts", "GET", "/v1/accounts", nil, withMeta(relist(recorded("/v1/accounts/{id}"), true))},
		{"end user accounts", "GET", "/v1/end_users/eu-numbers/accounts", nil, withMeta(relist(recorded("/v1/accounts/{id}"), true))},
		{"sandbox account", "PATCH", "/v1/sandbox/accounts/" + acc, map[string]any{"monitoring_status": "user_action_required"}, documented(t, "sandbox_account")},
		{"identity", "GET", "/v1/accounts/" + acc + "/identity", nil, recorded("/v1/accounts/{id}/identity")},
		{"employment", "GET", "/v1/accounts/" + acc + "/employment", nil, recorded("/v1/accounts/{id}/employment")},
		{"income", "GET", "/v1/accounts/" + acc + "/income", nil, recorded("/v1/accounts/{id}/income")},
		{"paystubs", "GET", "/v1/accounts/" + acc + "/paystubs?limit=100", nil, recorded("/v1/accounts/{id}/paystubs")},
		{"paystub", "GET", "/v1/accounts/" + acc + "/paystubs/" + paystubID, nil, relist(recorded("/v1/accounts/{id}/paystubs"), false)},
		{"shifts", "GET", "/v1/accounts/" + acc + "/shifts?limit=100", nil, recorded("/v1/accounts/{id}/shifts")},
		{"allocations", "GET", "/v1/accounts/" + acc + "/direct_deposit_allocations", nil, documented(t, "dd_allocations")},
		{"tax forms", "GET", "/v1/accounts/" + acc + "/tax_forms", nil, documented(t, "tax_forms")},
		{"tax form", "GET", "/v1/accounts/" + acc + "/tax_forms/" + taxFormID + "?with_parsed_data=true", nil, documented(t, "tax_form")},
		{"jobs", "GET", "/v1/jobs?limit=100", nil, documented(t, "jobs")},
		{"webhooks", "GET", "/v1/webhooks", nil, documented(t, "webhooks")},
		{"webhook", "POST", "/v1/webhooks", map[string]any{"url": "https://example.com/h", "status": "paused",
			"enabled_events": []string{"income.added"}, "version": "2023-11-22"}, documented(t, "webhook")},
		{"error", "POST", "/v1/link_tokens", map[string]any{}, documented(t, "api_error")},
	}
	for _, c := range cases {
		r := e.call(c.method, c.path, c.body)
		checkNumbers(t, c.name, mustNode(t, c.name, r.Body), c.example)
	}
	e.emu.SetFaults(sandbox.Faults{RateLimitRate: 1})
	checkNumbers(t, "rate limited", mustNode(t, "429", e.call("GET", "/v1/accounts", nil).Body), documented(t, "api_error"))
	e.emu.SetFaults(sandbox.Faults{})

	// Webhooks: every kind, against the recorded delivery of its kind (the
	// common job payload of identity.added for the job events nobody
	// recorded; the OpenAPI jobs example's params for a switch).
	var hooks []recordedWebhook
	readTestdata(t, "webhooks.json", &hooks)
	recHook := map[string]node{}
	for _, h := range hooks {
		n := mustNode(t, "recorded webhook", []byte(h.Body))
		ev, _ := n.get("event")
		if _, ok := recHook[ev.str]; !ok {
			recHook[ev.str] = n
		}
	}
	jobsExample := documented(t, "jobs")
	jobsData, _ := jobsExample.get("data")
	switchExample := node{kind: "object", keys: []string{"payload"}, vals: []node{jobsData.items[0]}}
	waitFor(t, "every webhook kind", time.Minute, func() bool {
		seen := map[string]bool{}
		for _, d := range rc.all() {
			seen[d.Event.Event] = true
		}
		return len(seen) == len(all)
	})
	for _, d := range rc.all() {
		example, ok := recHook[d.Event.Event]
		switch {
		case ok:
		case d.Event.Event == "account.monitoring_status.updated":
			example = recHook["account.added"]
		case d.Event.Event == "shifts.fully_synced":
			example = recHook["paystubs.fully_synced"]
		case d.Event.Event == "direct_deposit_switch.added":
			example = switchExample
		default:
			example = recHook["identity.added"]
		}
		checkNumbers(t, d.Event.Event, mustNode(t, d.Event.Event, d.Body), example)
	}
}

// checkNumbers compares the number formats of ours with an example: a path
// that is a number in both must be written alike; a number with no example
// must be listed in noExample with its chosen format.
func checkNumbers(t *testing.T, what string, ours, example node) {
	t.Helper()
	got, want := numberKinds(ours), numberKinds(example)
	paths := make([]string, 0, len(got))
	for p := range got {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		k := got[p]
		if w, ok := noExample[what][p]; ok {
			if w != k && !(w == "mixed" && (k == "int" || k == "float")) {
				t.Errorf("%s: %s written as %s, chosen %s", what, p, k, w)
			}
			continue
		}
		if w, ok := want[p]; ok {
			if w != k {
				t.Errorf("%s: %s written as %s, the example as %s", what, p, k, w)
			}
			continue
		}
		if strings.HasSuffix(p, "meta.count") || p == "error.status_code" {
			if k != "int" {
				t.Errorf("%s: %s written as %s", what, p, k)
			}
			continue
		}
		t.Errorf("%s: %s (%s) has no example: add one or list it in noExample", what, p, k)
	}
}
