package db_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

func TestParseDollars(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"150", 15000, false},
		{"150.5", 15050, false},
		{"150.05", 15005, false},
		{"$1,500.00", 150000, false},
		{" 0.01 ", 1, false},
		{"0", 0, false},
		{"1,50", 0, true},
		{"150.001", 0, true},
		{"-5", 0, true},
		{"abc", 0, true},
		{"", 0, true},
		{"1e3", 0, true},
	} {
		got, err := db.ParseDollars(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseDollars(%q) = %d, %v; want %d, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func oduContext() db.ODUContext {
	return db.ODUContext{
		Preflight: db.Preflight{AccountID: "acc-1", EndUserID: "user-1", PlatformID: "plat-1", PlatformName: "Workday",
			ConnectedKnown: true, Connected: true, MonitoringStatus: "active"},
		Platform: db.PlatformCaps{ID: "plat-1", Name: "Workday", Known: true,
			SupportedJobs: []string{"identity", "income", "employment", "paystubs", "direct_deposit_allocations", "direct_deposit_switch"}},
		DepositAccounts: []db.DepositAccount{
			{ID: 1, Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", Last4: "6789", Active: true},
			{ID: 2, Name: "Old Savings", Type: "savings", RoutingNumber: "021000021", Last4: "1111", Active: false},
		},
	}
}

func TestValidateODU(t *testing.T) {
	good := db.ODURequest{Jobs: []string{"direct_deposit_switch"}, TargetIDs: []string{"1"}, AllocationMode: "amount",
		Amount: "150", Language: "en", Reason: "customer asked"}
	for _, tc := range []struct {
		name  string
		edit  func(*db.ODURequest, *db.ODUContext)
		field string // "" means valid
		check func(*testing.T, db.NewLink)
	}{
		{name: "valid switch", check: func(t *testing.T, n db.NewLink) {
			want := &db.LinkAllocation{Type: "amount", AmountCents: 15000, Targets: []db.LinkTarget{
				{DepositAccountID: 1, Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", Last4: "6789"}}}
			if !reflect.DeepEqual(n.Allocation, want) {
				t.Errorf("allocation %+v, want %+v", n.Allocation, want)
			}
			if n.AccountID != "acc-1" || n.EndUserID != "user-1" || n.Reason != "customer asked" {
				t.Errorf("got %+v", n)
			}
		}},
		{name: "user chooses with minimum", edit: func(r *db.ODURequest, _ *db.ODUContext) {
			r.AllocationMode, r.Amount, r.MinAmount = "user", "", "$25.50"
		}, check: func(t *testing.T, n db.NewLink) {
			if n.Allocation.Type != "" || n.Allocation.MinAmountCents != 2550 {
				t.Errorf("allocation %+v", n.Allocation)
			}
		}},
		{name: "data jobs keep form order and have no allocation", edit: func(r *db.ODURequest, _ *db.ODUContext) {
			r.Jobs, r.TargetIDs = []string{"paystubs", "identity"}, nil
		}, check: func(t *testing.T, n db.NewLink) {
			if !reflect.DeepEqual(n.Jobs, []string{"identity", "paystubs"}) || n.Allocation != nil {
				t.Errorf("jobs %v allocation %+v", n.Jobs, n.Allocation)
			}
		}},
		{name: "no jobs", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Jobs = nil }, field: "jobs"},
		{name: "unknown job", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Jobs = append(r.Jobs, "bill_switch") }, field: "jobs"},
		{name: "unsupported by platform", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.Platform.SupportedJobs = []string{"identity"}
		}, field: "jobs"},
		{name: "capabilities unknown do not block", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.Platform = db.PlatformCaps{}
		}},
		{name: "reason required", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Reason = "  " }, field: "reason"},
		{name: "reason too long", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Reason = strings.Repeat("x", 501) }, field: "reason"},
		{name: "amount zero", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "0" }, field: "amount"},
		{name: "amount negative", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "-3" }, field: "amount"},
		{name: "amount missing", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "" }, field: "amount"},
		{name: "amount garbage", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "lots" }, field: "amount"},
		{name: "amount huge", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Amount = "2000000" }, field: "amount"},
		{name: "minimum above amount", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.MinAmount = "200" }, field: "min_amount"},
		{name: "minimum zero", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.MinAmount = "0" }, field: "min_amount"},
		{name: "no target", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.TargetIDs = nil }, field: "targets"},
		{name: "archived target", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.TargetIDs = []string{"2"} }, field: "targets"},
		{name: "unknown target", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.TargetIDs = []string{"99"} }, field: "targets"},
		{name: "bad routing number on file", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.DepositAccounts[0].RoutingNumber = "021000022"
		}, field: "targets"},
		{name: "bad language", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.Language = "fr" }, field: "language"},
		{name: "bad allocation mode", edit: func(r *db.ODURequest, _ *db.ODUContext) { r.AllocationMode = "percent" }, field: "allocation_mode"},
		{name: "disconnected is blocked", edit: func(_ *db.ODURequest, c *db.ODUContext) { c.Preflight.Connected = false }, field: "_form"},
		{name: "user_action_required is allowed", edit: func(_ *db.ODURequest, c *db.ODUContext) {
			c.Preflight.MonitoringStatus = "user_action_required"
		}},
		{name: "mismatch needs override", edit: func(_ *db.ODURequest, c *db.ODUContext) { c.IdentityResult = db.VerdictMismatch }, field: "override_identity"},
		{name: "override needs a reason", edit: func(r *db.ODURequest, c *db.ODUContext) {
			c.IdentityResult, r.OverrideIdentity = db.VerdictMismatch, true
		}, field: "override_reason"},
		{name: "override with reason", edit: func(r *db.ODURequest, c *db.ODUContext) {
			c.IdentityResult, r.OverrideIdentity, r.OverrideReason = db.VerdictMismatch, true, " verified by phone "
		}, check: func(t *testing.T, n db.NewLink) {
			if n.IdentityOverride != "verified by phone" {
				t.Errorf("override %q", n.IdentityOverride)
			}
		}},
		{name: "mismatch does not block data jobs", edit: func(r *db.ODURequest, c *db.ODUContext) {
			c.IdentityResult, r.Jobs, r.TargetIDs = db.VerdictMismatch, []string{"identity"}, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, cx := good, oduContext()
			in.Jobs = append([]string(nil), good.Jobs...)
			if tc.edit != nil {
				tc.edit(&in, &cx)
			}
			n, fe := db.ValidateODU(in, cx)
			switch {
			case tc.field == "" && fe != nil:
				t.Fatalf("got errors %v, want none", fe)
			case tc.field != "" && fe[tc.field] == "":
				t.Fatalf("got errors %v, want one on %s", fe, tc.field)
			}
			if tc.check != nil {
				tc.check(t, n)
			}
		})
	}
}

