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
	"linkdesk/demo"
	"linkdesk/handlers"
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
	dir := t.TempDir()
	store, err := db.Open(ctx, filepath.Join(dir, "ld.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ing, err := store.NewIngester(ctx, db.IngestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bg, stop := context.WithCancel(ctx)
	defer stop()
	ingDone := make(chan error, 1)
	go func() { ingDone <- ing.Run(bg) }()
	defer func() { stop(); <-ingDone }()

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	emu, err := sandbox.New(sandbox.Config{StatePath: filepath.Join(dir, "sb.db"), Secret: secret, PublicURL: srv.URL + "/sandbox",
		PendingDelay: 50 * time.Millisecond, AllowHTTPWebhooks: true,
		// Off: the fetch worker below runs at 1000/s on the wall clock, so a
		// limit would make the test's duration depend on machine speed.
		RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	emuDone := make(chan error, 1)
	go func() { emuDone <- emu.Run(bg) }()
	defer func() { stop(); <-emuDone }()
	client := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/sandbox/v1", Secret: secret})
	h := handlers.New(handlers.Deps{Store: store, Pinwheel: client, Ingest: ing}, handlers.Config{
		SessionHashKey: []byte(strings.Repeat("h", 64)), SessionBlockKey: []byte(strings.Repeat("b", 32)),
		PinwheelMode: pinwheel.ModeEmulator, PinwheelSecret: secret,
	})
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", emu))
	mux.Handle("/", web.New(h, store, web.Options{}))
	if _, err := client.CreateWebhook(ctx, pinwheel.WebhookCreate{URL: srv.URL + "/webhooks/pinwheel", Status: pinwheel.WebhookActive,
		EnabledEvents: pinwheel.SubscribedEvents(), Version: pinwheel.DefaultVersion}); err != nil {
		t.Fatal(err)
	}
	fetches := worker.Fetches(client, store)
	fetches.Rate = 0
	jobs := worker.NewRunner(store, worker.Options{Poll: 10 * time.Millisecond})
	jobs.Add(fetches)
	fetchDone := make(chan error, 1)
	go func() { fetchDone <- jobs.Run(bg) }()
	defer func() { stop(); <-fetchDone }()

	var hooked []demo.Account
	cfg := demo.Config{Store: store, Client: client, Driver: &sandbox.Driver{BaseURL: srv.URL + "/sandbox", Secret: secret}, EndUsers: 6, Accounts: 9,
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
