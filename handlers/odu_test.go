package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/views"
)

// ---- fixtures for the route table test ----

const sampleAccountID = "0b6f0f6e-0000-4000-8000-00000000a001"

func accountAddedJSON(eventID, accountID, endUserID string, connected bool, status string) string {
	return fmt.Sprintf(`{"event_id": %q, "event": "account.added", "payload": {"created_at": %q, "link_token_id": "00000000-0000-4000-8000-00000000f001", "platform_id": "5965580e-380f-4b86-8a8a-7278c77f73cb", "connected": %t, "monitoring_status": %q, "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}}`,
		eventID, time.Now().UTC().Format(time.RFC3339), connected, status, endUserID, accountID)
}

// sampleAccount is a connected account (with cached platform
// capabilities, so the form needs no Pinwheel call).
func sampleAccount(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.store.Preflight(ctx, sampleAccountID); err == nil {
		return sampleAccountID
	}
	s.ingest(t, accountAddedJSON("sample-added", sampleAccountID, "sample_end_user", true, "active"))
	if _, err := s.store.CachePlatform(ctx, db.PlatformCaps{ID: "5965580e-380f-4b86-8a8a-7278c77f73cb", Name: "Workday", SupportedJobs: db.ODUJobs}); err != nil {
		t.Fatal(err)
	}
	return sampleAccountID
}