func TestComputeLifecycle(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ev := func(m int, name, payload string) db.LaunchEvent {
		if payload == "" {
			payload = "{}"
		}
		return db.LaunchEvent{At: at(m), Name: name, Payload: json.RawMessage(payload)}
	}
	hook := func(m int, event, job, outcome string) db.WebhookFact {
		return db.WebhookFact{At: at(m), Event: event, Job: job, Outcome: outcome}
	}
	minted := db.Link{Mode: db.ModeMinted, Jobs: []string{"direct_deposit_switch"}, CreatedAt: t0, FirstMintedAt: t0, Mints: 1, LinkExpiresAt: at(60)}
	data := minted
	data.Jobs = []string{"identity", "income"}
	onOpen := db.Link{Mode: db.ModeMintOnOpen, Jobs: []string{"identity"}, CreatedAt: t0, LinkExpiresAt: at(7 * 24 * 60)}
	revoked := minted
	revoked.RevokedAt = at(5)

	for _, tc := range []struct {
		name    string
		link    db.Link
		events  []db.LaunchEvent
		hooks   []db.WebhookFact
		now     int
		state   string
		launch  string
		stages  []string
		outcome string
	}{
		{name: "just minted", link: minted, now: 1, state: db.StageMinted, launch: db.LaunchLive, stages: []string{"minted"}},
		{name: "mint on open, not opened", link: onOpen, now: 1, state: db.StageCreated, launch: db.LaunchLive, stages: []string{"created"}},
		{name: "page opened", link: minted, now: 3, events: []db.LaunchEvent{ev(2, "page_opened", "")},
			state: db.StagePageOpened, launch: db.LaunchLive, stages: []string{"minted", "page_opened"}},
		{name: "link opened", link: minted, now: 3, events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", "")},
			state: db.StageLinkOpened, launch: db.LaunchLive, stages: []string{"minted", "page_opened", "link_opened"}},
		{name: "logged in", link: minted, now: 4, events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", ""), ev(3, "login", `{"accountId":"a"}`)},
			state: db.StageLoggedIn, launch: db.LaunchLive, stages: []string{"minted", "page_opened", "link_opened", "logged_in"}},
		{name: "success from Link only", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", ""), ev(4, "success", `{"job":"direct_deposit_switch"}`)},
			state:  db.StageSuccess, launch: db.LaunchUsed, outcome: "link",
			stages: []string{"minted", "page_opened", "link_opened", "logged_in", "success"}},
		{name: "success from webhook, silent On Demand Update", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "page_opened", ""), ev(2, "open", "")},
			hooks:  []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "success")},
			state:  db.StageSuccess, launch: db.LaunchUsed, outcome: "webhook",
			stages: []string{"minted", "page_opened", "link_opened", "logged_in", "success"}},
		{name: "webhook error beats Link success", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "open", ""), ev(4, "success", "")},
			hooks:  []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "error")},
			state:  db.StageError, launch: db.LaunchUsed, outcome: "webhook",
			stages: []string{"minted", "link_opened", "logged_in", "error"}},
		{name: "job error leaves the link live", link: minted, now: 5,
			events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "error", `{"type":"platformError","pendingRetry":false}`)},
			hooks:  []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "error")},
			state:  db.StageError, launch: db.LaunchLive, outcome: "webhook",
			stages: []string{"minted", "link_opened", "logged_in", "error"}},
		{name: "pending webhook", link: minted, now: 5, hooks: []db.WebhookFact{hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "pending")},
			state: db.StagePending, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "pending"}},
		{name: "pending then success", link: minted, now: 9, hooks: []db.WebhookFact{
			hook(4, "direct_deposit_switch.added", "direct_deposit_switch", "pending"),
			hook(8, "direct_deposit_switch.added", "direct_deposit_switch", "success")},
			state: db.StageSuccess, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "success"}},
		{name: "Link pendingRetry error", link: minted, now: 5, events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "error", `{"pendingRetry":true}`)},
			state: db.StagePending, launch: db.LaunchUsed, outcome: "link", stages: []string{"minted", "link_opened", "logged_in", "pending"}},
		{name: "one of two jobs reported is pending", link: data, now: 5, hooks: []db.WebhookFact{hook(4, "identity.added", "identity", "success")},
			state: db.StagePending, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "pending"}},
		{name: "both jobs reported", link: data, now: 6, hooks: []db.WebhookFact{
			hook(4, "identity.added", "identity", "success"), hook(5, "income.added", "income", "success"),
			hook(5, "paystubs.added", "paystubs", "error")}, // not requested: ignored
			state: db.StageSuccess, launch: db.LaunchUsed, outcome: "webhook", stages: []string{"minted", "logged_in", "success"}},
		{name: "account.added means logged in", link: data, now: 6, hooks: []db.WebhookFact{hook(4, "account.added", "", "")},
			state: db.StageLoggedIn, launch: db.LaunchLive, stages: []string{"minted", "logged_in"}},
		{name: "exited", link: minted, now: 6, events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "exit", "")},
			state: db.StageExited, launch: db.LaunchLive, stages: []string{"minted", "link_opened", "exited"}},
		{name: "reopened after exit", link: minted, now: 6, events: []db.LaunchEvent{ev(2, "open", ""), ev(3, "exit", ""), ev(4, "open", "")},
			state: db.StageLinkOpened, launch: db.LaunchLive, stages: []string{"minted", "link_opened"}},
		{name: "expired unused", link: minted, now: 61, state: db.StageExpired, launch: db.LaunchExpired, stages: []string{"minted", "expired"}},
		{name: "expired after opening", link: minted, now: 90, events: []db.LaunchEvent{ev(2, "page_opened", "")},
			state: db.StageExpired, launch: db.LaunchExpired, stages: []string{"minted", "page_opened", "expired"}},
		{name: "success then expiry stays success", link: minted, now: 90, events: []db.LaunchEvent{ev(2, "success", "")},
			state: db.StageSuccess, launch: db.LaunchUsed, outcome: "link", stages: []string{"minted", "logged_in", "success"}},
		{name: "revoked", link: revoked, now: 6, events: []db.LaunchEvent{ev(2, "page_opened", "")},
			state: db.StageRevoked, launch: db.LaunchRevoked, stages: []string{"minted", "page_opened", "revoked"}},
		{name: "revoked after success keeps the outcome", link: revoked, now: 6, events: []db.LaunchEvent{ev(2, "success", "")},
			state: db.StageSuccess, launch: db.LaunchRevoked, outcome: "link", stages: []string{"minted", "logged_in", "success", "revoked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := db.ComputeLifecycle(tc.link, tc.events, tc.hooks, at(tc.now))
			var stages []string
			for _, s := range lc.Steps {
				stages = append(stages, s.Stage)
			}
			if lc.State != tc.state || lc.Launch != tc.launch || lc.OutcomeSource != tc.outcome || !reflect.DeepEqual(stages, tc.stages) {
				t.Errorf("got state %s launch %s source %q stages %v; want %s %s %q %v",
					lc.State, lc.Launch, lc.OutcomeSource, stages, tc.state, tc.launch, tc.outcome, tc.stages)
			}
			if len(lc.Jobs) != len(tc.link.Jobs) {
				t.Errorf("jobs %v, want one per requested job", lc.Jobs)
			}
		})
	}
}

