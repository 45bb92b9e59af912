package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

const workday = "5965580e-380f-4b86-8a8a-7278c77f73cb"

var targets = []any{
	map[string]any{"name": "My Checking Account", "type": "checking", "routing_number": "193487629", "account_number": "5675249802"},
	map[string]any{"name": "My Savings Account", "type": "savings", "routing_number": "193487629", "account_number": "6675249802"},
}

// payloadOf decodes the payload of the first event named name.
func payloadOf(t *testing.T, events []sandbox.ClientEvent, name string, v any) {
	t.Helper()
	for _, ev := range events {
		if ev.Name == name {
			if err := json.Unmarshal(ev.Payload, v); err != nil {
				t.Fatalf("%s payload: %v", name, err)
			}
			return
		}
	}
	t.Fatalf("no %s event in %v", name, events)
}

func TestLink_UserGoodThenODUSwitch(t *testing.T) {
	e := newEnv(t, tidy)
	rc := newReceiver(t, e.clock.Now)
	hook := e.hook(rc, "2023-11-22")
	ctx := context.Background()

	// A new account: intro, search, pick Workday, log in.
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": allJobs, "end_user_id": "eu-1"})
	res, err := e.driver().Complete(ctx, tok.Token, sandbox.SessionPlan{PlatformID: workday})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	// No screen_transition for the intro (its real name is not public);
	// other_event entries as recorded.
	wantEvents := []string{"open", "other_event", "screen_transition", "select_platform", "other_event", "screen_transition",
		"login_attempt", "other_event", "login", "success", "other_event", "screen_transition", "exit"}
	if !slices.Equal(res.EventNames(), wantEvents) {
		t.Errorf("client events %v, want %v", res.EventNames(), wantEvents)
	}
	if res.Outcome != "success" || res.PlatformID != workday {
		t.Fatalf("result %+v", res)
	}
	var login struct{ AccountID, PlatformID string }
	payloadOf(t, res.Events, "login", &login)
	var success struct{ AccountID, PlatformID, Job string }
	payloadOf(t, res.Events, "success", &success)
	if login.AccountID != res.AccountID || success.AccountID != res.AccountID || success.Job != "login" {
		t.Errorf("login %+v success %+v", login, success)
	}
	var st struct{ ScreenName, SelectedPlatformName string }
	payloadOf(t, res.Events[5:], "screen_transition", &st)
	if st.ScreenName != "LOGIN" || st.SelectedPlatformName != "Workday" {
		t.Errorf("screen_transition %+v", st)
	}
	acc := res.AccountID

	// Webhooks: account.added first, then the jobs in the recorded
	// interleaving; Workday also fans out to shifts (tidy delivery).
	rc.waitEvent(t, acc, "employment.added")
	got := rc.events(acc)
	want := []string{"account.added", "identity.added", "income.added", "direct_deposit_allocations.added",
		"paystubs.added", "shifts.added", "paystubs.added", "paystubs.added", "shifts.added", "paystubs.added",
		"paystubs.fully_synced", "shifts.added", "shifts.fully_synced", "employment.added"}
	if !slices.Equal(got, want) {
		t.Errorf("webhooks %v, want %v", got, want)
	}
	eventIDs := map[string]bool{}
	var counts []int
	var statuses []string
	total := 0
	for _, d := range rc.all() {
		if d.Err != nil {
			t.Errorf("%s: signature: %v", d.Event.Event, d.Err)
		}
		if eventIDs[d.Event.EventID] {
			t.Errorf("duplicate event_id %s", d.Event.EventID)
		}
		eventIDs[d.Event.EventID] = true
		h := d.Header
		if h.Get("Content-Type") != "application/json" || h.Get(pinwheel.HeaderWebhookID) != hook.ID ||
			h.Get(pinwheel.HeaderVersion) != "2023-11-22" || h.Get("User-Agent") == "" {
			t.Errorf("headers %v", h)
		}
		if !strings.HasPrefix(string(d.Body), `{"event_id": "`+d.Event.EventID+`", "event": "`+d.Event.Event+`", "payload": {`) {
			t.Errorf("body layout: %.80s", d.Body)
		}
		switch d.Event.Event {
		case "account.added":
			p, err := d.Event.AccountPayload()
			if err != nil || p.AccountID != acc || p.PlatformName != "Workday" || p.MonitoringStatus != "active" ||
				!p.Connected || p.EndUserID != "eu-1" || p.LinkTokenID != tok.ID {
				t.Errorf("account.added %+v %v", p, err)
			}
			if strings.Contains(string(d.Body), "platform_type") {
				t.Errorf("2023-11-22 account.added has platform_type")
			}
		case "paystubs.added":
			p, _ := d.Event.JobPayload()
			sp, _ := p.SyncParams()
			counts = append(counts, sp.Count)
			statuses = append(statuses, *sp.SyncStatus)
			if len(p.Added) != sp.Count || p.Deleted == nil {
				t.Errorf("paystubs.added added %d count %d", len(p.Added), sp.Count)
			}
			total += sp.Count
		case "identity.added":
			p, _ := d.Event.JobPayload()
			if p.Name != "identity" || p.Outcome != "success" || p.ErrorCode != nil || string(p.Params) != "{}" {
				t.Errorf("identity.added %+v", p)
			}
			if !strings.Contains(string(d.Body), `"error_code": null, "error_type": null`) {
				t.Errorf("nulls not spelled out: %s", d.Body)
			}
		}
	}
	if len(counts) != 4 || counts[0] != 1 || counts[1] != 1 || counts[2] != 2 ||
		!slices.Equal(statuses, []string{"in_progress", "in_progress", "in_progress", "complete"}) {
		t.Errorf("paystub pages %v %v", counts, statuses)
	}
	if stubs := e.allPaystubs(acc); len(stubs) != total {
		t.Errorf("API has %d paystubs, webhooks announced %d", len(stubs), total)
	}

	// Data endpoints answer with meta.refreshed_at; the account knows when.
	for _, path := range []string{"identity", "employment", "income", "direct_deposit_allocations"} {
		r := e.mustOK("GET", "/v1/accounts/"+acc+"/"+path, nil)
		var body struct {
			Data json.RawMessage
			Meta map[string]any
		}
		r.decode(t, &body)
		if _, ok := body.Meta["refreshed_at"]; !ok || len(body.Meta) != 1 {
			t.Errorf("%s meta %v", path, body.Meta)
		}
	}
	var identity pinwheel.Response[pinwheel.Identity]
	e.mustOK("GET", "/v1/accounts/"+acc+"/identity", nil).decode(t, &identity)
	if identity.Data.FullName == "" || identity.Data.Address == nil || len(*identity.Data.LastFourSSN) != 4 {
		t.Errorf("identity %+v", identity.Data)
	}
	var account pinwheel.Response[pinwheel.Account]
	e.mustOK("GET", "/v1/accounts/"+acc, nil).decode(t, &account)
	if account.Data.DataRefreshedAt["paystubs"].IsZero() || account.Data.EndUserID != "eu-1" {
		t.Errorf("account %+v", account.Data)
	}
	var before pinwheel.Response[pinwheel.DDAllocations]
	e.mustOK("GET", "/v1/accounts/"+acc+"/direct_deposit_allocations", nil).decode(t, &before)
	if len(before.Data.Allocations) != 1 || before.Data.Allocations[0].AllocationType != "remainder" {
		t.Fatalf("initial allocations %+v", before.Data.Allocations)
	}

	// On Demand Update: a partial amount switch to the savings target, no login.
	odu := e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "required_jobs": []string{"direct_deposit_switch"},
		"skip_intro_screen": true, "allocation": map[string]any{"targets": targets}})
	started := time.Now()
	res, err = e.driver().Complete(ctx, odu.Token, sandbox.SessionPlan{
		Allocation: &sandbox.AllocationChoice{Action: "partial_switch", Type: "amount", Value: 150, TargetIndex: 1}})
	elapsed := time.Since(started)
	if err != nil {
		t.Fatalf("ODU: %v", err)
	}
	t.Logf("ODU session (4 link-api calls) took %v", elapsed)
	if slices.Contains(res.EventNames(), "login") || slices.Contains(res.EventNames(), "login_attempt") {
		t.Errorf("ODU asked for a login: %v", res.EventNames())
	}
	if res.AccountID != acc || res.Outcome != "success" {
		t.Errorf("ODU result %+v", res)
	}
	var input struct {
		Action     string
		Allocation struct {
			Type  string
			Value float64
		}
	}
	payloadOf(t, res.Events, "input_allocation", &input)
	if input.Action != "partial_switch" || input.Allocation.Type != "amount" || input.Allocation.Value != 150 {
		t.Errorf("input_allocation %+v", input)
	}
	var odus struct {
		Job    string
		Params json.RawMessage
	}
	payloadOf(t, res.Events, "success", &odus)
	if odus.Job != "direct_deposit_switch" || !strings.Contains(string(odus.Params), `"partial_switch"`) {
		t.Errorf("switch success %+v", odus)
	}

	rc.waitEvent(t, acc, "direct_deposit_switch.added")
	for _, d := range rc.all() {
		if d.Event.Event != "direct_deposit_switch.added" {
			continue
		}
		p, _ := d.Event.JobPayload()
		sp, err := p.SwitchParams()
		if err != nil || *sp.Action != "partial_switch" || sp.Allocation.Type != "amount" || *sp.Allocation.Value != 150 ||
			sp.Allocation.Target.AccountName != "My Savings Account" || sp.Allocation.Target.AccountType != "savings" {
			t.Errorf("switch params %s", p.Params)
		}
		if p.LinkTokenID != odu.ID {
			t.Errorf("switch link_token_id %s", p.LinkTokenID)
		}
	}
	var after pinwheel.Response[pinwheel.DDAllocations]
	e.mustOK("GET", "/v1/accounts/"+acc+"/direct_deposit_allocations", nil).decode(t, &after)
	al := after.Data.Allocations
	if len(al) != 2 || al[0].AllocationType != "amount" || *al[0].Amount != 15000 || *al[0].Priority != 1 ||
		*al[0].MaskedAccountNumber != "9802" || *al[0].AccountName != "My Savings Account" ||
		al[1].AllocationType != "remainder" || *al[1].Priority != 2 {
		b, _ := json.Marshal(al)
		t.Errorf("allocations after switch: %s", b)
	}

	// The token was used: it cannot open Link again.
	_, err = e.driver().Open(ctx, odu.Token)
	var le *sandbox.LinkError
	if !errors.As(err, &le) || le.Type != "invalidLinkToken" || le.Status != http.StatusBadRequest {
		t.Errorf("reused token: %v", err)
	}

	// A full switch replaces everything with the remainder to the target.
	odu2 := e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "required_jobs": []string{"direct_deposit_switch"},
		"allocation": map[string]any{"targets": targets}})
	if _, err := e.driver().Complete(ctx, odu2.Token, sandbox.SessionPlan{}); err != nil {
		t.Fatal(err)
	}
	e.mustOK("GET", "/v1/accounts/"+acc+"/direct_deposit_allocations", nil).decode(t, &after)
	if al := after.Data.Allocations; len(al) != 1 || al[0].AllocationType != "remainder" || *al[0].AccountName != "My Checking Account" {
		t.Errorf("after full switch %+v", al)
	}
}