// sampleToken is a mint-on-open link on the sample account.
func sampleToken(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	sampleAccount(t, s)
	list, _, err := s.store.ListLinks(ctx, db.LinkFilter{AccountID: sampleAccountID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) > 0 {
		return list[0].TokenID
	}
	staffList, _ := s.store.ListStaff(ctx)
	n := db.NewLink{Mode: db.ModeMintOnOpen, AccountID: sampleAccountID, EndUserID: "sample_end_user", PlatformID: "p",
		Jobs: []string{"identity"}, Language: "en", Reason: "sample", APIVersion: pinwheel.DefaultVersion, LinkExpiresAt: time.Now().Add(time.Hour)}
	n.TokenID, n.LaunchID = db.NewLinkIDs()
	n.Tags = map[string]string{"linkdesk_token_id": n.TokenID}
	if _, err := s.store.CreateLink(ctx, db.Actor{StaffID: staffList[0].ID, Email: staffList[0].Email}, n, nil); err != nil {
		t.Fatal(err)
	}
	return n.TokenID
}

// ---- helpers of the servers withEmulator ----

// connectAccount runs a first Link session (not an On Demand Update) for
// endUserID through the emulator and waits until account.added is stored.
func (s *testServer) connectAccount(t *testing.T, endUserID, username string) string {
	t.Helper()
	ctx := context.Background()
	req := pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: endUserID}
	if s.version == pinwheel.Version20250708 {
		req.Features, req.Solution = []string{"identity", "direct_deposit_allocations"}, pinwheel.SolutionVerify
	} else {
		req.RequiredJobs = []string{"identity", "direct_deposit_allocations"}
	}
	lt, err := s.admin.CreateLinkToken(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.driver.Complete(ctx, lt.Token, sandbox.SessionPlan{Username: username})
	if err != nil || res.AccountID == "" {
		t.Fatalf("connect %s: %+v %v", endUserID, res, err)
	}
	waitFor(t, "account.added of "+res.AccountID, func() bool {
		p, err := s.store.Preflight(ctx, res.AccountID)
		return err == nil && p.ConnectedKnown
	})
	return res.AccountID
}

// addDeposit creates a deposit account as the admin.
func (s *testServer) addDeposit(t *testing.T, name, number string) db.DepositAccount {
	t.Helper()
	d, err := s.store.CreateDepositAccount(context.Background(), db.Actor{StaffID: 1, Email: "admin@example.com"},
		db.DepositAccountCreate{Name: name, Type: "checking", RoutingNumber: "021000021", AccountNumber: number})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// linkTokenRequests returns the bodies of POST /v1/link_tokens the emulator received.
func (s *testServer) linkTokenRequests() []sandbox.RecordedRequest {
	var out []sandbox.RecordedRequest
	for _, r := range s.emu.Requests() {
		if r.Method == http.MethodPost && r.Path == "/v1/link_tokens" {
			out = append(out, r)
		}
	}
	return out
}

var tokenPathRE = regexp.MustCompile(`^/tokens/([0-9a-f]{16})$`)

// mintForm posts the mint form and returns the response.
func (s *testServer) mintForm(t *testing.T, cookie *http.Cookie, accountID string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	return s.do(t, "POST", "/accounts/"+accountID+"/update", form, cookie)
}

// mintOK posts the form and returns the new token's id.
func (s *testServer) mintOK(t *testing.T, cookie *http.Cookie, accountID string, form url.Values) string {
	t.Helper()
	rec := s.mintForm(t, cookie, accountID, form)
	m := tokenPathRE.FindStringSubmatch(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || m == nil {
		t.Fatalf("mint: got %d %q; body %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
	}
	return m[1]
}

func switchForm(depositID int64) url.Values {
	return url.Values{"jobs": {"direct_deposit_switch"}, "targets": {itoa(depositID)}, "allocation_mode": {"amount"},
		"amount": {"150"}, "language": {"en"}, "skip_intro": {"1"}, "reason": {"customer asked to raise their deposit, ticket 4521"}, "mode": {"mint"}}
}

// ---- tests ----

func TestODU_MintEachJobBothVersions(t *testing.T) {
	for _, version := range []string{pinwheel.Version20231122, pinwheel.Version20250708} {
		t.Run(version, func(t *testing.T) {
			s := newServer(t, withEmulator(emuOptions{version: version}))
			account := s.connectAccount(t, "eu-mint", "user_good")
			dep := s.addDeposit(t, "Payroll Checking", "123456789")
			cookie := s.login(t, "operator@example.com")

			for _, job := range db.ODUJobs {
				t.Run(job, func(t *testing.T) {
					form := url.Values{"jobs": {job}, "language": {"es"}, "reason": {"refresh " + job}, "mode": {"mint"}}
					if job == pinwheel.JobDDSwitch {
						form = switchForm(dep.ID)
						form.Set("min_amount", "100")
					}
					tokenID := s.mintOK(t, cookie, account, form)

					reqs := s.linkTokenRequests()
					last := reqs[len(reqs)-1]
					if got := last.Header.Get(pinwheel.HeaderVersion); got != version {
						t.Errorf("Pinwheel-Version %q, want %q", got, version)
					}
					var got map[string]any
					if err := json.Unmarshal(last.Body, &got); err != nil {
						t.Fatal(err)
					}
					want := map[string]any{
						"org_name": "Acme Payroll Co", "account_id": account, "end_user_id": "eu-mint",
						"language": "es", "skip_intro_screen": false, "tags": map[string]any{"linkdesk_token_id": tokenID},
					}
					jobs := []any{job}
					if version == pinwheel.Version20250708 {
						want["features"], want["solution"] = jobs, "Verify"
					} else {
						want["required_jobs"] = jobs
					}
					if job == pinwheel.JobDDSwitch {
						want["language"], want["skip_intro_screen"] = "en", true
						if version == pinwheel.Version20250708 {
							want["solution"] = "Deposit Switch"
						}
						want["allocation"] = map[string]any{"type": "amount", "value": 150.0, "min_amount": 100.0, "targets": []any{
							map[string]any{"name": "Payroll Checking", "type": "checking", "routing_number": "021000021", "account_number": "123456789"}}}
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("request body\n got %s\nwant %v", last.Body, want)
					}

					d, err := s.store.LinkByID(context.Background(), tokenID)
					if err != nil {
						t.Fatal(err)
					}
					if d.LinkTokenID == "" || d.Mode != db.ModeMinted || d.Lifecycle.State != db.StageMinted || d.APIVersion != version {
						t.Errorf("stored %+v", d.Link)
					}
					rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLinkTokenMinted, TargetID: tokenID})
					if len(rows) != 1 || strings.Contains(rows[0].Detail, "123456789") {
						t.Errorf("audit rows %+v", rows)
					}

					// The token page shows the launch link and its QR code to an operator.
					rec := s.do(t, "GET", "/tokens/"+tokenID, nil, cookie)
					if rec.Code != 200 || !strings.Contains(rec.Body.String(), s.url+"/l/"+d.LaunchID) || !strings.Contains(rec.Body.String(), `<svg`) {
						t.Errorf("token page: %d", rec.Code)
					}
				})
			}
		})
	}
}

func TestODU_FormAndValidation(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-valid", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	op := s.login(t, "operator@example.com")
	// The identity job's webhook follows account.added: wait for it.
	waitFor(t, "the identity outcome of "+account, func() bool {
		p, err := s.store.Preflight(context.Background(), account)
		return err == nil && slices.ContainsFunc(p.Jobs, func(j db.PreflightJob) bool { return j.Job == pinwheel.JobIdentity })
	})

	rec := s.do(t, "GET", "/accounts/"+account+"/update", nil, op)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "Pre-flight") || !strings.Contains(body, "connected") || !strings.Contains(body, "Payroll Checking ••6789") {
		t.Fatalf("form: %d %s", rec.Code, body)
	}
	if !strings.Contains(body, "identity") || !strings.Contains(body, "success") {
		t.Error("pre-flight does not show the last job outcomes")
	}
	if strings.Contains(body, "Capabilities unknown") || !strings.Contains(body, "supported") {
		t.Error("pre-flight does not show the platform's capabilities")
	}
	if rec := s.do(t, "GET", "/accounts/nope/update", nil, op); rec.Code != http.StatusNotFound {
		t.Errorf("unknown account: %d", rec.Code)
	}

	before := len(s.linkTokenRequests())
	for _, tc := range []struct {
		name, field, value, want string
	}{
		{"reason required", "reason", "", "Say why"},
		{"amount above zero", "amount", "0", "above zero"},
		{"amount format", "amount", "12.345", "in dollars"},
		{"minimum above amount", "min_amount", "200", "cannot be above the amount"},
		{"no jobs", "jobs", "", "Choose at least one"},
		{"no target", "targets", "", "Choose the account"},
		{"archived or unknown target", "targets", "999", "active deposit accounts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := switchForm(dep.ID)
			if tc.value == "" {
				form.Del(tc.field)
			} else {
				form.Set(tc.field, tc.value)
			}
			rec := s.mintForm(t, op, account, form)
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), tc.want) || !strings.Contains(rec.Body.String(), `aria-invalid="true"`) {
				t.Errorf("got %d, want 422 with %q", rec.Code, tc.want)
			}
			if tc.field != "reason" && !strings.Contains(rec.Body.String(), "customer asked to raise their deposit") {
				t.Error("the reason typed was not kept")
			}
		})
	}
	if after := len(s.linkTokenRequests()); after != before {
		t.Errorf("invalid forms reached Pinwheel: %d requests", after-before)
	}
	if list, _, _ := s.store.ListLinks(context.Background(), db.LinkFilter{}); len(list) != 0 {
		t.Errorf("invalid forms left %d tokens", len(list))
	}
	if rec := s.mintForm(t, s.login(t, "auditor@example.com"), account, switchForm(dep.ID)); rec.Code != http.StatusForbidden {
		t.Errorf("auditor mint: %d, want 403", rec.Code)
	}
}