// ---- store tests ----

// oduFixture is a store with an operator, a deposit account and one
// connected account ingested through the real webhook projection.
type oduFixture struct {
	s        *db.Store
	clk      *clock
	g        *db.Ingester
	op       db.Actor
	deposit  db.DepositAccount
	account  string
	endUser  string
	platform string
}

func newODUFixture(t *testing.T) *oduFixture {
	t.Helper()
	s, clk := newStore(t)
	ctx := context.Background()
	st, err := s.CreateStaff(ctx, admin, db.StaffCreate{Email: "op@example.com", Name: "Olive Op", Role: db.RoleOperator, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	f := &oduFixture{s: s, clk: clk, op: db.Actor{StaffID: st.ID, Email: st.Email, IP: "192.0.2.1"},
		account: "0b6f0f6e-0000-4000-8000-000000000001", endUser: "user-1", platform: "5965580e-380f-4b86-8a8a-7278c77f73cb"}
	f.deposit, err = s.CreateDepositAccount(ctx, f.op, db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "123456789"})
	if err != nil {
		t.Fatal(err)
	}
	f.g, err = s.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.g.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	f.webhook(t, "e-added", "account.added", fmt.Sprintf(`{"created_at": %q, "link_token_id": "first-token", "platform_id": %q, "connected": true, "monitoring_status": "active", "end_user_id": %q, "account_id": %q, "platform_name": "Workday"}`,
		clk.t.Format(time.RFC3339), f.platform, f.endUser, f.account))
	return f
}

// webhook ingests one event through the real projection.
func (f *oduFixture) webhook(t *testing.T, eventID, event, payload string) {
	t.Helper()
	d, err := db.ParseDelivery(fmt.Appendf(nil, `{"event_id": %q, "event": %q, "payload": %s}`, eventID, event, payload))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.Ingest(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func (f *oduFixture) jobWebhook(t *testing.T, eventID, job, linkTokenID, outcome string) {
	t.Helper()
	f.webhook(t, eventID, job+".added", fmt.Sprintf(`{"id": "job-%s", "name": %q, "timestamp": %q, "outcome": %q, "error_code": null, "error_type": null, "link_token_id": %q, "params": {}, "account_id": %q, "end_user_id": %q}`,
		eventID, job, f.clk.t.Format(time.RFC3339Nano), outcome, linkTokenID, f.account, f.endUser))
}

func (f *oduFixture) newLink(t *testing.T, mode string, jobs ...string) db.NewLink {
	t.Helper()
	pre, err := f.s.Preflight(context.Background(), f.account)
	if err != nil {
		t.Fatal(err)
	}
	req := db.ODURequest{Jobs: jobs, Language: "en", Reason: "customer asked, ticket 12"}
	if len(jobs) == 0 {
		req.Jobs = []string{"direct_deposit_switch"}
	}
	req.TargetIDs, req.AllocationMode, req.Amount = []string{fmt.Sprint(f.deposit.ID)}, "amount", "150"
	n, fe := db.ValidateODU(req, db.ODUContext{Preflight: pre, DepositAccounts: []db.DepositAccount{f.deposit}})
	if fe != nil {
		t.Fatal(fe)
	}
	n.TokenID, n.LaunchID = db.NewLinkIDs()
	n.Mode, n.APIVersion = mode, pinwheel.Version20231122
	n.Tags = map[string]string{"linkdesk_token_id": n.TokenID}
	n.LinkExpiresAt = f.clk.t.Add(7 * 24 * time.Hour)
	return n
}

func (f *oduFixture) mint(id string) *db.MintResult {
	return &db.MintResult{LinkTokenID: id, Token: "jwt." + id + ".sig", ExpiresAt: f.clk.t.Add(time.Hour), APIVersion: pinwheel.Version20231122}
}

func TestStore_Preflight(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	f.clk.t = f.clk.t.Add(time.Minute)
	f.jobWebhook(t, "e-id", "identity", "first-token", "success")

	p, err := f.s.Preflight(ctx, f.account)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ConnectedKnown || !p.Connected || p.MonitoringStatus != "active" || p.EndUserID != f.endUser || p.PlatformName != "Workday" {
		t.Errorf("got %+v", p)
	}
	if len(p.Jobs) != 1 || p.Jobs[0].Job != "identity" || p.Jobs[0].Outcome != "success" {
		t.Errorf("jobs %+v", p.Jobs)
	}
	if _, err := f.s.Preflight(ctx, "nope"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown account: got %v, want ErrNotFound", err)
	}

	t.Run("MFA sessions", func(t *testing.T) {
		n := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("m-1")); err != nil {
			t.Fatal(err)
		}
		for _, e := range []struct{ name, payload string }{
			{"open", "{}"}, {"screen_transition", `{"screenName":"MFA"}`}, {"screen_transition", `{"screenName":"LOGIN"}`},
		} {
			if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, e.name, []byte(e.payload)); err != nil {
				t.Fatal(err)
			}
		}
		n2 := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n2, f.mint("m-2")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n2.LaunchID, "open", nil); err != nil {
			t.Fatal(err)
		}
		p, err := f.s.Preflight(ctx, f.account)
		if err != nil {
			t.Fatal(err)
		}
		if p.Sessions != 2 || p.MFASessions != 1 {
			t.Errorf("sessions %d mfa %d, want 2 and 1", p.Sessions, p.MFASessions)
		}
	})
}