func TestLink_SameEndUserReusesAccount(t *testing.T) {
	e := newEnv(t)
	a := e.connect("eu-same")
	b := e.connect("eu-same")
	c := e.connect("eu-other")
	if a != b || a == c {
		t.Fatalf("accounts %s %s %s", a, b, c)
	}
	var ia, ic pinwheel.Response[pinwheel.Identity]
	e.mustOK("GET", "/v1/accounts/"+a+"/identity", nil).decode(t, &ia)
	e.mustOK("GET", "/v1/accounts/"+c+"/identity", nil).decode(t, &ic)
	if ia.Data.FullName == "" || ia.Data.ID == ic.Data.ID {
		t.Errorf("identities %q %q", ia.Data.FullName, ic.Data.FullName)
	}
}

func TestLink_WrongPasswordRetry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.driver()
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"}, "end_user_id": "eu-pw",
		"platform_id": workday, "skip_intro_screen": true})
	st, err := d.Open(ctx, tok.Token)
	if err != nil || st.Screen.Name != "login" {
		t.Fatalf("open: %v %+v", err, st)
	}
	st, err = d.Login(ctx, st.SessionID, "user_good", "wrong")
	if err != nil || st.Screen.Name != "login" || st.Screen.Message == "" {
		t.Fatalf("wrong password: %v %+v", err, st.Screen)
	}
	var le sandbox.LinkError
	payloadOf(t, st.Events, "error", &le)
	if le.Type != "invalidUserInput" || le.PendingRetry {
		t.Errorf("error event %+v", le)
	}
	var names []string
	for _, ev := range st.Events {
		names = append(names, ev.Name)
	}
	if !slices.Equal(names, []string{"login_attempt", "other_event", "error"}) {
		t.Errorf("events %v", names)
	}
	st, err = d.Login(ctx, st.SessionID, "user_good", "pass_good")
	if err != nil || st.Screen.Name != "success" {
		t.Fatalf("retry: %v %+v", err, st.Screen)
	}
	// A step out of order is refused with a 4xx JSON error.
	if _, err := d.MFA(ctx, st.SessionID, "mfa_code"); err == nil {
		t.Errorf("mfa after success accepted")
	}
}