func TestODU_UpstreamFailures(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-fail", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	// 5 digits pass our check (Pinwheel 2025 takes 5) but 2023-11-22 wants 6.
	short := s.addDeposit(t, "Short Number", "12345")
	op := s.login(t, "operator@example.com")

	for _, tc := range []struct {
		name   string
		faults sandbox.Faults
		form   url.Values
		want   []string
	}{
		// The field mapping, not the code: the emulator's code for a bad
		// account number is its own (EMULATOR_…), Pinwheel's is unpublished.
		{"400 maps fields", sandbox.Faults{}, switchForm(short.ID), []string{"Pinwheel refused the account number", "fix the highlighted fields"}},
		{"429", sandbox.Faults{RateLimitRate: 1, Paths: []string{"/v1/link_tokens"}}, switchForm(dep.ID), []string{"Pinwheel is busy or unreachable right now. Nothing was created; try again in a minute."}},
		{"500", sandbox.Faults{ErrorRate: 1, Paths: []string{"/v1/link_tokens"}}, switchForm(dep.ID), []string{"Pinwheel is busy or unreachable right now."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.emu.SetFaults(tc.faults)
			defer s.emu.SetFaults(sandbox.Faults{})
			before := len(s.linkTokenRequests())
			rec := s.mintForm(t, op, account, tc.form)
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("got %d, want 422: %s", rec.Code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if !strings.Contains(body, "customer asked to raise their deposit") {
				t.Error("input not kept")
			}
			if len(s.linkTokenRequests()) == before {
				t.Error("the request never reached the emulator")
			}
			if list, _, _ := s.store.ListLinks(context.Background(), db.LinkFilter{}); len(list) != 0 {
				t.Errorf("a failed mint left %d tokens", len(list))
			}
		})
	}
	t.Run("400 highlights the deposit account", func(t *testing.T) {
		rec := s.mintForm(t, op, account, switchForm(short.ID))
		if !regexp.MustCompile(`name="targets" value="\d+"[^>]*aria-invalid="true"`).MatchString(rec.Body.String()) {
			t.Error("the deposit account field is not marked invalid")
		}
	})
	rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLinkTokenMintFailed})
	if len(rows) < 3 {
		t.Errorf("%d mint_failed audit rows, want one per failure", len(rows))
	}

	t.Run("timeout", func(t *testing.T) {
		// The emulator holds link_tokens until the request ends, so the
		// client's short timeout always fires, however slow the machine.
		s3 := newServer(t, withEmulator(emuOptions{clientTimeout: 500 * time.Millisecond}))
		account := s3.connectAccount(t, "eu-timeout", "user_good")
		dep := s3.addDeposit(t, "Payroll Checking", "123456789")
		s3.emu.SetFaults(sandbox.Faults{Latency: time.Hour, Paths: []string{"/v1/link_tokens"}})
		defer s3.emu.SetFaults(sandbox.Faults{})
		rec := s3.mintForm(t, s3.login(t, "operator@example.com"), account, switchForm(dep.ID))
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Pinwheel is busy or unreachable right now.") {
			t.Errorf("got %d %s", rec.Code, rec.Body.String())
		}
		if list, _, _ := s3.store.ListLinks(context.Background(), db.LinkFilter{}); len(list) != 0 {
			t.Errorf("a timed-out mint left %d tokens", len(list))
		}
		if rows, _, _ := s3.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLinkTokenMintFailed}); len(rows) != 1 {
			t.Errorf("%d mint_failed audit rows, want 1", len(rows))
		}
	})

	t.Run("401", func(t *testing.T) {
		s2 := newServer(t, withEmulator(emuOptions{clientSecret: "wrong_secret"}))
		account := s2.connectAccount(t, "eu-401", "user_good")
		dep := s2.addDeposit(t, "Payroll Checking", "123456789")
		rec := s2.mintForm(t, s2.login(t, "admin@example.com"), account, switchForm(dep.ID))
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), "Pinwheel refused our API secret. An admin should check LINKDESK_PINWHEEL_SECRET.") {
			t.Errorf("got %d %s", rec.Code, rec.Body.String())
		}
		if !strings.Contains(rec.Body.String(), "Capabilities unknown") {
			t.Error("a failing platform lookup should read as capabilities unknown")
		}
		if list, _, _ := s2.store.ListLinks(context.Background(), db.LinkFilter{}); len(list) != 0 {
			t.Errorf("a refused mint left %d tokens", len(list))
		}
	})
}

