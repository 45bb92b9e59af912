package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// emuClock is the emulator's clock in this test: it moves only when the
// client waits out a Retry-After, so the rate limit never depends on how
// fast the machine runs the test.
type emuClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *emuClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *emuClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestPayFetch_260PaystubsWithinTheRateLimit: five years of weekly pay
// come through pagination (pages of 100) from the emulator with its
// per-secret rate limit on; Linkdesk's client waits out each 429's
// Retry-After and every paystub is stored once.
func TestPayFetch_260PaystubsWithinTheRateLimit(t *testing.T) {
	ctx := context.Background()
	clk := &emuClock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	emu, err := sandbox.New(sandbox.Config{StatePath: filepath.Join(t.TempDir(), "sb.db"), Secret: "sk_rate", PublicURL: srv.URL + "/sandbox",
		Now: clk.Now, RateLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", emu))
	var waits []time.Duration
	var mu sync.Mutex
	client := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/sandbox/v1", Secret: "sk_rate",
		Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			waits = append(waits, d)
			mu.Unlock()
			clk.advance(d)
			return nil
		}})

	// The end user connects five years of weekly pay.
	d := &sandbox.Driver{BaseURL: srv.URL + "/sandbox", Secret: "sk_rate"}
	if err := d.SetPayProfile(ctx, "eu-5y", "", sandbox.PayProfile{Kind: sandbox.PayKindHourly, Frequency: sandbox.FreqWeekly, HistoryMonths: 60}); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Second)
	lt, err := client.CreateLinkToken(ctx, pinwheel.LinkTokenCreate{OrgName: "Linkdesk", EndUserID: "eu-5y", RequiredJobs: []string{"paystubs"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Complete(ctx, lt.Token, sandbox.SessionPlan{})
	if err != nil {
		t.Fatal(err)
	}
	acc := res.AccountID

	// Linkdesk heard of the account and of the finished sync.
	s, _ := setup(t,
		fmt.Appendf(nil, `{"event_id": "a1", "event": "account.added", "payload": {"created_at": "2026-11-26T12:00:00+00:00", "link_token_id": "tok",
"platform_id": "p", "connected": true, "monitoring_status": "active", "end_user_id": "eu-5y", "account_id": %q, "platform_name": "Workday"}}`, acc),
		milestone("m1", "paystubs.fully_synced", acc, 1))
	clk.advance(time.Second) // a fresh bucket: 2 requests, the third waits
	waits = nil
	settle(t, s, client)
	items, err := s.PayItems(ctx, acc, db.FetchPaystubs)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(items); n < 259 || n > 262 {
		t.Fatalf("%d paystubs stored", n)
	}
	ids := map[string]bool{}
	for _, it := range items {
		ids[it.ItemID] = true
	}
	if len(ids) != len(items) {
		t.Errorf("%d distinct ids in %d rows", len(ids), len(items))
	}
	if len(waits) == 0 || waits[0] != time.Second {
		t.Errorf("the client did not wait out the limit: %v", waits)
	}
	var pages int
	for _, r := range emu.Requests() {
		if r.Method == "GET" && r.Path == "/v1/accounts/"+acc+"/paystubs" {
			pages++
		}
	}
	if pages < 3 || pages > 3+len(waits) {
		t.Errorf("%d page requests (with %d waits) for %d paystubs", pages, len(waits), len(items))
	}
	st, _ := s.PaySyncState(ctx, acc, db.FetchPaystubs)
	if st.FullFetchedAt.IsZero() || st.Waiting() {
		t.Errorf("sync %+v", st)
	}
}