func TestLink_UserMFA(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.driver()
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"identity", "direct_deposit_switch"},
		"end_user_id": "eu-mfa", "allocation": map[string]any{"targets": targets}})
	st, err := d.Open(ctx, tok.Token)
	if err != nil || st.Screen.Name != "intro" {
		t.Fatalf("open: %v %+v", err, st)
	}
	sid := st.SessionID
	if st, err = d.Continue(ctx, sid); err != nil || st.Screen.Name != "search" {
		t.Fatalf("continue: %v", err)
	}
	found, err := d.Search(ctx, sid, "mckee")
	if err != nil || len(found) != 1 || found[0].ResponseType != "employer" {
		t.Fatalf("search: %v %+v", err, found)
	}
	st, err = d.SelectEmployer(ctx, sid, found[0].ID)
	if err != nil || st.Screen.Name != "login" {
		t.Fatalf("select: %v", err)
	}
	var sel struct{ SelectedEmployerID, SelectedEmployerName string }
	payloadOf(t, st.Events, "select_employer", &sel)
	if sel.SelectedEmployerName != "McKee Foods" {
		t.Errorf("select_employer %+v", sel)
	}
	if st, err = d.Login(ctx, sid, "user_mfa", "pass_good"); err != nil || st.Screen.Name != "mfa" {
		t.Fatalf("login: %v %+v", err, st.Screen)
	}
	if slices.ContainsFunc(st.Events, func(ev sandbox.ClientEvent) bool { return ev.Name == "login" }) {
		t.Errorf("login fired before MFA")
	}
	st, err = d.MFA(ctx, sid, "wrong_code")
	if err != nil || st.Screen.Name != "mfa" {
		t.Fatalf("wrong code: %v", err)
	}
	var le sandbox.LinkError
	payloadOf(t, st.Events, "error", &le)
	if le.Type != "invalidUserInput" || le.Code != "challengeAnswerIncorrect" {
		t.Errorf("mfa error %+v", le)
	}
	if st, err = d.MFA(ctx, sid, "mfa_code"); err != nil || st.Screen.Name != "allocation" {
		t.Fatalf("mfa: %v %+v", err, st.Screen)
	}
	var login struct{ AccountID string }
	payloadOf(t, st.Events, "login", &login)
	// Percentage switch.
	st, err = d.Allocate(ctx, sid, sandbox.AllocationChoice{Action: "partial_switch", Type: "percentage", Value: 20})
	if err != nil || st.Screen.Name != "success" {
		t.Fatalf("allocate: %v %+v", err, st.Screen)
	}
	var dd pinwheel.Response[pinwheel.DDAllocations]
	e.mustOK("GET", "/v1/accounts/"+login.AccountID+"/direct_deposit_allocations", nil).decode(t, &dd)
	if al := dd.Data.Allocations; len(al) != 2 || al[0].AllocationType != "percentage" || *al[0].Percentage != 20 {
		t.Errorf("allocations %+v", al)
	}

	// On Demand Update of an MFA account: still the MFA step, no password.
	odu := e.token(map[string]any{"org_name": "Linkdesk", "account_id": login.AccountID, "skip_intro_screen": true})
	st, err = d.Open(ctx, odu.Token)
	if err != nil || st.Screen.Name != "mfa" {
		t.Fatalf("ODU open: %v %+v", err, st.Screen)
	}
	// No jobs in the token: the account's original jobs (identity + switch).
	if st, err = d.MFA(ctx, st.SessionID, "mfa_code"); err != nil || st.Screen.Name != "allocation" {
		t.Fatalf("ODU mfa: %v %+v", err, st.Screen)
	}
}

