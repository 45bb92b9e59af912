package handlers_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/worker"
)

// ---- fixtures for the route table test ----

const sampleWaitingID = "0b6f0f6e-0000-4000-8000-00000000a002"

// sampleWaiting is an account that needs its user (user_action_required).
func sampleWaiting(t *testing.T, s *testServer) string {
	t.Helper()
	if p, err := s.store.Preflight(context.Background(), sampleWaitingID); err == nil && p.MonitoringStatus != "" {
		return sampleWaitingID
	}
	s.ingest(t, accountAddedJSON("sample-waiting-added", sampleWaitingID, "sample_end_user_2", true, "user_action_required"))
	return sampleWaitingID
}

// staffActor is the first staff member of the role, as an audit actor.
func staffActor(t *testing.T, s *testServer, role string) db.Actor {
	t.Helper()
	st, err := s.store.StaffByEmail(context.Background(), role+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return db.Actor{StaffID: st.ID, Email: st.Email}
}

// sampleBatch is a reconnect batch of the waiting account.
func sampleBatch(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	if list, _, err := s.store.ListReconnectBatches(ctx, 0, 1); err == nil && len(list) > 0 {
		return strconv.FormatInt(list[0].ID, 10)
	}
	acc := sampleWaiting(t, s)
	b, err := s.store.CreateReconnectBatch(ctx, staffActor(t, s, db.RoleOperator), db.ReconnectRequest{
		AccountIDs: []string{acc}, Jobs: []string{db.DefaultReconnectJob}, Reason: "sample"})
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(b.ID, 10)
}

// sampleAlert is an open alert: a failed audit chain check.
func sampleAlert(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	if list, _, err := s.store.ListAlerts(ctx, db.AlertQuery{}); err == nil && len(list) > 0 {
		return strconv.FormatInt(list[0].ID, 10)
	}
	if err := s.store.RecordAuditChainCheck(ctx, db.AuditChainCheck{OK: false, RowsChecked: 3, BrokenAt: 2, Reason: "sample"}); err != nil {
		t.Fatal(err)
	}
	res, err := s.store.CheckRule(ctx, db.RuleAuditChain)
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("sample alert: %+v %v", res, err)
	}
	return strconv.FormatInt(res.Changes[0].AlertID, 10)
}