func TestODU_MintNotStored(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-unrecorded", "user_good")
	op := s.login(t, "operator@example.com")
	ctx := context.Background()

	restore := dbtest.RefuseInserts(t, s.store.Path(), "link_tokens")
	before := len(s.linkTokenRequests())
	rec := s.mintForm(t, op, account, url.Values{"jobs": {"identity"}, "reason": {"refresh identity"}, "mode": {"mint"}})
	restore()
	body := rec.Body.String()
	if len(s.linkTokenRequests()) != before+1 {
		t.Fatal("the mint never reached Pinwheel")
	}
	if rec.Code != http.StatusInternalServerError || !strings.Contains(body, "may still exist at Pinwheel") || !strings.Contains(body, "Reference:") {
		t.Fatalf("got %d, want 500 saying a token may exist: %s", rec.Code, body)
	}
	rows, _, err := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintUnrecorded})
	if err != nil || len(rows) != 1 {
		t.Fatalf("mint_unrecorded audit rows: %d %v", len(rows), err)
	}
	var d map[string]any
	json.Unmarshal([]byte(rows[0].Detail), &d)
	ltid, _ := d["link_token_id"].(string)
	if ltid == "" || d["account_id"] != account || rows[0].TargetID != account || !strings.Contains(body, ltid) {
		t.Errorf("audit detail %s, page names %q", rows[0].Detail, ltid)
	}
	if strings.Contains(rows[0].Detail, "eyJ") {
		t.Error("the audit row holds the token itself")
	}
	if list, _, _ := s.store.ListLinks(ctx, db.LinkFilter{}); len(list) != 0 {
		t.Errorf("%d tokens stored", len(list))
	}
}

func TestODU_PreflightBlocksAndWarns(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-pre", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	op := s.login(t, "operator@example.com")
	ctx := context.Background()

	t.Run("user_action_required warns", func(t *testing.T) {
		if _, err := s.admin.SandboxSetMonitoringStatus(ctx, account, pinwheel.StatusUserActionRequired); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the status update", func() bool {
			p, _ := s.store.Preflight(ctx, account)
			return p.MonitoringStatus == pinwheel.StatusUserActionRequired
		})
		rec := s.do(t, "GET", "/accounts/"+account+"/update", nil, op)
		if !strings.Contains(rec.Body.String(), "they will have to log in to their payroll account again") {
			t.Errorf("no warning: %s", rec.Body.String())
		}
		s.mintOK(t, op, account, switchForm(dep.ID))
	})

	t.Run("disconnected blocks", func(t *testing.T) {
		s.sendWebhook(t, fmt.Sprintf(`{"event_id": "disc-1", "event": "account.monitoring_status.updated", "payload": {"created_at": %q, "link_token_id": null, "platform_id": "5965580e-380f-4b86-8a8a-7278c77f73cb", "connected": false, "monitoring_status": "unavailable", "end_user_id": "eu-pre", "account_id": %q, "platform_name": "Workday"}}`,
			time.Now().UTC().Format(time.RFC3339), account))
		rec := s.do(t, "GET", "/accounts/"+account+"/update", nil, op)
		if !strings.Contains(rec.Body.String(), "preflight-blocked") || strings.Contains(rec.Body.String(), `value="mint"`) {
			t.Error("a disconnected account's form is not blocked")
		}
		before := len(s.linkTokenRequests())
		rec = s.mintForm(t, op, account, switchForm(dep.ID))
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), "disconnected") || len(s.linkTokenRequests()) != before {
			t.Errorf("got %d; requests %d→%d", rec.Code, before, len(s.linkTokenRequests()))
		}
	})
}