func TestLink_UserError(t *testing.T) {
	e := newEnv(t, tidy)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2023-11-22")

	// Read jobs run in the background: Link reports success at login and the
	// jobs fail by webhook (docs/pinwheel.md#link-events).
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"identity", "paystubs"},
		"end_user_id": "eu-err", "skip_intro_screen": true, "platform_id": workday})
	res, err := e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{Username: "user_error"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "success" || res.Error != nil || slices.Contains(res.EventNames(), "error") {
		t.Fatalf("read-only user_error: result %+v", res)
	}
	var success struct{ Job string }
	payloadOf(t, res.Events, "success", &success)
	if success.Job != "login" {
		t.Errorf("success %+v", success)
	}
	rc.waitEvent(t, res.AccountID, "employment.added")
	want := []string{"account.added", "identity.added", "income.added", "direct_deposit_allocations.added",
		"paystubs.added", "shifts.added", "employment.added"}
	if got := rc.events(res.AccountID); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	for _, d := range rc.all()[1:] {
		p, _ := d.Event.JobPayload()
		if p.Outcome != "error" || p.ErrorType == nil || *p.ErrorType != "systemError" || p.ErrorCode == nil ||
			*p.ErrorCode != "systemError" {
			t.Errorf("%s: %+v", d.Event.Event, p)
		}
	}

	// A switch fails in Link too: error, then exit with the error.
	tok = e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"direct_deposit_switch"},
		"end_user_id": "eu-err-2", "skip_intro_screen": true, "platform_id": workday,
		"allocation": map[string]any{"targets": targets}})
	res, err = e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{Username: "user_error"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "error" || res.Error == nil || res.Error.Type != "systemError" || res.Error.PendingRetry {
		t.Fatalf("switch of user_error: %+v %+v", res, res.Error)
	}
	var exit sandbox.LinkError
	payloadOf(t, res.Events, "exit", &exit)
	if exit.Type != "systemError" {
		t.Errorf("exit after error carries %+v", exit)
	}
	rc.waitEvent(t, res.AccountID, "direct_deposit_switch.added")
	for _, d := range rc.all() {
		if d.Event.Event != "direct_deposit_switch.added" {
			continue
		}
		p, _ := d.Event.JobPayload()
		sp, err := p.SwitchParams()
		if p.Outcome != "error" || err != nil || sp.Action == nil || *sp.Action != "full_switch" {
			t.Errorf("failed switch %s", d.Body)
		}
	}
}

