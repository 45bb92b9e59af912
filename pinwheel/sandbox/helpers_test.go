package sandbox_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

const testSecret = "test_api_secret_0123456789abcdef"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is an emulator mounted under /sandbox of a real HTTP server, the way
// Linkdesk mounts it, with its sender running.
type env struct {
	t       *testing.T
	emu     *sandbox.Emulator
	srv     *httptest.Server
	base    string // PublicURL
	clock   *clock
	path    string // state file
	handler atomic.Pointer[sandbox.Emulator]
	stop    func() // stops Run and closes the emulator
}

type envOption func(*sandbox.Config)

// tidy makes deliveries go out in the order generated (no hold-backs or
// redeliveries), for tests that assert an order.
func tidy(c *sandbox.Config) { c.Delivery.Tidy = true }

// newEnv starts a server, an emulator behind it and its Run loop. Options
// adjust the Config; by default retries and the pending delay are short.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Microsecond)},
		path: filepath.Join(t.TempDir(), "sandbox.db")}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.handler.Load().ServeHTTP(w, r)
	})))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.base = e.srv.URL + "/sandbox"
	e.start(opts...)
	t.Cleanup(func() { e.stop() })
	return e
}

// start opens an emulator on e.path and runs it.
func (e *env) start(opts ...envOption) {
	e.t.Helper()
	cfg := sandbox.Config{
		StatePath:    e.path,
		Secret:       testSecret,
		PublicURL:    e.base,
		Now:          e.clock.Now,
		PendingDelay: 300 * time.Millisecond,
		RetryBase:    20 * time.Millisecond,
		RetryMax:     200 * time.Millisecond,
		// The receivers are plain-http test servers on loopback.
		AllowHTTPWebhooks: true,
		// The test clock stands still unless a test moves it, so a
		// limiter on it would refuse everything after the first second's
		// worth; ratelimit_test.go turns it on.
		RateLimit: -1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	emu, err := sandbox.New(cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	e.emu = emu
	e.handler.Store(emu)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emu.Run(ctx) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
			if err := emu.Close(); err != nil {
				e.t.Errorf("Close: %v", err)
			}
		})
	}
}