// sampleDestination is a webhook destination.
func sampleDestination(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	if list, err := s.store.Destinations(ctx); err == nil && len(list) > 0 {
		return strconv.FormatInt(list[0].ID, 10)
	}
	d, _, err := s.store.CreateDestination(ctx, staffActor(t, s, db.RoleAdmin), db.DestinationForm{Name: "Ops", Kind: db.DestinationWebhook,
		URL: "https://hooks.example.com/services/T0/B0/x", Enabled: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(d.ID, 10)
}

// ---- helpers ----

// runJobs runs the job runner over the server's store with the fetches and
// the account health pools, against the emulator; it stops at cleanup,
// before the store closes.
func (s *testServer) runJobs(t *testing.T, tune func(*worker.Pool)) {
	t.Helper()
	r := worker.NewRunner(s.store, worker.Options{Poll: 10 * time.Millisecond})
	fetches := worker.Fetches(s.admin, s.store)
	fetches.Rate = 0
	pools := []worker.Pool{
		fetches,
		worker.Reconnects(odu.New(odu.Config{Store: s.store, Client: s.admin, APIVersion: s.version}), s.store),
		worker.Reconciles(s.admin, s.store, s.ing),
		worker.Notifications(s.store, worker.NotifyConfig{BaseURL: s.url, InsecureOK: true}),
	}
	for i := range pools {
		pools[i].Rate = 0
		if tune != nil {
			tune(&pools[i])
		}
		r.Add(pools[i])
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// check runs one rule's check now and returns the rule's active alert
// (zero when none).
func (s *testServer) check(t *testing.T, rule string) db.Alert {
	t.Helper()
	if _, err := s.store.CheckRule(context.Background(), rule); err != nil {
		t.Fatal(err)
	}
	return s.activeAlert(t, rule)
}

// activeAlert is the rule's alert that is not resolved (zero when none).
func (s *testServer) activeAlert(t *testing.T, rule string) db.Alert {
	t.Helper()
	list, _, err := s.store.ListAlerts(context.Background(), db.AlertQuery{Rule: rule})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > 1 {
		t.Fatalf("%d active alerts of %s, want at most one", len(list), rule)
	}
	if len(list) == 0 {
		return db.Alert{}
	}
	return list[0]
}

// settings changes the alert settings as the admin.
func (s *testServer) settings(t *testing.T, change func(*db.AlertSettings)) {
	t.Helper()
	ctx := context.Background()
	set, err := s.store.AlertSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	change(&set)
	f := db.AlertSettingsForm{Values: map[string]string{}}
	for _, st := range db.AlertSettingFields {
		f.Values[st.Name] = strconv.Itoa(st.Value(set))
	}
	for _, r := range db.Rules {
		if set.On(r.Name) {
			f.On = append(f.On, r.Name)
		}
	}
	if _, err := s.store.UpdateAlertSettings(ctx, staffActor(t, s, db.RoleAdmin), f); err != nil {
		t.Fatal(err)
	}
}

// statusOf is an account's monitoring status as Linkdesk shows it.
func (s *testServer) statusOf(t *testing.T, account string) string {
	t.Helper()
	p, err := s.store.Preflight(context.Background(), account)
	if err != nil {
		return ""
	}
	return p.MonitoringStatus
}

// waitStatus waits until Linkdesk shows the account in status.
func (s *testServer) waitStatus(t *testing.T, account, status string) {
	t.Helper()
	waitFor(t, account+" "+status, func() bool { return s.statusOf(t, account) == status })
}

// openLaunch opens a launch page as the end user would (minting its token
// on open) and returns the Pinwheel Link token.
func (s *testServer) openLaunch(t *testing.T, launchID string) string {
	t.Helper()
	rec := s.do(t, "GET", "/l/"+launchID, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("launch page: %d %s", rec.Code, rec.Body.String())
	}
	l, err := s.store.LaunchByID(context.Background(), launchID)
	if err != nil || l.Token == "" {
		t.Fatalf("launch %s has no token: %v", launchID, err)
	}
	return l.Token
}

// batchMembers lists a batch's members.
func (s *testServer) batchMembers(t *testing.T, id int64) []db.ReconnectMember {
	t.Helper()
	m, _, err := s.store.ReconnectMembers(context.Background(), id, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// ---- the board and reconnect links ----

// TestMonitoring_ReconnectLinksBringAccountsBack: four accounts, three need
// their user; the operator sends reconnect links to every account listed;
// the links mint nothing until opened; two users open theirs and log in
// again; the board and the batch show them back to active, with the time
// it took, and the export carries the links.
func TestMonitoring_ReconnectLinksBringAccountsBack(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	ctx := context.Background()
	s.runJobs(t, nil)
	var accounts []string
	for i := range 4 {
		accounts = append(accounts, s.connectAccount(t, fmt.Sprintf("eu-board-%d", i), "user_good"))
	}
	for _, acc := range accounts[:3] {
		if _, err := s.admin.SandboxSetMonitoringStatus(ctx, acc, "user_action_required"); err != nil {
			t.Fatal(err)
		}
		s.waitStatus(t, acc, "user_action_required")
	}
	op := s.login(t, "operator@example.com")

	rec := get(t, s, op, "/monitoring?status=user_action_required")
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("board: %d %s", rec.Code, body)
	}
	mustContain(t, "the board", body, `id="status-by-platform"`, "3 of 3 accounts needing action match", `id="transitions"`, `<svg`, "Send to all 3 listed accounts")
	listed := tableRows(t, body, "waiting-accounts", "/accounts/")
	if len(listed) != 3 {
		t.Fatalf("listed %v, want the three waiting accounts", listed)
	}
	before := len(s.linkTokenRequests()) // the first Link sessions'

	// Bad input re-renders the board with inline messages.
	rec = s.do(t, "POST", "/monitoring/reconnect", url.Values{"scope": {"selected"}, "status": {"user_action_required"}, "reason": {""}}, op)
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("empty form: %d", rec.Code)
	}
	mustContain(t, "the refused form", rec.Body.String(), "Choose at least one thing the link asks for.", "Say why, for the audit trail", "Select the accounts to send links to")

	rec = s.do(t, "POST", "/monitoring/reconnect", url.Values{"scope": {"all"}, "status": {"user_action_required"}, "jobs": {"identity"},
		"language": {"en"}, "reason": {"Monitoring needs the users again"}}, op)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/monitoring/reconnect/") {
		t.Fatalf("send: %d %q %s", rec.Code, loc, rec.Body.String())
	}
	id, _ := strconv.ParseInt(strings.TrimPrefix(loc, "/monitoring/reconnect/"), 10, 64)
	waitFor(t, "the batch's links", func() bool {
		b, err := s.store.ReconnectBatchByID(ctx, id)
		return err == nil && b.State == db.BatchDone
	})
	b, _ := s.store.ReconnectBatchByID(ctx, id)
	if b.Total != 3 || b.Created != 3 || b.Skipped != 0 {
		t.Fatalf("batch %+v", b)
	}
	if minted := len(s.linkTokenRequests()) - before; minted != 0 {
		t.Fatalf("the batch minted %d tokens; links mint only when opened", minted)
	}
	if audit, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenCreated}); len(audit) != 3 || audit[0].ActorEmail != "operator@example.com" {
		t.Errorf("links audited: %d rows, want one per link, as the operator", len(audit))
	}

	// The export, for the messaging tool.
	rec = get(t, s, op, loc+"/links.csv")
	csvBody := rec.Body.String()
	if rec.Code != http.StatusOK || strings.Count(csvBody, s.url+"/l/") != 3 || !strings.HasPrefix(csvBody, "account_id,end_user_id,platform,monitoring_status,launch_url") {
		t.Fatalf("export: %d\n%s", rec.Code, csvBody)
	}

	// Two users open their links and log in again.
	members := s.batchMembers(t, id)
	for _, m := range members[:2] {
		token := s.openLaunch(t, m.LaunchID)
		if _, err := s.driver.Complete(ctx, token, sandbox.SessionPlan{Username: "user_good"}); err != nil {
			t.Fatalf("Link session of %s: %v", m.AccountID, err)
		}
		s.waitStatus(t, m.AccountID, "active")
	}
	s.clk.add(time.Minute)

	tr, err := s.store.ReconnectTrackingOf(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Linked != 3 || tr.Returned != 2 || tr.ThroughLink != 2 || tr.Opened != 2 || tr.Median <= 0 {
		t.Fatalf("tracking %+v", tr)
	}
	rec = get(t, s, op, loc)
	mustContain(t, "the batch page", rec.Body.String(), "2</span> of 3 linked accounts back to active (66%)", "2</span> through their link", `data-state="done"`)
	rec = get(t, s, op, "/monitoring?status=user_action_required")
	if rows := tableRows(t, rec.Body.String(), "waiting-accounts", "/accounts/"); len(rows) != 1 || rows[0] != members[2].AccountID {
		t.Fatalf("still waiting: %v, want only %s", rows, members[2].AccountID)
	}
	mustContain(t, "the board", rec.Body.String(), `<td class="num">2</td>`) // the batch's back-to-active count

	// The progress stream ends at once for a finished batch.
	rec = s.do(t, "GET", loc+"/live", nil, op)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "sse-connect") || !strings.Contains(rec.Body.String(), "3 links made") {
		t.Fatalf("progress fragment: %d %s", rec.Code, rec.Body.String())
	}
}

// TestMonitoring_PagesAndFilters: the list pages with rel="next" and keeps
// its filter; an unknown status is an inline error.
func TestMonitoring_PagesAndFilters(t *testing.T) {
	s := newServer(t)
	for i := range 55 {
		s.ingest(t, accountAddedJSON(fmt.Sprintf("wait-%d", i), fmt.Sprintf("acc-wait-%03d", i), "eu-wait", true, []string{"degraded", "user_action_required"}[i%2]))
		s.clk.add(time.Second)
	}
	// Disabled by us: listed only when asked for, so not in the board's total.
	s.ingest(t, accountAddedJSON("wait-disabled", "acc-wait-disabled", "eu-wait", true, "customer_disabled"))
	cookie := s.login(t, "auditor@example.com")
	rec := get(t, s, cookie, "/monitoring")
	body := rec.Body.String()
	rows := tableRows(t, body, "waiting-accounts", "/accounts/")
	next := nextLink(body)
	if len(rows) != 50 || rows[0] != "acc-wait-000" || !strings.Contains(next, "after=") {
		t.Fatalf("first page: %d rows from %v, next %q", len(rows), rows[:1], next)
	}
	if strings.Contains(body, "Send reconnect links") {
		t.Error("an auditor is offered to send links")
	}
	rec = get(t, s, cookie, next)
	if rows := tableRows(t, rec.Body.String(), "waiting-accounts", "/accounts/"); len(rows) != 5 || rows[4] != "acc-wait-054" {
		t.Fatalf("second page: %v", rows)
	}
	rec = get(t, s, cookie, "/monitoring?status=degraded&platform=5965580e-380f-4b86-8a8a-7278c77f73cb")
	if rows := tableRows(t, rec.Body.String(), "waiting-accounts", "/accounts/"); len(rows) != 28 {
		t.Fatalf("degraded on Workday: %d rows", len(rows))
	}
	chips := []string{`id="list-count" role="status">28 of 55 accounts needing action match</p>`, `aria-label="Filter the accounts needing action" data-autosubmit`,
		`Status: <strong>degraded</strong></span> <span class="chip-n">28</span>`, `Platform: <strong>Workday</strong>`,
		`href="/monitoring?platform=5965580e-380f-4b86-8a8a-7278c77f73cb" class="chip-x"`,
		`href="/monitoring?status=degraded" class="chip-x"`, "Clear all filters"}
	mustContain(t, "the filtered board", rec.Body.String(), chips...)
	mustContain(t, "the whole board", get(t, s, cookie, "/monitoring").Body.String(), `id="list-count" role="status">55 accounts needing action; 50 on this page</p>`)
	mustContain(t, "the board filtered by platform", get(t, s, cookie, "/monitoring?platform=5965580e-380f-4b86-8a8a-7278c77f73cb").Body.String(),
		`Platform: <strong>Workday</strong></span> <span class="chip-n">55</span>`)
	// A reconnect form that fails re-renders the board as the GET shows
	// it (chips, count line), with the form's messages.
	rec = s.do(t, "POST", "/monitoring/reconnect", url.Values{"scope": {"selected"}, "status": {"degraded"},
		"platform": {"5965580e-380f-4b86-8a8a-7278c77f73cb"}, "reason": {""}}, s.login(t, "operator@example.com"))
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("refused form: %d", rec.Code)
	}
	mustContain(t, "the refused form", rec.Body.String(), append(chips, "Select the accounts to send links to")...)
	rec = s.do(t, "GET", "/monitoring?status=bogus", nil, cookie)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Choose a status from the list.") {
		t.Fatalf("bad status: %d", rec.Code)
	}
}