func TestODU_IdentityMismatchNeedsOverride(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-id", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	op := s.login(t, "operator@example.com")
	ctx := context.Background()
	if _, _, err := s.store.SaveCustomer(ctx, db.Actor{StaffID: 1, Email: "admin@example.com"}, db.CustomerInput{EndUserID: "eu-id", FullName: "Maria Gonzalez", DateOfBirth: "1980-02-03", SSNLast4: "9876"}); err != nil {
		t.Fatal(err)
	}
	v, err := s.store.RecordIdentityVerdict(ctx, account, "eu-id", db.IdentityData{FullName: "Ash Userton", DateOfBirth: "1993-08-28", LastFourSSN: "1234"}, "")
	if err != nil || v.Result != db.VerdictMismatch {
		t.Fatalf("verdict %+v %v", v, err)
	}
	rec := s.do(t, "GET", "/accounts/"+account+"/update", nil, op)
	if !strings.Contains(rec.Body.String(), "does not match the customer record") || !strings.Contains(rec.Body.String(), "override_identity") {
		t.Error("the form does not show the mismatch and the override")
	}
	rec = s.mintForm(t, op, account, switchForm(dep.ID))
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), "Tick the override") {
		t.Errorf("no override: got %d", rec.Code)
	}
	form := switchForm(dep.ID)
	form.Set("override_identity", "1")
	if rec := s.mintForm(t, op, account, form); rec.Code != 422 || !strings.Contains(rec.Body.String(), "Say why the deposit may go ahead") {
		t.Errorf("override without reason: got %d", rec.Code)
	}
	form.Set("override_reason", "customer verified by phone, ticket 77")
	tokenID := s.mintOK(t, op, account, form)
	rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionIdentityOverride, TargetID: tokenID})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, "verified by phone") {
		t.Errorf("override audit %+v", rows)
	}
	// An identity refresh needs no override.
	s.mintOK(t, op, account, url.Values{"jobs": {"identity"}, "reason": {"refresh identity"}, "mode": {"mint"}})
}

// sendWebhook delivers a signed webhook to the app, as Pinwheel would.
func (s *testServer) sendWebhook(t *testing.T, body string) {
	t.Helper()
	ts := fmt.Sprint(s.clk.now().Unix())
	req := httptest.NewRequest("POST", "/webhooks/pinwheel", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pinwheel.HeaderTimestamp, ts)
	req.Header.Set(pinwheel.HeaderSignature, pinwheel.Sign(testSecret, ts, []byte(body)))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("webhook: %d %s", rec.Code, rec.Body.String())
	}
}

// launchIDOf returns a token's launch id.
func (s *testServer) launchIDOf(t *testing.T, tokenID string) string {
	t.Helper()
	d, err := s.store.LinkByID(context.Background(), tokenID)
	if err != nil {
		t.Fatal(err)
	}
	return d.LaunchID
}

func (s *testServer) postEvent(t *testing.T, launchID, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/l/"+launchID+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func (s *testServer) eventCount(t *testing.T, tokenID string) int {
	t.Helper()
	d, err := s.store.LinkByID(context.Background(), tokenID)
	if err != nil {
		t.Fatal(err)
	}
	return len(d.Events)
}

var scriptTagRE = regexp.MustCompile(`<script[^>]*>`)

