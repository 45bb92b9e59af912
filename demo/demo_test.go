package demo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/demo"
	"linkdesk/handlers"
	"linkdesk/odu"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/web"
	"linkdesk/worker"
)

const secret = "sk_demo_test_secret"

// TestRun_BuildsTheWorldFromWebhooks wires Linkdesk (real router, ingester
// and job runner) and the emulator on one loopback server, builds a small
// demo world and checks that it arrived as webhooks, then that a second run
// does nothing.
func TestRun_BuildsTheWorldFromWebhooks(t *testing.T) {
	ctx := context.Background()
	store, client, base := startRig(t)
	_ = base
	var hooked []demo.Account
	cfg := demo.Config{Store: store, Client: client, Driver: &sandbox.Driver{BaseURL: base + "/sandbox", Secret: secret}, EndUsers: 6, Accounts: 9,
		OnAccount: func(ctx context.Context, a demo.Account) error { hooked = append(hooked, a); return nil }}
	if err := demo.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if len(hooked) != 9 {
		t.Errorf("OnAccount saw %d accounts, want 9", len(hooked))
	}

	// Webhooks and fetches are asynchronous, and delivery is untidy (job
	// events may come before account.added): wait until every account has
	// its account.added and every good one has its identity fetched.
	complete := func() string {
		if tot, _ := store.Totals(ctx); tot["accounts"] != 9 || tot["end_users"] != 6 {
			return fmt.Sprintf("totals %v", tot)
		}
		for _, a := range hooked {
			if o, _ := store.AccountOverview(ctx, a.AccountID); o.Account.PlatformID == "" || o.Account.MonitoringStatus == "" {
				return "no account.added yet for " + a.AccountID
			}
		}
		for _, a := range hooked {
			if a.Username != "user_good" {
				continue
			}
			if o, _ := store.AccountOverview(ctx, a.AccountID); o.Latest[db.FetchIdentity].ID == 0 {
				return "no identity snapshot for " + a.AccountID
			}
		}
		return ""
	}
	deadline := time.Now().Add(2 * time.Minute)
	for missing := complete(); missing != ""; missing = complete() {
		if time.Now().After(deadline) {
			t.Fatalf("world incomplete after 20s: %s", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, a := range hooked {
		o, err := store.AccountOverview(ctx, a.AccountID)
		acc := o.Account
		if err != nil {
			t.Fatalf("account %s of %s: %v", a.AccountID, a.EndUserID, err)
		}
		if acc.EndUserID != a.EndUserID || acc.PlatformID != a.PlatformID || acc.PlatformName == "" || acc.MonitoringStatus == "" {
			t.Errorf("account = %+v, want it from webhooks of %+v", acc, a)
		}
	}

	// A second run (a restart) changes nothing.
	before, _ := store.Totals(ctx)
	hooked = nil
	if err := demo.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	after, _ := store.Totals(ctx)
	if len(hooked) != 0 || after["link_tokens"] != before["link_tokens"] {
		t.Errorf("second run drove %d sessions; link tokens %d → %d", len(hooked), before["link_tokens"], after["link_tokens"])
	}

	// The health story (demo/health.go): one platform alert resolved, one
	// left open, through the emulator's knobs and the real rule.
	if err := demo.Health(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	open, _, _ := store.ListAlerts(ctx, db.AlertQuery{Rule: db.RulePlatformDegraded})
	resolved, _, _ := store.ListAlerts(ctx, db.AlertQuery{Rule: db.RulePlatformDegraded, State: db.AlertResolved})
	if len(open) != 1 || len(resolved) != 1 || open[0].Scope == resolved[0].Scope || !strings.HasPrefix(open[0].Subject, "Paychex: ") ||
		!strings.HasPrefix(resolved[0].Subject, "Paycom: ") || resolved[0].Resolution != db.ResolvedCleared {
		t.Fatalf("demo alerts: open %+v, resolved %+v", open, resolved)
	}
	before, _ = store.Totals(ctx)
	if err := demo.Health(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if after, _ := store.Totals(ctx); after["link_tokens"] != before["link_tokens"] {
		t.Error("a second health run drove sessions")
	}
}

// startRig wires Linkdesk (real router, ingester and job runner with the
// fetches and the campaign jobs) and the emulator on one loopback server,
// with the emulator's webhooks registered to Linkdesk; everything stops
// at the end of the test (cleanups run last first). It returns the store,
// a Pinwheel client and the server's base URL.
func startRig(t *testing.T) (*db.Store, *pinwheel.Client, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := db.Open(ctx, dbtest.Path(t, "ld.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ing, err := store.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	ingDone := make(chan error, 1)
	go func() { ingDone <- ing.Run(bg) }()
	t.Cleanup(func() { stop(); <-ingDone })

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	emu, err := sandbox.New(sandbox.Config{StatePath: filepath.Join(dir, "sb.db"), Secret: secret, PublicURL: srv.URL + "/sandbox",
		PendingDelay: 50 * time.Millisecond, AllowHTTPWebhooks: true,
		// Off: the fetch worker below runs at 1000/s on the wall clock, so a
		// limit would make the test's duration depend on machine speed.
		RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	emuDone := make(chan error, 1)
	go func() { emuDone <- emu.Run(bg) }()
	t.Cleanup(func() { stop(); <-emuDone })
	client := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/sandbox/v1", Secret: secret})
	jobs := worker.NewRunner(store, worker.Options{Poll: 10 * time.Millisecond})
	h := handlers.New(handlers.Deps{Store: store, Pinwheel: client, Ingest: ing, Wake: jobs.Wake}, handlers.Config{
		BaseURL: srv.URL, SessionHashKey: []byte(strings.Repeat("h", 64)), SessionBlockKey: []byte(strings.Repeat("b", 32)),
		PinwheelMode: pinwheel.ModeEmulator, PinwheelSecret: secret, EmulatorURL: srv.URL + "/sandbox",
	})
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", emu))
	mux.Handle("/", web.New(h, store, web.Options{}))
	if _, err := client.CreateWebhook(ctx, pinwheel.WebhookCreate{URL: srv.URL + "/webhooks/pinwheel", Status: pinwheel.WebhookActive,
		EnabledEvents: pinwheel.SubscribedEvents(), Version: pinwheel.DefaultVersion}); err != nil {
		t.Fatal(err)
	}
	fetches := worker.Fetches(client, store)
	fetches.Rate = 0
	jobs.Add(fetches)
	jobs.Add(worker.CampaignLaunches(odu.New(odu.Config{Store: store, Client: client}), store))
	jobs.Add(worker.CampaignHolds(store))
	jobs.Add(worker.CohortAllocations(store))
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- jobs.Run(bg) }()
	t.Cleanup(func() { stop(); <-jobsDone })
	return store, client, srv.URL
}

// TestRunCampaign_AFinishedCampaignWithAResponse builds a demo world, then
// the demo campaign through the real paths, and checks that it ended with
// members, users who went through Link, conversions, an uplift and paid
// incentives; a second run does nothing.
func TestRunCampaign_AFinishedCampaignWithAResponse(t *testing.T) {
	ctx := context.Background()
	store, client, base := startRig(t)
	if _, err := store.CreateStaff(ctx, db.Actor{Email: "test"}, db.StaffCreate{Email: "admin@example.com", Name: "Admin", Role: db.RoleAdmin,
		Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	cfg := demo.Config{Store: store, Client: client, Driver: &sandbox.Driver{BaseURL: base + "/sandbox", Secret: secret},
		EndUsers: 60, Accounts: 80, LinkdeskURL: base}
	if err := demo.Run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := demo.RunCampaign(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	list, _, err := store.ListCampaigns(ctx, db.CampaignFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("campaigns %v %v", list, err)
	}
	c := list[0]
	r, err := store.CampaignResults(ctx, c.Campaign)
	if err != nil {
		t.Fatal(err)
	}
	tr := r.Treatment
	t.Logf("demo campaign: %d members (%d treatment, %d holdout); treatment funnel opened %d, Link %d, success %d, converted %d (%.0f%%), holdout converted %d; uplift %+.1f pts [%+.1f, %+.1f]",
		c.Members, c.Treatment, c.Holdout, tr.PageOpened, tr.LinkOpened, tr.Success, tr.Converted, 100*tr.Conversion(), r.Holdout.Converted,
		100*r.Uplift.Estimate, 100*r.Uplift.Low, 100*r.Uplift.High)
	if c.State != db.CampaignEnded || c.Treatment < 20 || c.Holdout == 0 || tr.PageOpened == 0 || tr.LinkOpened == 0 || tr.Success == 0 ||
		tr.Converted == 0 || !r.HasUplift || tr.DeltaSum <= 0 || len(r.Payouts) != 1 || tr.Ledger[db.LedgerPaid] == 0 {
		t.Errorf("demo campaign %s: %d treatment, %d holdout; results %+v, payouts %d", c.State, c.Treatment, c.Holdout, tr, len(r.Payouts))
	}
	if err := demo.RunCampaign(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := store.ListCampaigns(ctx, db.CampaignFilter{}); len(again) != 1 {
		t.Errorf("a second run made %d campaigns", len(again))
	}
}