func TestLink_UserPending(t *testing.T) {
	const delay = 300 * time.Millisecond
	e := newEnv(t, tidy, func(c *sandbox.Config) { c.PendingDelay = delay })
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2023-11-22", "income.added", "direct_deposit_switch.added")
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"},
		"end_user_id": "eu-pending", "skip_intro_screen": true, "platform_id": workday})
	started := time.Now()
	res, err := e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{Username: "user_pending"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "success" || res.Error != nil {
		t.Fatalf("read-only user_pending: result %+v %+v", res, res.Error)
	}
	waitFor(t, "two income.added", time.Minute, func() bool {
		n := 0
		for _, name := range rc.events(res.AccountID) {
			if name == "income.added" {
				n++
			}
		}
		return n == 2
	})
	if time.Since(started) < delay {
		t.Errorf("error outcome came before the pending delay")
	}
	var outcomes []string
	var jobIDs []string
	for _, d := range rc.all() {
		if d.Event.Event == "income.added" {
			p, _ := d.Event.JobPayload()
			outcomes = append(outcomes, p.Outcome)
			jobIDs = append(jobIDs, p.ID)
		}
	}
	if !slices.Equal(outcomes, []string{"pending", "error"}) || jobIDs[0] != jobIDs[1] {
		t.Errorf("outcomes %v ids %v", outcomes, jobIDs)
	}

	// A switch: Link says pendingRetry; the switch job goes pending, then error.
	tok = e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"direct_deposit_switch"},
		"end_user_id": "eu-pending-2", "skip_intro_screen": true, "platform_id": workday,
		"allocation": map[string]any{"targets": targets}})
	res, err = e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{Username: "user_pending",
		Allocation: &sandbox.AllocationChoice{Action: "partial_switch", Type: "amount", Value: 75}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "error" || res.Error == nil || !res.Error.PendingRetry {
		t.Fatalf("switch of user_pending: %+v %+v", res, res.Error)
	}
	waitFor(t, "switch pending then error", time.Minute, func() bool {
		return len(rc.events(res.AccountID)) == 2
	})
	for i, d := range rc.all() {
		if d.Event.Event != "direct_deposit_switch.added" {
			continue
		}
		p, _ := d.Event.JobPayload()
		sp, _ := p.SwitchParams()
		if sp.Allocation == nil || sp.Allocation.Value == nil || *sp.Allocation.Value != 75 {
			t.Errorf("delivery %d: params %s", i, p.Params)
		}
	}
}