// ---- alert rules, each fired by an emulator knob and resolved ----

// healthServer is a server with the emulator on its clock and the job
// runner going; alert checks are run by the tests (s.check) at the clock
// they set.
func healthServer(t *testing.T, tune func(*worker.Pool)) *testServer {
	t.Helper()
	s := newServer(t, withEmulator(emuOptions{sharedClock: true}))
	s.runJobs(t, tune)
	return s
}

func TestAlertRule_SignatureFailures(t *testing.T) {
	s := healthServer(t, nil)
	ctx := context.Background()
	s.settings(t, func(a *db.AlertSettings) { a.SignatureThreshold = 3 })
	// The knob: the emulator signs with a wrong secret, as a sender with a
	// stale secret would; it retries each delivery, each one refused.
	if _, err := s.driver.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleBadSignature, Event: "*"}); err != nil {
		t.Fatal(err)
	}
	s.connectAccount2(t, "eu-sig")
	waitFor(t, "three refused deliveries", func() bool {
		rows, _, _ := s.store.ListRejections(ctx, db.ReasonBadSignature, 0, 10)
		return len(rows) >= 3
	})
	a := s.check(t, db.RuleSignatureFailures)
	if a.ID == 0 || !strings.Contains(a.Subject, "failed the signature or timestamp check in 10 min") || len(a.Evidence.Items) == 0 {
		t.Fatalf("alert %+v", a)
	}
	if again := s.check(t, db.RuleSignatureFailures); again.ID != a.ID {
		t.Fatalf("a second check opened alert %d beside %d", again.ID, a.ID)
	}
	if err := s.driver.DeleteDeliveryRules(ctx, 0); err != nil {
		t.Fatal(err)
	}
	s.emu.SetFaults(sandbox.Faults{}) // nothing else
	s.clk.add(11 * time.Minute)       // past the window (retries have stopped meanwhile or fall outside)
	waitFor(t, "the rule to clear", func() bool {
		s.clk.add(2 * time.Minute)
		return s.check(t, db.RuleSignatureFailures).ID == 0
	})
	if got, _ := s.store.AlertByID(ctx, a.ID); got.State != db.AlertResolved || got.Resolution != db.ResolvedCleared {
		t.Fatalf("after the window: %+v", got)
	}
}