func TestStore_MintedLinkLifecycle(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMinted)

	lt, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-1"))
	if err != nil {
		t.Fatal(err)
	}
	if lt.LinkTokenID != "pw-1" || lt.Mode != db.ModeMinted || !lt.LinkExpiresAt.Equal(f.clk.t.Add(time.Hour)) || lt.CreatedByName != "Olive Op" {
		t.Errorf("stored %+v", lt)
	}
	if lt.Allocation == nil || lt.Allocation.Targets[0].Last4 != "6789" || lt.Allocation.AmountCents != 15000 {
		t.Errorf("allocation %+v", lt.Allocation)
	}

	t.Run("audited with masked numbers", func(t *testing.T) {
		rows, _, err := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMinted})
		if err != nil || len(rows) != 1 {
			t.Fatalf("audit rows %v %v", rows, err)
		}
		d := rows[0].Detail
		if rows[0].TargetID != n.TokenID || !strings.Contains(d, "Payroll Checking ••6789") || !strings.Contains(d, "customer asked") || strings.Contains(d, "123456789") {
			t.Errorf("audit detail %s", d)
		}
	})

	t.Run("conflicting Pinwheel id", func(t *testing.T) {
		n2 := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n2, f.mint("pw-1")); !errors.Is(err, db.ErrConflict) {
			t.Errorf("got %v, want ErrConflict", err)
		}
	})

	l, err := f.s.LaunchByID(ctx, n.LaunchID)
	if err != nil {
		t.Fatal(err)
	}
	if l.State != db.LaunchLive || l.Token != "jwt.pw-1.sig" || l.NeedsMint {
		t.Errorf("launch %+v", l)
	}

	for _, name := range []string{"page_opened", "open"} {
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	e, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "success", []byte(` {"job": "direct_deposit_switch", "accountId": "x"} `))
	if err != nil {
		t.Fatal(err)
	}
	if e.LinkTokenID != "pw-1" || e.AccountID != f.account || string(e.Payload) != `{"job":"direct_deposit_switch","accountId":"x"}` {
		t.Errorf("event %+v %s", e, e.Payload)
	}

	f.clk.t = f.clk.t.Add(2 * time.Minute)
	f.jobWebhook(t, "e-dds", "direct_deposit_switch", "pw-1", "success")

	d, err := f.s.LinkByID(ctx, n.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Lifecycle.State != db.StageSuccess || d.Lifecycle.OutcomeSource != "webhook" || !d.Lifecycle.Used {
		t.Errorf("lifecycle %+v", d.Lifecycle)
	}
	if len(d.History) != 1 || len(d.Events) != 3 || len(d.Webhooks) != 1 {
		t.Errorf("detail mints %d events %d webhooks %d", len(d.History), len(d.Events), len(d.Webhooks))
	}
	l, _ = f.s.LaunchByID(ctx, n.LaunchID)
	if l.State != db.LaunchUsed || l.Token != "" {
		t.Errorf("after success: state %s token %q", l.State, l.Token)
	}

	t.Run("list with filters", func(t *testing.T) {
		list, next, err := f.s.ListLinks(ctx, db.LinkFilter{AccountID: f.account})
		if err != nil || next != 0 {
			t.Fatal(err, next)
		}
		if len(list) != 1 || list[0].TokenID != n.TokenID || list[0].Lifecycle.State != db.StageSuccess {
			t.Errorf("list %+v", list)
		}
		for _, tc := range []struct {
			f    db.LinkFilter
			want int
		}{
			{db.LinkFilter{State: db.StageSuccess}, 1},
			{db.LinkFilter{State: db.StageExpired}, 0},
			{db.LinkFilter{CreatedBy: f.op.StaffID}, 1},
			{db.LinkFilter{CreatedBy: f.op.StaffID + 99}, 0},
			{db.LinkFilter{AccountID: "other"}, 0},
		} {
			got, _, err := f.s.ListLinks(ctx, tc.f)
			if err != nil || len(got) != tc.want {
				t.Errorf("filter %+v: got %d (%v), want %d", tc.f, len(got), err, tc.want)
			}
		}
	})

	t.Run("account timeline events", func(t *testing.T) {
		evs, err := f.s.ListLaunchEvents(ctx, db.LaunchEventFilter{AccountID: f.account})
		if err != nil || len(evs) != 3 {
			t.Fatalf("events %v %v", evs, err)
		}
		if evs[0].Name != "page_opened" || evs[2].Name != "success" || evs[1].TokenID != n.TokenID || evs[1].LaunchID != n.LaunchID {
			t.Errorf("events %+v", evs)
		}
		more, _ := f.s.ListLaunchEvents(ctx, db.LaunchEventFilter{AccountID: f.account, AfterID: evs[1].ID})
		if len(more) != 1 || more[0].ID != evs[2].ID {
			t.Errorf("after %d: %+v", evs[1].ID, more)
		}
	})
}