func TestLaunchPage_StatesAndHeaders(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-launch", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	op := s.login(t, "operator@example.com")

	tokenID := s.mintOK(t, op, account, switchForm(dep.ID))
	launch := s.launchIDOf(t, tokenID)

	t.Run("live", func(t *testing.T) {
		rec := s.do(t, "GET", "/l/"+launch, nil) // no staff session
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("got %d", rec.Code)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		for _, w := range []string{"script-src 'self' 'nonce-", " " + s.url + ";", "frame-src " + s.url + ";", "connect-src 'self'", "style-src 'self';"} {
			if !strings.Contains(csp, w) {
				t.Errorf("CSP %q lacks %q", csp, w)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP allows inline: %q", csp)
		}
		for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if rec.Header().Get(k) != v {
				t.Errorf("%s = %q, want %q", k, rec.Header().Get(k), v)
			}
		}
		if !strings.Contains(body, "Acme Payroll Co would like you to update your direct deposit: $150.00 to Payroll Checking ••6789.") {
			t.Errorf("the ask is missing: %s", body)
		}
		l, _ := s.store.LaunchByID(context.Background(), launch)
		if !strings.Contains(body, `data-link-token="`+l.Token+`"`) || l.Token == "" {
			t.Error("the token is not in the data attribute")
		}
		tags := scriptTagRE.FindAllString(body, -1)
		if len(tags) != 2 || !strings.Contains(tags[0], `src="`+s.url+`/sandbox/link.js"`) || !strings.Contains(tags[1], "/static/js/launch.") {
			t.Errorf("script tags %v", tags)
		}
		for _, tag := range tags {
			if !strings.Contains(tag, "src=") || !strings.Contains(tag, "nonce=") {
				t.Errorf("inline or nonce-less script: %s", tag)
			}
		}
		if strings.Contains(body, "style=") || strings.Contains(body, "Linkdesk") || strings.Contains(body, "Sign out") {
			t.Error("the launch page shows more than the organisation")
		}
		d, _ := s.store.LinkByID(context.Background(), tokenID)
		if len(d.Events) != 1 || d.Events[0].Name != db.EventPageOpened {
			t.Errorf("events %+v", d.Events)
		}
	})

	t.Run("unknown", func(t *testing.T) {
		for _, id := range []string{"nope", strings.Repeat("A", 32)} {
			if rec := s.do(t, "GET", "/l/"+id, nil); rec.Code != http.StatusNotFound {
				t.Errorf("%s: got %d", id, rec.Code)
			}
		}
	})

	assertClosed := func(t *testing.T, launch string, status int, text string) {
		t.Helper()
		rec := s.do(t, "GET", "/l/"+launch, nil)
		body := rec.Body.String()
		if rec.Code != status || !strings.Contains(body, text) {
			t.Errorf("got %d, want %d with %q: %s", rec.Code, status, text, body)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "link.js") || strings.Contains(body, "data-link-token") {
			t.Error("a closed link loads Link")
		}
	}

	t.Run("used", func(t *testing.T) {
		used := s.mintOK(t, op, account, switchForm(dep.ID))
		l := s.launchIDOf(t, used)
		if rec := s.postEvent(t, l, `{"name":"success","payload":{"job":"direct_deposit_switch"}}`); rec.Code != 204 {
			t.Fatalf("event: %d", rec.Code)
		}
		assertClosed(t, l, 200, "ask Acme Payroll Co for a new link")
	})

	t.Run("revoked", func(t *testing.T) {
		rev := s.mintOK(t, op, account, switchForm(dep.ID))
		l := s.launchIDOf(t, rev)
		if rec := s.do(t, "POST", "/tokens/"+rev+"/revoke", url.Values{}, op); rec.Code != 303 {
			t.Fatalf("revoke: %d", rec.Code)
		}
		assertClosed(t, l, http.StatusGone, "cancelled this link")
		n := s.eventCount(t, rev)
		if rec := s.postEvent(t, l, `{"name":"open","payload":{}}`); rec.Code != http.StatusGone {
			t.Errorf("event on a revoked link: %d", rec.Code)
		}
		if s.eventCount(t, rev) != n {
			t.Error("a revoked link took an event")
		}
		rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLinkTokenRevoked, TargetID: rev})
		if len(rows) != 1 {
			t.Errorf("revocation audit rows: %d", len(rows))
		}
		if rec := s.do(t, "POST", "/tokens/"+rev+"/revoke", url.Values{}, s.login(t, "auditor@example.com")); rec.Code != 403 {
			t.Errorf("auditor revoke: %d", rec.Code)
		}
	})

	t.Run("mint on open", func(t *testing.T) {
		form := url.Values{"jobs": {"identity", "income"}, "reason": {"refresh"}, "mode": {"mint_on_open"}}
		before := len(s.linkTokenRequests())
		tok := s.mintOK(t, op, account, form)
		if len(s.linkTokenRequests()) != before {
			t.Error("creating a mint-on-open link called Pinwheel")
		}
		l := s.launchIDOf(t, tok)
		rec := s.do(t, "GET", "/l/"+l, nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "would like you to confirm your identity and share your income.") {
			t.Fatalf("first open: %d %s", rec.Code, rec.Body.String())
		}
		if len(s.linkTokenRequests()) != before+1 {
			t.Error("opening did not mint")
		}
		var got map[string]any
		reqs := s.linkTokenRequests()
		json.Unmarshal(reqs[len(reqs)-1].Body, &got)
		if got["account_id"] != account || got["tags"].(map[string]any)["linkdesk_token_id"] != tok {
			t.Errorf("mint on open sent %v", got)
		}
		s.do(t, "GET", "/l/"+l, nil)
		if len(s.linkTokenRequests()) != before+1 {
			t.Error("a second open within the token's life minted again")
		}
		s.clk.add(55 * time.Minute)
		defer s.clk.add(-55 * time.Minute)
		if rec := s.do(t, "GET", "/l/"+l, nil); rec.Code != 200 || len(s.linkTokenRequests()) != before+2 {
			t.Errorf("after the token's life: %d, %d requests", rec.Code, len(s.linkTokenRequests())-before)
		}
		d, _ := s.store.LinkByID(context.Background(), tok)
		if len(d.History) != 2 || d.History[0].MintedBy != 0 {
			t.Errorf("mints %+v", d.History)
		}
	})

	t.Run("mint on open failing", func(t *testing.T) {
		tok := s.mintOK(t, op, account, url.Values{"jobs": {"identity"}, "reason": {"refresh"}, "mode": {"mint_on_open"}})
		s.emu.SetFaults(sandbox.Faults{ErrorRate: 1, Paths: []string{"/v1/link_tokens"}})
		defer s.emu.SetFaults(sandbox.Faults{})
		rec := s.do(t, "GET", "/l/"+s.launchIDOf(t, tok), nil)
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "<script") || !strings.Contains(rec.Body.String(), "try again in a few minutes") {
			t.Errorf("got %d %s", rec.Code, rec.Body.String())
		}
		d, _ := s.store.LinkByID(context.Background(), tok)
		if len(d.History) != 0 || len(d.Events) != 1 || d.Events[0].Name != db.EventMintFailed {
			t.Errorf("history %+v events %+v", d.History, d.Events)
		}
	})

	t.Run("expired", func(t *testing.T) {
		s.clk.add(2 * time.Hour)
		defer s.clk.add(-2 * time.Hour)
		assertClosed(t, launch, http.StatusGone, "This link has expired")
	})
}