// connectAccount2 is connectAccount without waiting for the webhooks
// (which a knob may drop or spoil): it returns the emulator's account id.
func (s *testServer) connectAccount2(t *testing.T, endUserID string) string {
	t.Helper()
	lt, err := s.admin.CreateLinkToken(context.Background(), pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: endUserID,
		RequiredJobs: []string{"identity", "direct_deposit_allocations"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.driver.Complete(context.Background(), lt.Token, sandbox.SessionPlan{})
	if err != nil || res.AccountID == "" {
		t.Fatalf("connect %s: %+v %v", endUserID, res, err)
	}
	return res.AccountID
}

func TestAlertRule_Silence(t *testing.T) {
	s := healthServer(t, nil)
	ctx := context.Background()
	acc := s.connectAccount(t, "eu-silence", "user_good")
	if a := s.check(t, db.RuleSilence); a.ID != 0 {
		t.Fatal("silence is off by default, yet it fired")
	}
	s.settings(t, func(a *db.AlertSettings) {
		a.Off = nil
		a.SilenceMinutes = 30
	})
	// The knob: the emulator drops every webhook.
	if _, err := s.driver.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleDrop, Event: "*"}); err != nil {
		t.Fatal(err)
	}
	if err := s.driver.SetMonitoringStatus(ctx, acc, "degraded"); err != nil {
		t.Fatal(err)
	}
	// The session's last webhooks may still be on their way: each try
	// moves the clock past the threshold again.
	var a db.Alert
	waitFor(t, "silence", func() bool {
		s.clk.add(31 * time.Minute)
		a = s.check(t, db.RuleSilence)
		return a.ID != 0
	})
	if !strings.HasPrefix(a.Subject, "No webhook from Pinwheel for ") || !strings.HasSuffix(a.Subject, "while 1 accounts are active") {
		t.Fatalf("silence: %+v", a)
	}
	if err := s.driver.DeleteDeliveryRules(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.driver.SetMonitoringStatus(ctx, acc, "active"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the feed back", func() bool { return s.check(t, db.RuleSilence).ID == 0 })
}

// TestAlertRule_MissingLinkWebhooks is also the reconcile story: a launch
// page reports Link's success, the emulator drops the session's job
// webhooks, the alert fires; reconciling its subject fills them in from
// the API (marked reconciled) and the alert resolves.
func TestAlertRule_MissingLinkWebhooks(t *testing.T) {
	s := healthServer(t, nil)
	ctx := context.Background()
	acc := s.connectAccount(t, "eu-missing", "user_good")
	s.check(t, db.RuleMissingLinkWebhooks) // the rule starts following launch events now
	op := s.login(t, "operator@example.com")
	_, launch := s.mintOnOpenLink(t, op, acc, nil)
	if _, err := s.driver.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleDrop, Event: "*.added", AccountID: acc}); err != nil {
		t.Fatal(err)
	}
	token := s.openLaunch(t, launch)
	if _, err := s.driver.Complete(ctx, token, sandbox.SessionPlan{}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{`{"name": "open", "payload": {}}`, `{"name": "success", "payload": {"accountId": "` + acc + `", "job": "login"}}`} {
		if rec := s.postEvent(t, launch, ev); rec.Code != http.StatusNoContent {
			t.Fatalf("launch event: %d %s", rec.Code, rec.Body.String())
		}
	}
	if a := s.check(t, db.RuleMissingLinkWebhooks); a.ID != 0 {
		t.Fatalf("fired before its time: %+v", a)
	}
	s.clk.add(16 * time.Minute)
	a := s.check(t, db.RuleMissingLinkWebhooks)
	if a.ID == 0 || !strings.Contains(a.Subject, "1 Link success reported by launch pages had no job webhook after 15 min") ||
		len(a.Evidence.Items) != 1 || a.Evidence.Items[0].ID != acc {
		t.Fatalf("missing webhooks: %+v", a)
	}
	events, _, _ := s.store.ListEventLog(ctx, db.EventQuery{AccountID: acc, Limit: 500})

	// Reconcile the alert's subjects.
	if err := s.driver.DeleteDeliveryRules(ctx, 0); err != nil {
		t.Fatal(err)
	}
	rec := s.do(t, "POST", "/alerts/"+itoa(a.ID)+"/reconcile", url.Values{}, op)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("reconcile: %d", rec.Code)
	}
	var run db.ReconcileRun
	waitFor(t, "the reconcile", func() bool {
		runs, _ := s.store.AlertReconcileRuns(ctx, a.ID)
		if len(runs) == 1 {
			run = runs[0]
		}
		return run.Finished()
	})
	if run.State != db.ReconcileDone || len(run.Result.Filled) == 0 {
		t.Fatalf("run %+v", run)
	}
	after, _, _ := s.store.ListEventLog(ctx, db.EventQuery{AccountID: acc, Limit: 500})
	var reconciled []string
	for _, e := range after {
		if e.Origin == db.OriginReconciled {
			reconciled = append(reconciled, e.Event)
		}
	}
	if len(reconciled) == 0 || len(after) < len(events)+len(reconciled) || !slices.Contains(reconciled, "identity.added") {
		t.Fatalf("reconciled events %v (events %d → %d)", reconciled, len(events), len(after))
	}
	if a := s.check(t, db.RuleMissingLinkWebhooks); a.ID != 0 {
		t.Fatalf("still open after the reconcile: %+v", a)
	}
	// The timeline shows them as reconciled, not received; the audit
	// trail has the request and the result.
	page := get(t, s, op, "/accounts/"+acc).Body.String()
	mustContain(t, "the account page", page, "reconciled from Pinwheel's API", "filled in ")
	audit, _, _ := s.store.ListAudit(ctx, db.AuditFilter{TargetType: "account", TargetID: acc})
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	if !slices.Contains(actions, db.ActionReconcileRequested) || !slices.Contains(actions, db.ActionAccountReconciled) {
		t.Errorf("audit of the account: %v", actions)
	}
	// Once the fetches are done (the pay data read whole, by the
	// reconcile or by a milestone webhook that was not dropped), a second
	// reconcile finds nothing missing and writes nothing.
	waitFor(t, "the fetches", func() bool {
		fs, _ := s.store.AccountFetches(ctx, acc)
		for _, f := range fs {
			if f.State == db.JobQueued || f.State == db.JobRunning {
				return false
			}
		}
		return len(fs) > 0
	})
	if ps, err := s.store.PaySyncState(ctx, acc, db.FetchPaystubs); err != nil || ps.FullFetchedAt.IsZero() {
		t.Errorf("paystubs after the reconcile: %+v %v", ps, err)
	}
	if _, err := s.store.RequestReconcile(ctx, staffActor(t, s, db.RoleOperator), acc, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second reconcile", func() bool {
		runs, _ := s.store.AccountReconcileRuns(ctx, acc)
		return len(runs) > 0 && runs[0].Finished() && runs[0].ID != run.ID
	})
	runs, _ := s.store.AccountReconcileRuns(ctx, acc)
	if !runs[0].Result.Nothing() {
		t.Errorf("second reconcile filled %+v", runs[0].Result)
	}
}