func TestStore_RecordLaunchEvent_Refusals(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMinted)
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-1")); err != nil {
		t.Fatal(err)
	}
	var fe db.FieldErrors
	for _, tc := range []struct {
		name, launch, event, payload string
		want                         func(error) bool
	}{
		{"unknown link", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "open", "{}", func(err error) bool { return errors.Is(err, db.ErrNotFound) }},
		{"bad name", n.LaunchID, "Open!", "{}", func(err error) bool { return errors.As(err, &fe) }},
		{"array payload", n.LaunchID, "open", "[]", func(err error) bool { return errors.As(err, &fe) }},
		{"big payload", n.LaunchID, "open", `{"x":"` + strings.Repeat("a", 9000) + `"}`, func(err error) bool { return errors.As(err, &fe) }},
	} {
		if _, err := f.s.RecordLaunchEvent(ctx, tc.launch, tc.event, []byte(tc.payload)); !tc.want(err) {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}

	t.Run("quota", func(t *testing.T) {
		for i := range db.MaxLaunchEventsPerLink {
			if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "screen_transition", []byte(`{"i":`+fmt.Sprint(i)+`}`)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "open", nil); !errors.Is(err, db.ErrTooManyEvents) {
			t.Errorf("got %v, want ErrTooManyEvents", err)
		}
	})

	t.Run("revoked", func(t *testing.T) {
		n2 := f.newLink(t, db.ModeMinted)
		if _, err := f.s.CreateLink(ctx, f.op, n2, f.mint("pw-2")); err != nil {
			t.Fatal(err)
		}
		lt, err := f.s.RevokeLink(ctx, f.op, n2.TokenID)
		if err != nil || !lt.Revoked() {
			t.Fatal(lt, err)
		}
		if _, err := f.s.RevokeLink(ctx, f.op, n2.TokenID); err != nil {
			t.Fatal(err)
		}
		rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenRevoked})
		if len(rows) != 1 {
			t.Errorf("revoked twice: %d audit rows, want 1", len(rows))
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n2.LaunchID, "open", nil); !errors.Is(err, db.ErrLinkClosed) {
			t.Errorf("got %v, want ErrLinkClosed", err)
		}
		l, err := f.s.LaunchByID(ctx, n2.LaunchID)
		if err != nil || l.State != db.LaunchRevoked || l.Token != "" {
			t.Errorf("launch %+v %v", l, err)
		}
	})

	t.Run("expired", func(t *testing.T) {
		f.clk.t = f.clk.t.Add(61 * time.Minute)
		l, err := f.s.LaunchByID(ctx, n.LaunchID)
		if err != nil || l.State != db.LaunchExpired || l.Token != "" {
			t.Errorf("launch %+v %v", l, err)
		}
		f.clk.t = f.clk.t.Add(time.Hour)
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "exit", nil); !errors.Is(err, db.ErrLinkClosed) {
			t.Errorf("after the grace: got %v, want ErrLinkClosed", err)
		}
	})
}