func TestLaunchEvents_Validation(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-events", "user_good")
	op := s.login(t, "operator@example.com")
	tok := s.mintOK(t, op, account, url.Values{"jobs": {"identity"}, "reason": {"refresh"}, "mode": {"mint"}})
	launch := s.launchIDOf(t, tok)

	if rec := s.postEvent(t, launch, `{"name":"screen_transition","payload":{"screenName":"LOGIN"}}`); rec.Code != 204 {
		t.Fatalf("valid event: %d %s", rec.Code, rec.Body.String())
	}
	for _, tc := range []struct {
		name, launch, body string
		hdr                []string
		status             int
	}{
		{"unknown link", strings.Repeat("B", 32), `{"name":"open"}`, nil, 404},
		{"malformed link", "x", `{"name":"open"}`, nil, 404},
		{"bad JSON", launch, `{"name":`, nil, 400},
		{"two objects", launch, `{"name":"open"}{"name":"open"}`, nil, 400},
		{"reserved name", launch, `{"name":"page_opened"}`, nil, 400},
		{"bad name", launch, `{"name":"<script>"}`, nil, 400},
		{"payload not an object", launch, `{"name":"open","payload":[1]}`, nil, 400},
		{"payload over 8 KiB", launch, `{"name":"open","payload":{"x":"` + strings.Repeat("a", 9000) + `"}}`, nil, 400},
		{"body over 16 KiB", launch, `{"name":"open","payload":{},"pad":"` + strings.Repeat("a", 17000) + `"}`, nil, 413},
		{"cross-site", launch, `{"name":"open"}`, []string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := s.eventCount(t, tok)
			rec := s.postEvent(t, tc.launch, tc.body, tc.hdr...)
			if rec.Code != tc.status {
				t.Errorf("got %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if tc.status != 403 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("content type %q", rec.Header().Get("Content-Type"))
			}
			if s.eventCount(t, tok) != n {
				t.Error("a refused event was stored")
			}
		})
	}

	t.Run("flood", func(t *testing.T) {
		n := s.eventCount(t, tok)
		codes := map[int]int{}
		for range 80 {
			codes[s.postEvent(t, launch, `{"name":"screen_transition","payload":{}}`).Code]++
		}
		if codes[429] == 0 || codes[204] > 60 {
			t.Errorf("codes %v", codes)
		}
		if got := s.eventCount(t, tok) - n; got != codes[204] {
			t.Errorf("stored %d, accepted %d", got, codes[204])
		}
	})
}

func TestTokens_LifecycleThroughLink(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{version: pinwheel.Version20250708}))
	account := s.connectAccount(t, "eu-life", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	op := s.login(t, "operator@example.com")
	ctx := context.Background()

	tok := s.mintOK(t, op, account, switchForm(dep.ID))
	launch := s.launchIDOf(t, tok)
	if rec := s.do(t, "GET", "/l/"+launch, nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	l, _ := s.store.LaunchByID(ctx, launch)

	// Walk Link as launch.js would, reporting each event.
	res, err := s.driver.Complete(ctx, l.Token, sandbox.SessionPlan{Allocation: &sandbox.AllocationChoice{Action: "partial_switch", Type: "amount", Value: 150}})
	if err != nil || res.Outcome != "success" {
		t.Fatalf("Link: %+v %v", res, err)
	}
	for _, e := range res.Events {
		b, _ := json.Marshal(map[string]any{"name": e.Name, "payload": e.Payload})
		if rec := s.postEvent(t, launch, string(b)); rec.Code != 204 {
			t.Fatalf("event %s: %d %s", e.Name, rec.Code, rec.Body.String())
		}
	}
	if names := res.EventNames(); strings.Contains(strings.Join(names, ","), "login,") {
		t.Logf("events: %v", names)
	}
	waitFor(t, "the switch webhook", func() bool {
		d, err := s.store.LinkByID(ctx, tok)
		return err == nil && d.Lifecycle.OutcomeSource == "webhook"
	})
	d, _ := s.store.LinkByID(ctx, tok)
	if d.Lifecycle.State != db.StageSuccess || len(d.Switches) != 1 || d.Switches[0].Outcome != "success" {
		t.Errorf("lifecycle %+v switches %+v", d.Lifecycle, d.Switches)
	}
	for _, st := range []string{db.StageMinted, db.StagePageOpened, db.StageLinkOpened, db.StageLoggedIn, db.StageSuccess} {
		if _, ok := d.Lifecycle.Reached(st); !ok {
			t.Errorf("stage %s not reached: %+v", st, d.Lifecycle.Steps)
		}
	}

	rec := s.do(t, "GET", "/tokens/"+tok, nil, s.login(t, "auditor@example.com"))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `data-state="success"`) || strings.Contains(body, "/l/"+launch) {
		t.Errorf("auditor's token page: %d (the launch link must not be shown to auditors)", rec.Code)
	}
	for _, q := range []string{"/tokens", "/tokens?state=success", "/tokens?account=" + account, "/tokens?creator=2"} {
		if rec := s.do(t, "GET", q, nil, op); rec.Code != 200 || !strings.Contains(rec.Body.String(), "token-"+tok) {
			t.Errorf("%s: %d, token missing", q, rec.Code)
		}
	}
	if rec := s.do(t, "GET", "/tokens?state=expired", nil, op); strings.Contains(rec.Body.String(), "token-"+tok) {
		t.Error("state filter lets a successful token through")
	}
	for _, q := range []string{"/tokens?state=bogus", "/tokens?before=x", "/tokens?creator=-1"} {
		if rec := s.do(t, "GET", q, nil, op); rec.Code != 400 {
			t.Errorf("%s: %d, want 400", q, rec.Code)
		}
	}
	if rec := s.do(t, "GET", "/tokens/0123456789abcdef", nil, op); rec.Code != 404 {
		t.Errorf("unknown token: %d", rec.Code)
	}
}