// waitDelivered waits until the emulator's state file holds no pending
// delivery, read from outside as an operator would.
func (e *env) waitDelivered(t *testing.T) {
	t.Helper()
	raw, err := sql.Open("sqlite", e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitFor(t, "every delivery recorded", time.Minute, func() bool {
		var n int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE state = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// restart stops the emulator and opens a new one on the same state file.
func (e *env) restart(opts ...envOption) {
	e.t.Helper()
	e.stop()
	e.start(opts...)
}

func (e *env) driver() *sandbox.Driver { return &sandbox.Driver{BaseURL: e.base} }

// response is a decoded API answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// apiError decodes the error envelope.
func (r response) apiError(t *testing.T) *pinwheel.Error {
	t.Helper()
	var env pinwheel.ErrorEnvelope
	r.decode(t, &env)
	if env.Error == nil {
		t.Fatalf("no error envelope in %s", r.Body)
	}
	return env.Error
}

// call sends an API request with the secret and version 2023-11-22 unless
// hdr overrides them (a "" value deletes the header).
func (e *env) call(method, path string, body any, hdr ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set(pinwheel.HeaderAPISecret, testSecret)
	req.Header.Set(pinwheel.HeaderVersion, pinwheel.Version20231122)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

// mustOK calls and fails the test unless the status is 200.
func (e *env) mustOK(method, path string, body any, hdr ...string) response {
	e.t.Helper()
	r := e.call(method, path, body, hdr...)
	if r.Status != http.StatusOK {
		e.t.Fatalf("%s %s: status %d: %s", method, path, r.Status, r.Body)
	}
	return r
}

// token mints a Link token from body (version from hdr, default 2023-11-22).
func (e *env) token(body map[string]any, hdr ...string) pinwheel.LinkToken {
	e.t.Helper()
	var out pinwheel.Response[pinwheel.LinkToken]
	e.mustOK("POST", "/v1/link_tokens", body, hdr...).decode(e.t, &out)
	return out.Data
}

var allJobs = []string{"identity", "employment", "income", "direct_deposit_allocations", "paystubs"}

// delivery is one webhook request the receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
	Event  pinwheel.Event
	Err    error // signature verification result
}

// receiver is a webhook endpoint that verifies signatures and records every
// delivery; fail decides per request whether to answer 500.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []delivery
	fail func(n int, ev pinwheel.Event) bool
	n    int
}

func newReceiver(t *testing.T, now func() time.Time) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, _ := pinwheel.ParseEvent(body)
		verr := pinwheel.Verify(testSecret, r.Header.Get(pinwheel.HeaderSignature),
			r.Header.Get(pinwheel.HeaderTimestamp), body, now(), 0)
		rc.mu.Lock()
		rc.n++
		n := rc.n
		fail := rc.fail
		hdr := r.Header.Clone()
		hdr.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10)) // net/http moves it out of Header
		rc.got = append(rc.got, delivery{Header: hdr, Body: body, Event: ev, Err: verr})
		rc.mu.Unlock()
		if fail != nil && fail(n, ev) {
			http.Error(w, "nope", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) all() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// events returns the names of received events, optionally only those of
// one account, in arrival order.
func (rc *receiver) events(accountID string) []string {
	var out []string
	for _, d := range rc.all() {
		if accountID == "" || payloadAccount(d.Event) == accountID {
			out = append(out, d.Event.Event)
		}
	}
	return out
}

func payloadAccount(ev pinwheel.Event) string {
	var p struct {
		AccountID string `json:"account_id"`
	}
	_ = json.Unmarshal(ev.Payload, &p)
	return p.AccountID
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEvent waits until the receiver got an event named name for account.
func (rc *receiver) waitEvent(t *testing.T, account, name string) {
	t.Helper()
	waitFor(t, name+" for "+account, 10*time.Second, func() bool {
		return slices.Contains(rc.events(account), name)
	})
}

// hook registers a webhook for the receiver with every event enabled.
func (e *env) hook(rc *receiver, version string, events ...string) pinwheel.Webhook {
	e.t.Helper()
	if len(events) == 0 {
		events = []string{"account.added", "account.monitoring_status.updated", "identity.added", "employment.added",
			"income.added", "paystubs.added", "paystubs.fully_synced", "shifts.added", "shifts.fully_synced",
			"direct_deposit_allocations.added", "direct_deposit_switch.added"}
	}
	var out pinwheel.Response[pinwheel.Webhook]
	e.mustOK("POST", "/v1/webhooks", map[string]any{"url": rc.srv.URL + "/hook", "status": "active",
		"enabled_events": events, "version": version}).decode(e.t, &out)
	return out.Data
}

// connect runs a user_good session for endUser on Workday and returns the
// account id.
func (e *env) connect(endUser string, jobs ...string) string {
	e.t.Helper()
	if len(jobs) == 0 {
		jobs = allJobs
	}
	tok := e.token(map[string]any{"org_name": "Linkdesk Test", "required_jobs": jobs, "end_user_id": endUser,
		"skip_intro_screen": true})
	res, err := e.driver().Complete(context.Background(), tok.Token,
		sandbox.SessionPlan{PlatformID: "5965580e-380f-4b86-8a8a-7278c77f73cb"})
	if err != nil {
		e.t.Fatalf("Complete: %v", err)
	}
	if res.Outcome != "success" || res.AccountID == "" {
		e.t.Fatalf("session outcome %q, account %q, events %v", res.Outcome, res.AccountID, res.EventNames())
	}
	return res.AccountID
}

func indexOf(list []string, s string) int { return slices.Index(list, s) }

// setStatus sets any monitoring status through the emulator-only knob.
func (e *env) setStatus(acc, status string) {
	e.t.Helper()
	e.mustOK("POST", "/emulator/accounts/"+acc+"/monitoring_status", map[string]any{"monitoring_status": status})
}

// distinct returns the event names received for account, each once, in
// order of first arrival.
func (rc *receiver) distinct(account string) []string {
	var out []string
	for _, name := range rc.events(account) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