func TestAlertRule_MissingJobWebhooks(t *testing.T) {
	s := healthServer(t, nil)
	ctx := context.Background()
	s.check(t, db.RuleMissingJobWebhooks)
	if _, err := s.driver.AddDeliveryRule(ctx, sandbox.DeliveryRule{Action: sandbox.RuleDrop, Event: sandbox.JobEvents}); err != nil {
		t.Fatal(err)
	}
	acc := s.connectAccount(t, "eu-nojobs", "user_good") // account.added arrives; its jobs' webhooks do not
	s.clk.add(time.Hour)
	if a := s.check(t, db.RuleMissingJobWebhooks); a.ID != 0 {
		t.Fatalf("fired before its time: %+v", a)
	}
	s.clk.add(61 * time.Minute)
	a := s.check(t, db.RuleMissingJobWebhooks)
	if a.ID == 0 || !strings.Contains(a.Subject, "1 account was added with no job webhook after 2 h") || a.Evidence.Items[0].ID != acc {
		t.Fatalf("alert %+v", a)
	}
	if err := s.driver.DeleteDeliveryRules(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.RequestReconcile(ctx, staffActor(t, s, db.RoleOperator), acc, a.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reconcile to fill the jobs", func() bool { return s.check(t, db.RuleMissingJobWebhooks).ID == 0 })
}

func TestAlertRule_FetchFailingAndStuck(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{sharedClock: true}))
	s.settings(t, func(a *db.AlertSettings) { a.FetchFailThreshold = 2 })

	// Stuck: no worker runs the fetches the webhooks queue.
	s.connectAccount(t, "eu-stuck", "user_good")
	waitFor(t, "the identity fetch queued", func() bool {
		stats, _ := s.store.JobStats(context.Background())
		for _, k := range stats {
			if k.Kind == db.FetchJobKind(db.FetchIdentity) && k.Depth() > 0 {
				return true
			}
		}
		return false
	})
	if a := s.check(t, db.RuleFetchStuck); a.ID != 0 {
		t.Fatal("stuck at once")
	}
	s.clk.add(16 * time.Minute)
	stuck := s.check(t, db.RuleFetchStuck)
	if stuck.ID == 0 || !strings.Contains(stuck.Subject, "waiting over 15 min to run") {
		t.Fatalf("stuck: %+v", stuck)
	}

	// Failing: the knob makes Pinwheel answer 500, and fetches give up at
	// their first failure here.
	s.emu.SetFaults(sandbox.Faults{ErrorRate: 1, Paths: []string{"/v1/accounts/"}})
	s.runJobs(t, func(p *worker.Pool) {
		if slices.Contains(p.Kinds, db.FetchJobKinds[0]) {
			p.MaxAttempts = 1
		}
	})
	waitFor(t, "the stuck fetches to run", func() bool { return s.check(t, db.RuleFetchStuck).ID == 0 })
	var failing db.Alert
	waitFor(t, "two of them to fail", func() bool { failing = s.check(t, db.RuleFetchFailing); return failing.ID != 0 })
	if !strings.Contains(failing.Subject, "gave up in 1 h") {
		t.Fatalf("failing: %+v", failing)
	}
	s.emu.SetFaults(sandbox.Faults{})
	s.clk.add(61 * time.Minute)
	if a := s.check(t, db.RuleFetchFailing); a.ID != 0 {
		t.Fatalf("still failing after the window: %+v", a)
	}
}

