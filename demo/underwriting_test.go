package demo_test

import (
	"context"
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
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/web"
	"linkdesk/worker"
)

// TestUnderwriting_BuildsBorrowers: the underwriting demo's end users get
// the histories their reports are meant to show: three jobs at once (one
// of them gig work, one salary with two bad paystubs), and a change of job
// with a gap between.
func TestUnderwriting_BuildsBorrowers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := db.Open(ctx, dbtest.Path(t, "ld.db"), db.Options{})
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
	var done []chan error
	start := func(run func(context.Context) error) {
		ch := make(chan error, 1)
		go func() { ch <- run(bg) }()
		done = append(done, ch)
	}
	defer func() {
		stop()
		for _, ch := range done {
			<-ch
		}
	}()
	start(ing.Run)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	emu, err := sandbox.New(sandbox.Config{StatePath: filepath.Join(dir, "sb.db"), Secret: secret, PublicURL: srv.URL + "/sandbox",
		AllowHTTPWebhooks: true, RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	start(emu.Run)
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
	start(jobs.Run)

	cfg := demo.Config{Store: store, Client: client, Driver: &sandbox.Driver{BaseURL: srv.URL + "/sandbox", Secret: secret}}
	if err := demo.Underwriting(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	reports := func() (a, b db.IncomeReport, ok bool) {
		a, err1 := store.EndUserIncomeReport(ctx, demo.UnderwritingEndUsers[0])
		b, err2 := store.EndUserIncomeReport(ctx, demo.UnderwritingEndUsers[1])
		if err1 != nil || err2 != nil || len(a.Accounts) != 3 || len(b.Accounts) != 2 {
			return a, b, false
		}
		for _, r := range []db.IncomeReport{a, b} {
			for _, acc := range r.Accounts {
				if acc.Paystubs.Sync.FullFetchedAt.IsZero() || acc.Paystubs.Sync.Waiting() || acc.Employment == nil {
					return a, b, false
				}
			}
		}
		return a, b, true
	}
	var a, b db.IncomeReport
	deadline := time.Now().Add(2 * time.Minute)
	for ok := false; !ok; a, b, ok = reports() {
		if time.Now().After(deadline) {
			t.Fatal("the borrowers' data did not arrive")
		}
		time.Sleep(50 * time.Millisecond)
	}
	kinds := map[string]bool{}
	flagged := 0
	for _, acc := range a.Accounts {
		kinds[acc.Frequency] = true
		flagged += len(acc.Flagged)
		if acc.Gig != nil && acc.Gig.Last52.Weeks > 0 {
			kinds["gig"] = true
		}
	}
	if !kinds[db.FrequencyBiweekly] || !kinds[db.FrequencyWeekly] || !kinds["gig"] || flagged < 3 {
		t.Errorf("borrower 1: frequencies %v, %d flagged", kinds, flagged)
	}
	if b.Total == nil || len(b.Total.Gaps) == 0 {
		t.Fatalf("borrower 2: no gap between jobs: %+v", b.Total)
	}
	// The total is what arrived: the ended job's last months and the new
	// job's first, each counted once.
	var sum int64
	for _, acc := range b.Accounts {
		sum += acc.Annualised[2].SumGross
	}
	if tot := b.Total.Annualised[2]; tot.SumGross != sum || tot.Gross >= sum*2 || tot.Basis != "days" {
		t.Errorf("borrower 2, 12 months: total %+v, accounts received %d", tot, sum)
	}
	employers := map[string]bool{}
	for _, acc := range append(a.Accounts, b.Accounts...) {
		employers[acc.Employment.EmployerName] = true
	}
	for _, e := range []string{"Stark Industries", "Café Olé Roasters", "DoorDash", "Globex Corporation", "Initech"} {
		if !employers[e] {
			t.Errorf("no account with %s: %v", e, employers)
		}
	}
	// Once only.
	if err := demo.Underwriting(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if r, _ := store.EndUserIncomeReport(ctx, demo.UnderwritingEndUsers[0]); len(r.Accounts) != 3 {
		t.Errorf("a second run added accounts: %d", len(r.Accounts))
	}
}