func TestLink_UserActionRequired(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2025-07-08")
	acc := e.connect("eu-uar", "income")
	rc.waitEvent(t, acc, "income.added")

	var patched pinwheel.Response[pinwheel.Account]
	e.mustOK("PATCH", "/v1/sandbox/accounts/"+acc, map[string]any{"monitoring_status": "user_action_required"}).decode(t, &patched)
	if patched.Data.MonitoringStatus != "user_action_required" || patched.Data.ID != acc {
		t.Fatalf("patched %+v", patched.Data)
	}
	rc.waitEvent(t, acc, "account.monitoring_status.updated")
	// The spec's enum has user_action_required only.
	for _, bad := range []string{"broken", "degraded", "active"} {
		if r := e.call("PATCH", "/v1/sandbox/accounts/"+acc, map[string]any{"monitoring_status": bad}); r.Status != 400 ||
			r.apiError(t).Fields[0].Name != "monitoring_status" {
			t.Errorf("PATCH %s: %d %s", bad, r.Status, r.Body)
		}
	}

	// ODU now needs a login; afterwards the account is active again.
	odu := e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "solution": "Verify",
		"features": []string{"income"}, "skip_intro_screen": true}, pinwheel.HeaderVersion, "2025-07-08")
	res, err := e.driver().Complete(context.Background(), odu.Token, sandbox.SessionPlan{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.EventNames(), "login_attempt") || res.AccountID != acc {
		t.Errorf("no login on user_action_required: %v", res.EventNames())
	}
	var after pinwheel.Response[pinwheel.Account]
	e.mustOK("GET", "/v1/accounts/"+acc, nil).decode(t, &after)
	if after.Data.MonitoringStatus != "active" {
		t.Errorf("status after re-login %s", after.Data.MonitoringStatus)
	}
	waitFor(t, "status updates", time.Minute, func() bool {
		var statuses []string
		for _, d := range rc.all() {
			if d.Event.Event == "account.monitoring_status.updated" {
				p, _ := d.Event.AccountPayload()
				statuses = append(statuses, p.MonitoringStatus)
				if p.PlatformType != "payroll" {
					t.Errorf("2025 payload lacks platform_type: %s", d.Body)
				}
			}
		}
		return slices.Equal(statuses, []string{"user_action_required", "active"})
	})
	// The next ODU is silent again.
	odu = e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "required_jobs": []string{"income"}, "skip_intro_screen": true})
	res, err = e.driver().Complete(context.Background(), odu.Token, sandbox.SessionPlan{})
	if err != nil || slices.Contains(res.EventNames(), "login_attempt") {
		t.Errorf("second ODU: %v %v", err, res.EventNames())
	}

	// The emulator-only knob sets the others; it needs the secret.
	for _, s := range []string{"degraded", "customer_disabled", "unavailable", "active"} {
		e.setStatus(acc, s)
	}
	if r := e.call("POST", "/emulator/accounts/"+acc+"/monitoring_status", map[string]any{"monitoring_status": "degraded"},
		pinwheel.HeaderAPISecret, "wrong"); r.Status != http.StatusUnauthorized {
		t.Errorf("knob without the secret: %d", r.Status)
	}
	if err := e.driver().SetMonitoringStatus(context.Background(), acc, "degraded"); err == nil {
		t.Errorf("driver without a secret set a status")
	}
	d := e.driver()
	d.Secret = testSecret
	if err := d.SetMonitoringStatus(context.Background(), acc, "active"); err != nil {
		t.Errorf("driver knob: %v", err)
	}
	if r := e.call("POST", "/v1/accounts/"+acc+"/disable_monitoring", nil); r.Status != http.StatusNoContent {
		t.Errorf("disable_monitoring %d", r.Status)
	}
	if r := e.call("POST", "/v1/accounts/"+acc+"/disconnect", nil); r.Status != http.StatusNoContent {
		t.Errorf("disconnect %d", r.Status)
	}
	e.mustOK("GET", "/v1/accounts/"+acc, nil).decode(t, &after)
	if after.Data.Connected || after.Data.MonitoringStatus != "customer_disabled" {
		t.Errorf("after disconnect %+v", after.Data)
	}
	// An On Demand Update of a disconnected account ends in a Link error.
	odu = e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "skip_intro_screen": true})
	res, err = e.driver().Complete(context.Background(), odu.Token, sandbox.SessionPlan{})
	if err != nil || res.Outcome != "error" || res.Error == nil || res.Error.Code != "accountNotActive" {
		t.Errorf("ODU of a disconnected account: %v %+v", err, res)
	}
}