func TestAlertRule_PlatformDegraded(t *testing.T) {
	s := healthServer(t, nil)
	ctx := context.Background()
	s.settings(t, func(a *db.AlertSettings) { a.PlatformMinAccounts, a.PlatformSharePercent = 3, 50 })
	var accs []string
	for i := range 4 {
		accs = append(accs, s.connectAccount(t, fmt.Sprintf("eu-plat-%d", i), "user_good"))
	}
	p, _ := s.store.Preflight(ctx, accs[0])
	if a := s.check(t, db.RulePlatformDegraded); a.ID != 0 {
		t.Fatal("fired while every account is active")
	}
	n, err := s.driver.SetPlatformStatus(ctx, p.PlatformID, "degraded")
	if err != nil || n != 4 {
		t.Fatalf("platform knob: %d %v", n, err)
	}
	for _, acc := range accs {
		s.waitStatus(t, acc, "degraded")
	}
	a := s.check(t, db.RulePlatformDegraded)
	if a.ID == 0 || a.Scope != p.PlatformID || !strings.Contains(a.Subject, "Workday: 4 of 4 accounts (100%) left active in the last 24 hours") {
		t.Fatalf("alert %+v", a)
	}
	if _, err := s.driver.SetPlatformStatus(ctx, p.PlatformID, "active"); err != nil {
		t.Fatal(err)
	}
	for _, acc := range accs {
		s.waitStatus(t, acc, "active")
	}
	if a := s.check(t, db.RulePlatformDegraded); a.ID != 0 {
		t.Fatalf("still open: %+v", a)
	}
}

func TestAlertRule_BulkStuck(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	sampleBatch(t, s) // queued; no worker runs it
	if a := s.check(t, db.RuleBulkStuck); a.ID != 0 {
		t.Fatal("stuck at once")
	}
	s.clk.add(11 * time.Minute)
	a := s.check(t, db.RuleBulkStuck)
	if a.ID == 0 || !strings.Contains(a.Subject, "stuck for over 10 min") {
		t.Fatalf("alert %+v", a)
	}
	r := worker.NewRunner(s.store, worker.Options{Poll: 10 * time.Millisecond})
	r.Add(worker.Reconnects(odu.New(odu.Config{Store: s.store}), s.store))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the batch", func() bool { return s.check(t, db.RuleBulkStuck).ID == 0 })
}

// TestAlerts_AcknowledgeSnoozeResolve: the header counts open alerts on
// every page; acknowledging and snoozing take an alert out of the count
// (audited); a snooze ends; resolving by hand while the condition holds
// lets the next check open a new alert; the condition clearing resolves.
func TestAlerts_AcknowledgeSnoozeResolve(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	op := s.login(t, "operator@example.com")
	id := sampleAlert(t, s)
	for _, page := range []string{"/", "/accounts", "/monitoring", "/alerts"} {
		mustContain(t, page, get(t, s, op, page).Body.String(), `<span class="count" id="open-alerts">1</span>`)
	}
	rec := get(t, s, op, "/alerts/"+id)
	mustContain(t, "the alert", rec.Body.String(), "The audit trail&#39;s hash chain is broken at row 2", `href="/audit"`, "Acknowledge")
	mustContain(t, "/metrics", s.do(t, "GET", "/metrics", nil).Body.String(), `linkdesk_alerts{rule="audit_chain",state="open"} 1`,
		`linkdesk_alerts{rule="silence",state="open"} 0`)

	if rec := s.do(t, "POST", "/alerts/"+id+"/acknowledge", url.Values{}, op); rec.Code != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d", rec.Code)
	}
	page := get(t, s, op, "/alerts/"+id).Body.String()
	mustContain(t, "the acknowledged alert", page, "acknowledged by Operator")
	// The list's filters are chips like every list's, the state's with its count.
	mustContain(t, "/alerts?state=acknowledged", get(t, s, op, "/alerts?state=acknowledged&rule=audit_chain").Body.String(),
		`aria-label="Filter alerts" data-autosubmit`, `State: <strong>acknowledged</strong></span> <span class="chip-n">1</span>`,
		`href="/alerts?rule=audit_chain" class="chip-x"`, "Clear all filters")
	if strings.Contains(page, `id="open-alerts"`) {
		t.Error("an acknowledged alert is still counted open")
	}
	if rec := s.do(t, "POST", "/alerts/"+id+"/snooze", url.Values{"for": {"2h"}}, op); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), "Choose how long from the list.") {
		t.Fatalf("bad snooze: %d", rec.Code)
	}
	if rec := s.do(t, "POST", "/alerts/"+id+"/snooze", url.Values{"for": {"1h0m0s"}}, op); rec.Code != http.StatusSeeOther {
		t.Fatalf("snooze: %d", rec.Code)
	}
	a := s.check(t, db.RuleAuditChain)
	if a.State != db.AlertSnoozed || itoa(a.ID) != id {
		t.Fatalf("while snoozed: %+v", a)
	}
	s.clk.add(61 * time.Minute)
	if a = s.check(t, db.RuleAuditChain); a.State != db.AlertAcknowledged {
		t.Fatalf("after the snooze: %+v (want acknowledged again)", a)
	}
	if rec := s.do(t, "POST", "/alerts/"+id+"/resolve", url.Values{"note": {"checked the backup"}}, op); rec.Code != http.StatusSeeOther {
		t.Fatalf("resolve: %d", rec.Code)
	}
	if again := s.check(t, db.RuleAuditChain); again.ID == 0 || itoa(again.ID) == id || again.State != db.AlertOpen {
		t.Fatalf("the condition still holds: want a new open alert, got %+v", again)
	}
	if rec := s.do(t, "POST", "/alerts/"+id+"/acknowledge", url.Values{}, op); rec.Code != http.StatusSeeOther {
		t.Fatalf("acknowledging a resolved alert: %d", rec.Code)
	}
	if err := s.store.RecordAuditChainCheck(ctx, db.AuditChainCheck{OK: true, RowsChecked: 10}); err != nil {
		t.Fatal(err)
	}
	if a := s.check(t, db.RuleAuditChain); a.ID != 0 {
		t.Fatalf("a passing check leaves %+v", a)
	}
	audit, _, _ := s.store.ListAudit(ctx, db.AuditFilter{TargetType: "alert", TargetID: id})
	if len(audit) != 3 {
		t.Errorf("audit of alert %s: %d rows, want acknowledged, snoozed, resolved", id, len(audit))
	}
	list := get(t, s, op, "/alerts?state=resolved").Body.String()
	if rows := tableRows(t, list, "alerts", "/alerts/"); len(rows) != 2 {
		t.Errorf("resolved alerts: %v", rows)
	}
}