func TestStore_MintOnOpen(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMintOnOpen, "identity")
	lt, err := f.s.CreateLink(ctx, f.op, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lt.Mints != 0 || !lt.LinkExpiresAt.Equal(f.clk.t.Add(7*24*time.Hour)) {
		t.Errorf("stored %+v", lt)
	}
	if _, err := f.s.CreateLink(ctx, f.op, f.newLink(t, db.ModeMintOnOpen), f.mint("x")); err == nil {
		t.Error("mint_on_open with a mint: got nil error")
	}

	l, err := f.s.LaunchByID(ctx, n.LaunchID)
	if err != nil || l.State != db.LaunchLive || !l.NeedsMint {
		t.Fatalf("launch %+v %v", l, err)
	}
	anon := db.Actor{IP: "198.51.100.7", Email: "launch page"}
	if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-a")); err != nil {
		t.Fatal(err)
	}
	l, _ = f.s.LaunchByID(ctx, n.LaunchID)
	if l.NeedsMint || l.Token != "jwt.pw-a.sig" {
		t.Errorf("after mint: %+v", l)
	}

	// Within the token's life the token is reused; near its end a new one is needed.
	f.clk.t = f.clk.t.Add(30 * time.Minute)
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); l.NeedsMint {
		t.Error("30 minutes in: wants a new mint")
	}
	f.clk.t = f.clk.t.Add(25 * time.Minute)
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint {
		t.Error("55 minutes in: reuses a token about to expire")
	}
	if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-b")); err != nil {
		t.Fatal(err)
	}
	// An "error" without the "open" Link fires first is not a Link error:
	// the token is reused.
	if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "error", []byte(`{"type":"platformError"}`)); err != nil {
		t.Fatal(err)
	}
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); l.NeedsMint || l.Token != "jwt.pw-b.sig" {
		t.Errorf("after a bare error: %+v", l)
	}
	// A Link error after opening ends the token: the next open mints again,
	// but not before the token is MinRemintAge old.
	for _, name := range []string{"open", "error"} {
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint || l.State != db.LaunchLive || l.RetryAfter != db.MinRemintAge {
		t.Errorf("right after an error: %+v", l)
	}
	f.clk.t = f.clk.t.Add(db.MinRemintAge)
	if l, _ = f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint || l.RetryAfter != 0 || l.Minting {
		t.Errorf("after an error, MinRemintAge later: %+v", l)
	}
	if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-c")); err != nil {
		t.Fatal(err)
	}

	// A webhook for any of the link's tokens counts.
	f.jobWebhook(t, "e-id", "identity", "pw-b", "error")
	f.clk.t = f.clk.t.Add(time.Minute)
	f.jobWebhook(t, "e-id2", "identity", "pw-c", "success")
	d, err := f.s.LinkByID(ctx, n.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Mints != 3 || d.LinkTokenID != "pw-c" || d.Lifecycle.State != db.StageSuccess {
		t.Errorf("mints %d current %s state %s", d.Mints, d.LinkTokenID, d.Lifecycle.State)
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintedOnOpen})
	if len(rows) != 3 || rows[0].ActorID != 0 || rows[0].IP != "198.51.100.7" {
		t.Errorf("minted-on-open audit rows: %+v", rows)
	}

	t.Run("expired tokens are forgotten", func(t *testing.T) {
		f.clk.t = f.clk.t.Add(2 * time.Hour)
		if err := f.s.PurgeExpiredLinkTokens(ctx); err != nil {
			t.Fatal(err)
		}
		if l, _ = f.s.LaunchByID(ctx, n.LaunchID); l.Token != "" {
			t.Errorf("token still readable: %+v", l)
		}
	})
}