func TestLink_ExpiredToken(t *testing.T) {
	e := newEnv(t)
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"}, "end_user_id": "eu-exp"})
	e.clock.Advance(61 * time.Minute)
	res, err := e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{})
	var le *sandbox.LinkError
	if !errors.As(err, &le) || le.Type != "invalidLinkToken" || le.Code != "emulatorExpiredLinkToken" || le.Status < 400 || le.Status > 499 {
		t.Fatalf("expired token: %v", err)
	}
	if !slices.Equal(res.EventNames(), []string{"open", "error"}) {
		t.Errorf("events %v", res.EventNames())
	}
	// Garbage and forged tokens fail the same way.
	for _, bad := range []string{"", "not-a-jwt", strings.Replace(tok.Token, ".", "x.", 1)} {
		if _, err := e.driver().Open(context.Background(), bad); !errors.As(err, &le) || le.Type != "invalidLinkToken" ||
			le.Code != "invalidLinkTokenSignature" {
			t.Errorf("token %q: %v", bad, err)
		}
	}
}

func TestLink_ReusedToken(t *testing.T) {
	e := newEnv(t)
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"}, "end_user_id": "eu-re",
		"skip_intro_screen": true})
	d := e.driver()
	// Two sessions race on one token: the first to finish wins.
	s1, err := d.Open(context.Background(), tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := d.Open(context.Background(), tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sandbox.Step{s1, s2} {
		if _, err := d.SelectPlatform(context.Background(), s.SessionID, workday); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := d.Login(context.Background(), s1.SessionID, "user_good", "pass_good"); err != nil || st.Screen.Name != "success" {
		t.Fatalf("first: %v", err)
	}
	st, err := d.Login(context.Background(), s2.SessionID, "user_good", "pass_good")
	var le *sandbox.LinkError
	if !errors.As(err, &le) || le.Type != "invalidLinkToken" {
		t.Errorf("second session: %v", err)
	}
	if st == nil || len(st.Events) == 0 || st.Events[len(st.Events)-1].Name != "error" {
		t.Errorf("second session events %+v", st)
	}
	if _, err := d.Complete(context.Background(), tok.Token, sandbox.SessionPlan{}); !errors.As(err, &le) ||
		le.Code != "usedLinkToken" {
		t.Errorf("reopen: %v", err)
	}
}

func TestLink_FixedAmountAndMinimum(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.driver()
	acc := e.connect("eu-fixed")
	tok := e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "required_jobs": []string{"direct_deposit_switch"},
		"skip_intro_screen": true, "allocation": map[string]any{"type": "amount", "value": 123.45, "targets": targets}})
	st, err := d.Open(ctx, tok.Token)
	if err != nil || st.Screen.Name != "allocation" {
		t.Fatalf("open %v %+v", err, st)
	}
	var view struct {
		FixedType  string   `json:"fixed_type"`
		FixedValue float64  `json:"fixed_value"`
		Targets    []any    `json:"targets"`
		MinAmount  *float64 `json:"min_amount"`
	}
	if err := json.Unmarshal(st.Screen.Allocation, &view); err != nil || view.FixedType != "amount" ||
		view.FixedValue != 123.45 || len(view.Targets) != 2 {
		t.Fatalf("allocation screen %s", st.Screen.Allocation)
	}
	if strings.Contains(string(st.Screen.Allocation), "5675249802") {
		t.Errorf("full account number leaked to Link: %s", st.Screen.Allocation)
	}
	// Whatever the user sends, the token's amount is used.
	st, err = d.Allocate(ctx, st.SessionID, sandbox.AllocationChoice{Action: "full_switch"})
	if err != nil || st.Screen.Name != "success" {
		t.Fatalf("allocate: %v", err)
	}
	var in struct {
		Action     string
		Allocation struct{ Value float64 }
	}
	payloadOf(t, st.Events, "input_allocation", &in)
	if in.Action != "partial_switch" || in.Allocation.Value != 123.45 {
		t.Errorf("input_allocation %+v", in)
	}

	tok = e.token(map[string]any{"org_name": "Linkdesk", "account_id": acc, "required_jobs": []string{"direct_deposit_switch"},
		"skip_intro_screen": true, "allocation": map[string]any{"min_amount": 50, "targets": targets}})
	st, _ = d.Open(ctx, tok.Token)
	st, err = d.Allocate(ctx, st.SessionID, sandbox.AllocationChoice{Action: "partial_switch", Type: "amount", Value: 20})
	if err != nil || st.Screen.Name != "allocation" || st.Screen.Message == "" {
		t.Fatalf("below minimum: %v %+v", err, st.Screen)
	}
	st, err = d.Allocate(ctx, st.SessionID, sandbox.AllocationChoice{Action: "partial_switch", Type: "amount", Value: 50})
	if err != nil || st.Screen.Name != "success" {
		t.Fatalf("at minimum: %v %+v", err, st.Screen)
	}
}

func TestLink_Assets(t *testing.T) {
	e := newEnv(t)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp, b.String()
	}
	resp, js := get("/link.js")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(js, `var BASE = "`+e.base+`";`) || strings.Contains(js, "__PINWHEEL_EMULATOR_BASE__") {
		t.Errorf("link.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, page := get("/link/?token=abc")
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("iframe page: %d csp %q", resp.StatusCode, csp)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "onclick=") {
		t.Errorf("iframe page has inline script")
	}
	for _, f := range []string{"app.js", "style.css"} {
		if resp, _ := get("/link/" + f); resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d", f, resp.StatusCode)
		}
	}
	if resp, _ := get("/link?token=abc"); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "link/?token=abc" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := get("/link/nope.js"); resp.StatusCode != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown asset: %d %s", resp.StatusCode, body)
	}
}
