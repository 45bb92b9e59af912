package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

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

	t.Run("the link's events", func(t *testing.T) {
		d, err := f.s.LinkByID(ctx, n.TokenID)
		evs := d.Events
		if err != nil || len(evs) != 3 {
			t.Fatalf("events %v %v", evs, err)
		}
		if evs[0].Name != "page_opened" || evs[2].Name != "success" || evs[1].TokenID != n.TokenID || evs[1].LaunchID != n.LaunchID {
			t.Errorf("events %+v", evs)
		}
	})
}

func TestNewLinkIDs(t *testing.T) {
	a, l := db.NewLinkIDs()
	b, m := db.NewLinkIDs()
	if a == b || l == m || len(a) != 16 || !db.ValidLaunchID(l) || db.ValidLaunchID(l[:31]) || db.ValidLaunchID(l[:31]+"!") {
		t.Errorf("ids %s %s %s %s", a, b, l, m)
	}
}