// ---- notification destinations and reconciles from the pages ----

// TestDestinations_FormAndTest: the admin adds a webhook destination
// (bad input re-renders with inline messages), sees its signing secret
// once, sends a test that a local receiver gets, signed, and the
// destination's log shows it sent.
func TestDestinations_FormAndTest(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	s.runJobs(t, nil)
	adm := s.login(t, "admin@example.com")
	var got []http.Header
	var mu sync.Mutex
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
	}))
	defer rcv.Close()

	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"name": {"Ops"}, "kind": {"webhook"}, "url": {"http://hooks.example.com/x"}}, "The URL must start with https://"},
		{url.Values{"name": {""}, "kind": {"webhook"}, "url": {"https://hooks.example.com/x"}}, "Give it a name"},
		{url.Values{"name": {"Mail"}, "kind": {"email"}, "smtp_host": {"smtp.example.com"}, "from": {"nobody"}, "to": {"ops@example.com"}}, "Enter one email address"},
		{url.Values{"name": {"Mail"}, "kind": {"email"}, "smtp_host": {"smtp.example.com"}, "from": {"a@example.com"}, "to": {"ops@, x"}}, "Enter email addresses separated by commas"},
	} {
		rec := s.do(t, "POST", "/alerts/destinations", tc.form, adm)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%v: %d, want 422 with %q", tc.form, rec.Code, tc.want)
		}
	}
	rec := s.do(t, "POST", "/alerts/destinations", url.Values{"name": {"Local receiver"}, "kind": {"webhook"}, "url": {rcv.URL + "/hook"}, "enabled": {"1"}}, adm)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/alerts/destinations/") {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	page := s.do(t, "GET", loc, nil, updatedCookie(rec, adm)).Body.String()
	m := regexp.MustCompile(`signing secret, shown this once: (whsec_[0-9a-f]+)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret shown:\n%s", page)
	}
	if again := get(t, s, adm, loc).Body.String(); strings.Contains(again, m[1]) {
		t.Error("the secret is shown a second time")
	}
	rec = s.do(t, "POST", loc+"/test", url.Values{}, adm)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("test: %d", rec.Code)
	}
	waitFor(t, "the test delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	mu.Lock()
	h := got[0]
	mu.Unlock()
	if h.Get(worker.HeaderEvent) != "test" || !strings.HasPrefix(h.Get(worker.HeaderSignature), "v1=") {
		t.Errorf("headers %v", h)
	}
	waitFor(t, "the log to say sent", func() bool {
		return strings.Contains(s.do(t, "GET", loc+"/live", nil, adm).Body.String(), `data-state="sent"`)
	})
	live := s.do(t, "GET", loc+"/live", nil, adm).Body.String()
	if strings.Contains(live, "sse-connect") {
		t.Error("the log keeps listening with nothing in flight")
	}
	// Alert settings: a bad threshold is refused inline.
	rec = s.do(t, "POST", "/alerts/settings", url.Values{"on": {"silence"}, "silence_minutes": {"1"}}, adm)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Enter 5 to 10080 minutes.") {
		t.Fatalf("bad settings: %d", rec.Code)
	}
}

// TestReconcile_RefusedChangesNothing: an account Pinwheel does not know
// (written by a webhook the emulator never sent) cannot be reconciled:
// the run says why, nothing is written, the refusal is audited.
func TestReconcile_RefusedChangesNothing(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	s.runJobs(t, nil)
	ctx := context.Background()
	const acc = "0b6f0f6e-0000-4000-8000-00000000beef"
	s.ingest(t, accountAddedJSON("unknown-added", acc, "eu-unknown", true, "active"))
	before, _, _ := s.store.ListEventLog(ctx, db.EventQuery{AccountID: acc})
	op := s.login(t, "operator@example.com")
	rec := s.do(t, "POST", "/accounts/"+acc+"/reconcile", url.Values{}, op)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("reconcile: %d", rec.Code)
	}
	if rec := s.do(t, "POST", "/accounts/"+acc+"/reconcile", url.Values{}, op); rec.Code != http.StatusSeeOther {
		t.Fatalf("a second click: %d", rec.Code)
	}
	var run db.ReconcileRun
	waitFor(t, "the refusal", func() bool {
		runs, _ := s.store.AccountReconcileRuns(ctx, acc)
		run = runs[len(runs)-1]
		return run.Finished()
	})
	if run.State != db.ReconcileRefused || !strings.Contains(run.Error, "Pinwheel does not know this account") || !strings.Contains(run.Error, "Nothing was changed.") {
		t.Fatalf("run %+v", run)
	}
	after, _, _ := s.store.ListEventLog(ctx, db.EventQuery{AccountID: acc})
	if len(after) != len(before) {
		t.Errorf("events %d → %d", len(before), len(after))
	}
	page := get(t, s, op, "/accounts/"+acc).Body.String()
	mustContain(t, "the account page", page, "Pinwheel does not know this account", `id="reconcile-account"`)
	audit, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionAccountReconcileRefuse})
	if len(audit) == 0 {
		t.Error("the refusal is not audited")
	}
	// An account Linkdesk never heard of is not found.
	if rec := s.do(t, "POST", "/accounts/no-such-account/reconcile", url.Values{}, op); rec.Code != http.StatusNotFound {
		t.Errorf("unknown account: %d", rec.Code)
	}
}

// TestWatch_StreamEndsWithDone: the progress stream of a finished batch
// sends the fragment as a server-sent event, then "done" (the page closes
// the connection on it, so the browser does not reconnect).
func TestWatch_StreamEndsWithDone(t *testing.T) {
	s := newServer(t)
	op := s.login(t, "operator@example.com")
	id := sampleBatch(t, s)
	get := func(ctx context.Context) string {
		req := httptest.NewRequest("GET", "/monitoring/reconnect/"+id+"/live", nil).WithContext(ctx)
		req.Header.Set("Accept", "text/event-stream")
		req.AddCookie(op)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	r := worker.NewRunner(s.store, worker.Options{Poll: 5 * time.Millisecond})
	r.Add(worker.Reconnects(odu.New(odu.Config{Store: s.store}), s.store))
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()
	n, _ := strconv.ParseInt(id, 10, 64)
	waitFor(t, "the batch", func() bool { b, _ := s.store.ReconnectBatchByID(context.Background(), n); return b.Finished() })
	body := get(context.Background())
	if !strings.Contains(body, "event: progress\n") || !strings.Contains(body, `data-state="done"`) || !strings.HasSuffix(body, "event: done\nid: done\ndata: \n\n") {
		t.Errorf("the finished batch's stream:\n%s", body)
	}
}

// TestWatch_StreamEndsForADeactivatedViewer: the progress stream of a batch
// that has not finished re-checks its viewer like the timelines' streams,
// and ends once they are deactivated.
func TestWatch_StreamEndsForADeactivatedViewer(t *testing.T) {
	s := newServer(t)
	id := sampleBatch(t, s) // no runner: the batch stays pending
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	defer srv.CloseClientConnections()
	ctx := context.Background()
	cookie := s.login(t, "operator@example.com")
	op, err := s.store.StaffByEmail(ctx, "operator@example.com")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/monitoring/reconnect/"+id+"/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	r := bufio.NewReader(res.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("before the first fragment: %v", err)
		}
		if line == "event: progress\n" {
			break
		}
	}
	off := false
	if _, err := s.store.UpdateStaff(ctx, db.Actor{Email: "system"}, op.ID, db.StaffUpdate{Active: &off}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the stream ended oddly: %v", err)
		}
	case <-time.After(time.Minute): // a guard, not a speed limit
		t.Fatal("the stream of a deactivated person went on")
	}
}

// TestWatch_StreamOutlivesTheWriteTimeout: a progress stream idle for
// longer than the write timeout still delivers the batch's progress and its
// end: each write moves the deadline on (a reader that stops reading is
// still cut, as TestExports_WriteDeadlineCutsStalledReader checks).
func TestWatch_StreamOutlivesTheWriteTimeout(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	s := newServer(t, withWriteTimeout(writeTimeout))
	id := sampleBatch(t, s) // no runner yet: the batch stays pending
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	defer srv.CloseClientConnections()
	req, _ := http.NewRequest("GET", srv.URL+"/monitoring/reconnect/"+id+"/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(s.login(t, "operator@example.com"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("before the first fragment: %v", err)
		}
		if line == "event: progress\n" {
			break
		}
	}
	// Idle for longer than the write timeout, then the batch runs.
	time.Sleep(3 * writeTimeout)
	run := worker.NewRunner(s.store, worker.Options{Poll: 5 * time.Millisecond})
	run.Add(worker.Reconnects(odu.New(odu.Config{Store: s.store}), s.store))
	rctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { run.Run(rctx); close(stopped) }()
	defer func() { stop(); <-stopped }()
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		rest <- string(b)
	}()
	select {
	case body := <-rest:
		if !strings.Contains(body, `data-state="done"`) || !strings.HasSuffix(body, "event: done\nid: done\ndata: \n\n") {
			t.Errorf("after an idle spell the stream lost its end:\n%s", body)
		}
	case <-time.After(time.Minute): // a guard, not a speed limit
		t.Fatal("the stream never ended")
	}
}
