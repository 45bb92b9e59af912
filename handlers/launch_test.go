package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel/sandbox"
)

// mintOnOpenLink creates a mint-on-open link on account and returns its
// token id and launch id.
func (s *testServer) mintOnOpenLink(t *testing.T, op *http.Cookie, account string, form url.Values) (string, string) {
	t.Helper()
	if form == nil {
		form = url.Values{"jobs": {"identity"}, "reason": {"refresh"}}
	}
	form.Set("mode", db.ModeMintOnOpen)
	tok := s.mintOK(t, op, account, form)
	return tok, s.launchIDOf(t, tok)
}

// postEventFrom posts a launch event from a remote address.
func (s *testServer) postEventFrom(t *testing.T, remoteAddr, launchID, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/l/"+launchID+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.RemoteAddr = remoteAddr
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func (s *testServer) mintCount(t *testing.T, tokenID string) int {
	t.Helper()
	d, err := s.store.LinkByID(context.Background(), tokenID)
	if err != nil {
		t.Fatal(err)
	}
	return len(d.History)
}

func TestLaunch_ConcurrentOpensMintOnce(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-race", "user_good")
	op := s.login(t, "operator@example.com")
	tok, launch := s.mintOnOpenLink(t, op, account, nil)

	// A slow Pinwheel keeps the first mint in flight while the others arrive.
	s.emu.SetFaults(sandbox.Faults{Latency: 300 * time.Millisecond, Paths: []string{"/v1/link_tokens"}})
	defer s.emu.SetFaults(sandbox.Faults{})
	before := len(s.linkTokenRequests())
	recs := make([]*httptest.ResponseRecorder, 10)
	var wg sync.WaitGroup
	for i := range recs {
		wg.Go(func() { recs[i] = s.do(t, "GET", "/l/"+launch, nil) })
	}
	wg.Wait()
	if n := len(s.linkTokenRequests()) - before; n != 1 {
		t.Errorf("%d concurrent opens called Pinwheel %d times, want once", len(recs), n)
	}
	l, _ := s.store.LaunchByID(context.Background(), launch)
	for i, rec := range recs {
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-link-token="`+l.Token+`"`) {
			t.Errorf("open %d: got %d, want the page with the one token", i, rec.Code)
		}
	}
	if n := s.mintCount(t, tok); n != 1 {
		t.Errorf("%d tokens stored, want 1", n)
	}
}

func TestLaunch_EventSpamCannotMintPastTheBudget(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-spam", "user_good")
	op := s.login(t, "operator@example.com")
	tok, launch := s.mintOnOpenLink(t, op, account, nil)
	if rec := s.do(t, "GET", "/l/"+launch, nil); rec.Code != http.StatusOK {
		t.Fatalf("first open: %d", rec.Code)
	}
	endSession := func(t *testing.T) {
		t.Helper()
		for _, b := range []string{`{"name":"open"}`, `{"name":"error","payload":{"type":"platformError"}}`} {
			if rec := s.postEvent(t, launch, b); rec.Code != http.StatusNoContent {
				t.Fatalf("event %s: %d %s", b, rec.Code, rec.Body.String())
			}
		}
	}

	t.Run("reported errors do not re-mint a young token", func(t *testing.T) {
		for range 5 {
			endSession(t)
			rec := s.do(t, "GET", "/l/"+launch, nil)
			if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "<script") || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("open after a reported error: got %d", rec.Code)
			}
		}
		if n := s.mintCount(t, tok); n != 1 {
			t.Errorf("%d tokens, want 1", n)
		}
	})

	t.Run("at most the budget, then a closed page", func(t *testing.T) {
		var last *httptest.ResponseRecorder
		for range db.MaxMintsPerLink + 2 {
			s.clk.add(db.MinRemintAge)
			endSession(t)
			if last = s.do(t, "GET", "/l/"+launch, nil); last.Code != http.StatusOK {
				break
			}
		}
		if n := s.mintCount(t, tok); n != db.MaxMintsPerLink {
			t.Errorf("%d tokens, want the budget %d", n, db.MaxMintsPerLink)
		}
		body := last.Body.String()
		if last.Code != http.StatusGone || !strings.Contains(body, "This link has been used too many times") || !strings.Contains(body, "Ask Acme Payroll Co for a new link.") {
			t.Errorf("past the budget: got %d %s", last.Code, body)
		}
		before := len(s.linkTokenRequests())
		s.clk.add(db.MinRemintAge)
		if rec := s.do(t, "GET", "/l/"+launch, nil); rec.Code != http.StatusGone || len(s.linkTokenRequests()) != before {
			t.Errorf("a closed link: got %d, %d more mints", rec.Code, len(s.linkTokenRequests())-before)
		}
		if rec := s.postEvent(t, launch, `{"name":"open"}`); rec.Code != http.StatusGone {
			t.Errorf("event on a closed link: %d", rec.Code)
		}
		rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionLinkTokenClosed, TargetID: tok})
		if len(rows) != 1 {
			t.Errorf("%d closed audit rows, want 1", len(rows))
		}
	})
}

func TestLaunch_ArchivedDepositAccountClosesTheLink(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-archived", "user_good")
	dep := s.addDeposit(t, "Payroll Checking", "123456789")
	op := s.login(t, "operator@example.com")
	tok, launch := s.mintOnOpenLink(t, op, account, switchForm(dep.ID))
	if _, err := s.store.ArchiveDepositAccount(context.Background(), db.Actor{StaffID: 1, Email: "admin@example.com"}, dep.ID); err != nil {
		t.Fatal(err)
	}
	before := len(s.linkTokenRequests())
	for i := range 3 {
		rec := s.do(t, "GET", "/l/"+launch, nil)
		body := rec.Body.String()
		if rec.Code != http.StatusGone || !strings.Contains(body, "This link can no longer be used") || !strings.Contains(body, "Ask Acme Payroll Co for a new link.") ||
			strings.Contains(body, "try again") || strings.Contains(body, "<script") {
			t.Fatalf("open %d: got %d %s", i+1, rec.Code, body)
		}
	}
	if len(s.linkTokenRequests()) != before {
		t.Error("an archived deposit account reached Pinwheel")
	}
	ctx := context.Background()
	closed, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenClosed, TargetID: tok})
	failed, _, _ := s.store.ListAudit(ctx, db.AuditFilter{Action: db.ActionLinkTokenMintFailed, TargetID: tok})
	if len(closed) != 1 || !strings.Contains(closed[0].Detail, db.ClosedTargetArchived) || len(failed) != 0 {
		t.Errorf("audit: %d closed rows %+v, %d mint_failed rows; want one closed row", len(closed), closed, len(failed))
	}
	if n := s.eventCount(t, tok); n != 0 {
		t.Errorf("%d launch events stored, want none", n)
	}
}

func TestLaunchEvents_UnknownLinksCostNoWrite(t *testing.T) {
	s := newServer(t, withEmulator(emuOptions{}))
	account := s.connectAccount(t, "eu-junk", "user_good")
	op := s.login(t, "operator@example.com")
	tok := s.mintOK(t, op, account, url.Values{"jobs": {"identity"}, "reason": {"refresh"}, "mode": {"mint"}})
	launch := s.launchIDOf(t, tok)

	t.Run("unknown ids answer 404 while the writer is busy", func(t *testing.T) {
		// The busy timeout lets BEGIN IMMEDIATE wait for a webhook the
		// ingester may be writing meanwhile.
		raw, err := db.Connect(s.store.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		conn, err := raw.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// SQLite: hold the one write lock. PostgreSQL: hold the tables a
		// write would touch (a lookup that wrote would then wait until the
		// test times out).
		lock := `BEGIN IMMEDIATE`
		if s.store.Backend() == "postgres" {
			lock = `BEGIN; LOCK TABLE launch_events, link_tokens IN EXCLUSIVE MODE`
		}
		if _, err := conn.ExecContext(context.Background(), lock); err != nil {
			t.Fatal(err)
		}
		// A lookup that needed the writer would wait out the busy timeout
		// behind the open transaction and fail (500): a 404 proves the
		// read pool answered, with no timing to measure.
		for _, id := range []string{strings.Repeat("C", 32), strings.Repeat("D", 32)} {
			if rec := s.postEvent(t, id, `{"name":"open"}`); rec.Code != http.StatusNotFound {
				t.Errorf("%s: got %d, want 404", id, rec.Code)
			}
		}
		conn.ExecContext(context.Background(), `ROLLBACK`)
	})

	t.Run("per remote address", func(t *testing.T) {
		// The bucket refills 5 a second: with the clock stopped exactly
		// its burst passes, however long the requests take.
		s.clk.freeze()
		defer s.clk.thaw()
		codes := map[int]int{}
		for i := range 320 {
			id := strings.Repeat("E", 28) + itoa(int64(1000+i))
			codes[s.postEventFrom(t, "203.0.113.9:4000", id, `{"name":"open"}`).Code]++
		}
		if codes[http.StatusNotFound] != 300 || codes[http.StatusTooManyRequests] != 20 {
			t.Errorf("codes from one address: %v, want 300 × 404 and 20 × 429", codes)
		}
		if rec := s.postEventFrom(t, "203.0.113.10:4000", launch, `{"name":"open"}`); rec.Code != http.StatusNoContent {
			t.Errorf("another address: got %d", rec.Code)
		}
	})
}