func TestStore_MintFailureAndOverrideAudit(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	err := f.s.RecordMintFailure(ctx, f.op, db.MintFailure{AccountID: f.account, Jobs: []string{"identity"}, Mode: db.ModeMinted,
		Reason: "why", Kind: "rate_limited", Status: 429, Type: "RATE_LIMIT_EXCEEDED"})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintFailed})
	if len(rows) != 1 || rows[0].TargetID != f.account || !strings.Contains(rows[0].Detail, `"status":429`) {
		t.Errorf("audit %+v", rows)
	}
	list, _, _ := f.s.ListLinks(ctx, db.LinkFilter{})
	if len(list) != 0 {
		t.Errorf("a failed mint left %d tokens", len(list))
	}

	n := f.newLink(t, db.ModeMinted)
	n.IdentityOverride = "called the customer"
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-o")); err != nil {
		t.Fatal(err)
	}
	rows, _, _ = f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionIdentityOverride})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, "called the customer") {
		t.Errorf("override audit %+v", rows)
	}
	if _, err := f.s.VerifyAuditChain(ctx); err != nil {
		t.Error(err)
	}
}

func TestStore_PlatformCache(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	if _, err := s.CachedPlatform(ctx, "p"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	if _, err := s.CachePlatform(ctx, db.PlatformCaps{ID: "p", Name: "Workday", SupportedJobs: []string{"identity"}}); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, err := s.CachePlatform(ctx, db.PlatformCaps{ID: "p", Name: "Workday", SupportedJobs: []string{"identity", "income"}}); err != nil {
		t.Fatal(err)
	}
	p, err := s.CachedPlatform(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Known || !p.Supports("income") || !p.FetchedAt.Equal(clk.t) {
		t.Errorf("got %+v", p)
	}
}

func TestNewLinkIDs(t *testing.T) {
	a, l := db.NewLinkIDs()
	b, m := db.NewLinkIDs()
	if a == b || l == m || len(a) != 16 || !db.ValidLaunchID(l) || db.ValidLaunchID(l[:31]) || db.ValidLaunchID(l[:31]+"!") {
		t.Errorf("ids %s %s %s %s", a, b, l, m)
	}
}

func TestStore_ClaimMint(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	anon := db.Actor{IP: "198.51.100.7", Email: "launch page"}
	n := f.newLink(t, db.ModeMintOnOpen, "identity")
	if _, err := f.s.CreateLink(ctx, f.op, n, nil); err != nil {
		t.Fatal(err)
	}
	claims := 0
	claim := func(t *testing.T) db.Launch {
		t.Helper()
		l, err := f.s.ClaimMint(ctx, anon, n.LaunchID)
		if err != nil {
			t.Fatal(err)
		}
		if l.Claimed {
			claims++
		}
		return l
	}

	t.Run("concurrent claims: one wins, the others wait", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]db.Launch, 10)
		for i := range results {
			wg.Go(func() {
				l, err := f.s.ClaimMint(ctx, anon, n.LaunchID)
				if err != nil {
					t.Error(err)
				}
				results[i] = l
			})
		}
		wg.Wait()
		won, waiting := 0, 0
		for _, l := range results {
			switch {
			case l.Claimed:
				won++
			case l.Minting:
				waiting++
			}
		}
		if won != 1 || waiting != 9 {
			t.Fatalf("%d claims won, %d waiting; want 1 and 9", won, waiting)
		}
		claims++
		if l, _ := f.s.LaunchByID(ctx, n.LaunchID); !l.NeedsMint || !l.Minting {
			t.Errorf("while minting: %+v", l)
		}
		if err := f.s.AddMint(ctx, anon, n.TokenID, *f.mint("pw-1")); err != nil {
			t.Fatal(err)
		}
		if l := claim(t); l.Claimed || l.NeedsMint || l.Token != "jwt.pw-1.sig" {
			t.Errorf("after the mint: %+v", l)
		}
	})

	t.Run("a lease left behind runs out", func(t *testing.T) {
		f.clk.t = f.clk.t.Add(55 * time.Minute) // the token is about to expire
		if l := claim(t); !l.Claimed {
			t.Fatalf("got %+v, want the claim", l)
		}
		f.clk.t = f.clk.t.Add(db.MintLease - time.Second)
		if l := claim(t); l.Claimed || !l.Minting {
			t.Errorf("within the lease: %+v", l)
		}
		f.clk.t = f.clk.t.Add(time.Second)
		if l := claim(t); !l.Claimed {
			t.Errorf("after the lease: %+v", l)
		}
	})

	t.Run("a failed mint holds off the next attempt", func(t *testing.T) {
		if err := f.s.RecordMintFailure(ctx, anon, db.MintFailure{AccountID: f.account, Mode: db.ModeMintOnOpen, Kind: "server_error", TokenID: n.TokenID}); err != nil {
			t.Fatal(err)
		}
		if l, _ := f.s.LaunchByID(ctx, n.LaunchID); l.Minting || l.RetryAfter != db.MintRetryDelay {
			t.Errorf("after a failure: %+v", l)
		}
		if l := claim(t); l.Claimed {
			t.Error("claimed during the retry delay")
		}
		f.clk.t = f.clk.t.Add(db.MintRetryDelay)
		if l := claim(t); !l.Claimed {
			t.Errorf("after the retry delay: %+v", l)
		}
	})

	t.Run("the budget closes the link, audited once", func(t *testing.T) {
		for claims < db.MaxMintsPerLink {
			f.clk.t = f.clk.t.Add(db.MintLease)
			if l := claim(t); !l.Claimed {
				t.Fatalf("claim %d: %+v", claims+1, l)
			}
		}
		f.clk.t = f.clk.t.Add(db.MintLease)
		for range 3 {
			if l := claim(t); l.Claimed || l.State != db.LaunchClosed || l.Link.ClosedReason != db.ClosedMintBudget {
				t.Fatalf("past the budget: %+v", l)
			}
		}
		if claims != db.MaxMintsPerLink {
			t.Errorf("%d claims, want %d", claims, db.MaxMintsPerLink)
		}
		rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenClosed})
		if len(rows) != 1 || !strings.Contains(rows[0].Detail, `"reason":"mint_budget"`) {
			t.Errorf("closed audit rows: %+v", rows)
		}
		if _, err := f.s.RecordLaunchEvent(ctx, n.LaunchID, "open", nil); !errors.Is(err, db.ErrLinkClosed) {
			t.Errorf("event on a closed link: got %v, want ErrLinkClosed", err)
		}
		d, _ := f.s.LinkByID(ctx, n.TokenID)
		if d.Lifecycle.State != db.StageExpired || d.Lifecycle.Launch != db.LaunchClosed || d.MintAttempts != db.MaxMintsPerLink {
			t.Errorf("lifecycle %+v, attempts %d", d.Lifecycle, d.MintAttempts)
		}
	})
}