func TestTokens_Pagination(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	ctx := context.Background()
	staffList, _ := s.store.ListStaff(ctx)
	for i := range 55 {
		n := db.NewLink{Mode: db.ModeMintOnOpen, AccountID: sampleAccountID, EndUserID: "u", PlatformID: "p",
			Jobs: []string{"identity"}, Language: "en", Reason: fmt.Sprint("r", i), APIVersion: pinwheel.DefaultVersion, LinkExpiresAt: time.Now().Add(time.Hour)}
		n.TokenID, n.LaunchID = db.NewLinkIDs()
		if _, err := s.store.CreateLink(ctx, db.Actor{StaffID: staffList[0].ID}, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	cookie := s.login(t, "auditor@example.com")
	rec := s.do(t, "GET", "/tokens", nil, cookie)
	next := regexp.MustCompile(`href="(/tokens\?before=\d+)"`).FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || strings.Count(rec.Body.String(), `id="token-`) != 50 || next == nil {
		t.Fatalf("first page: %d, %d rows, next %v", rec.Code, strings.Count(rec.Body.String(), `id="token-`), next)
	}
	rec = s.do(t, "GET", next[1], nil, cookie)
	if n := strings.Count(rec.Body.String(), `id="token-`); n != 5 || strings.Contains(rec.Body.String(), "Older tokens") {
		t.Errorf("second page: %d rows", n)
	}
}

// TestODU_AccountIDNeedingEscapes: an account ID with a slash, a space and
// a percent sign reaches the mint form, the mint and the tokens list intact.
func TestODU_AccountIDNeedingEscapes(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	const id = "acct/1 50%"
	s.ingest(t, accountAddedJSON("odd-added", id, "odd_end_user", true, "active"))
	if _, err := s.store.CachePlatform(ctx, db.PlatformCaps{ID: "5965580e-380f-4b86-8a8a-7278c77f73cb", Name: "Workday", SupportedJobs: db.ODUJobs}); err != nil {
		t.Fatal(err)
	}
	op := s.login(t, "operator@example.com")

	path := views.ODUPath(id)
	if path != "/accounts/acct%2F1%2050%25/update" {
		t.Fatalf("ODUPath = %q", path)
	}
	rec := s.do(t, "GET", path, nil, op)
	op = updatedCookie(rec, op)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `action="`+path+`"`) {
		t.Fatalf("form: got %d %s", rec.Code, rec.Body.String())
	}
	rec = s.do(t, "POST", path, url.Values{"jobs": {"identity"}, "reason": {"refresh"}, "mode": {"mint_on_open"}}, op)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create: got %d %s", rec.Code, rec.Body.String())
	}
	op = updatedCookie(rec, op)
	list, _, err := s.store.ListLinks(ctx, db.LinkFilter{AccountID: id})
	if err != nil || len(list) != 1 {
		t.Fatalf("tokens of %q: %d %v", id, len(list), err)
	}
	body := s.do(t, "GET", views.AccountPath(id), nil, op).Body.String()
	if !strings.Contains(body, `href="/tokens?account=acct%2F1+50%25"`) || !strings.Contains(body, `href="`+path+`"`) {
		t.Errorf("account page links are not escaped: %s", body)
	}
	if rec := s.do(t, "GET", views.AccountTokensPath(id), nil, op); !strings.Contains(rec.Body.String(), "token-"+list[0].TokenID) {
		t.Errorf("the account's tokens list lacks its token")
	}
}

// TestPathParam_LiteralPercent: an ID whose only escape is a percent sign
// ("50%" travels as 50%25, which Go decodes without keeping a raw path)
// reaches the account page and the mint form as itself.
func TestPathParam_LiteralPercent(t *testing.T) {
	s := newServer(t)
	const id = "acct-50%"
	s.ingest(t, accountAddedJSON("pct-added", id, "pct_end_user", true, "active"))
	op := s.login(t, "operator@example.com")
	for _, path := range []string{views.AccountPath(id), views.ODUPath(id)} {
		rec := s.do(t, "GET", path, nil, op)
		op = updatedCookie(rec, op)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), id) {
			t.Errorf("GET %s: got %d", path, rec.Code)
		}
	}
}