func TestStore_CloseLink(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMintOnOpen)
	if _, err := f.s.CreateLink(ctx, f.op, n, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := f.s.CloseLink(ctx, db.Actor{Email: "launch page"}, n.TokenID, db.ClosedTargetArchived); err != nil {
			t.Fatal(err)
		}
	}
	rows, _, _ := f.s.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenClosed, TargetID: n.TokenID})
	if len(rows) != 1 || !strings.Contains(rows[0].Detail, db.ClosedTargetArchived) {
		t.Errorf("closed audit rows: %+v", rows)
	}
	l, err := f.s.LaunchByID(ctx, n.LaunchID)
	if err != nil || l.State != db.LaunchClosed || l.NeedsMint || l.Link.ClosedReason != db.ClosedTargetArchived {
		t.Errorf("launch %+v %v", l, err)
	}
	if l, _ := f.s.ClaimMint(ctx, db.Actor{}, n.LaunchID); l.Claimed {
		t.Error("a closed link was claimed")
	}
	if err := f.s.CheckLaunchEvents(ctx, n.LaunchID); !errors.Is(err, db.ErrLinkClosed) {
		t.Errorf("events: got %v, want ErrLinkClosed", err)
	}
}

// TestStore_CheckLaunchEvents: the read-side check answers while another
// connection holds the write lock, so a junk launch id never waits for (or
// takes) the writer.
func TestStore_CheckLaunchEvents(t *testing.T) {
	f := newODUFixture(t)
	ctx := context.Background()
	n := f.newLink(t, db.ModeMinted)
	if _, err := f.s.CreateLink(ctx, f.op, n, f.mint("pw-1")); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", f.s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)

	// A check that needed the writer would wait out the busy timeout
	// behind the open transaction and fail: success proves the read pool.
	cctx := ctx
	if err := f.s.CheckLaunchEvents(cctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown link: got %v, want ErrNotFound", err)
	}
	if err := f.s.CheckLaunchEvents(cctx, n.LaunchID); err != nil {
		t.Errorf("live link: got %v", err)
	}
}
