package handlers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/handlers"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/web"
)

// testServer is the real app (web.New + handlers.New) on a temp SQLite
// file, with one staff member per role and the group-commit Ingester
// running, so that tests post signed webhooks through the router as
// Pinwheel does. newServer is the one constructor; options add the
// emulator (withEmulator) or open another database (onDatabase).
type testServer struct {
	http.Handler
	store *db.Store
	h     *handlers.Handler
	ing   *db.Ingester
	// clk is the clock of the store, the handlers and the ingester.
	clk *testClock
	// done is closed to simulate shutdown: live timelines end.
	done chan struct{}

	// Set by withEmulator: the real listener's URL, the API version, the
	// emulator, its API with the right secret, and the Link driver.
	url     string
	version string
	emu     *sandbox.Emulator
	admin   *pinwheel.Client
	driver  *sandbox.Driver
}

// testSecret is the Pinwheel secret of every test server: it signs
// webhooks and, with the emulator, is its API secret.
const testSecret = "whsec_test_0123456789"

const testPassword = "correct horse battery staple"

// serverConfig is what the options set.
type serverConfig struct {
	start    time.Time
	emulator *emuOptions
	dbPath   string
	noIngest bool
	writeTO  time.Duration
	launch   string
	reread   time.Duration
}

// serverOption changes how newServer builds the server.
type serverOption func(*serverConfig)

// startAt stops the clock at t (the default is now, in whole seconds, as
// webhook timestamps are).
func startAt(t time.Time) serverOption { return func(c *serverConfig) { c.start = t } }

// emuOptions change the client Linkdesk uses to reach the emulator.
type emuOptions struct {
	version       string
	clientSecret  string        // "" means the right one
	clientTimeout time.Duration // 0 means a minute: only a test of timeouts sets a short one
	// sharedClock gives the emulator the server's clock, so that moving it
	// (past an alert rule's window) moves both and webhooks stay fresh.
	sharedClock bool
}

// withEmulator serves the app on a real listener with the emulator mounted
// under /sandbox/ (as `linkdesk serve` does), its webhooks registered to
// the app. The clock runs from the wall clock, which the emulator keeps;
// tests move it with add and stop it with freeze.
func withEmulator(o emuOptions) serverOption { return func(c *serverConfig) { c.emulator = &o } }

// onDatabase opens path instead of a temp file (benchmarks on a seeded
// database); the staff members are created once.
func onDatabase(path string) serverOption { return func(c *serverConfig) { c.dbPath = path } }

// withWriteTimeout sets the write deadline of responses (and of each piece
// of a stream): tests of slow readers set a short one, so that "the
// connection was released" comes soon.
func withWriteTimeout(d time.Duration) serverOption { return func(c *serverConfig) { c.writeTO = d } }

// withLaunchBase gives launch pages an origin of their own
// (LINKDESK_LAUNCH_BASE_URL).
func withLaunchBase(u string) serverOption { return func(c *serverConfig) { c.launch = u } }

// liveReread sets how often live timelines read without a notification.
func liveReread(d time.Duration) serverOption { return func(c *serverConfig) { c.reread = d } }

// withoutIngester wires no Ingester, as a handler built without one:
// webhooks are answered 503.
func withoutIngester() serverOption { return func(c *serverConfig) { c.noIngest = true } }

// newServer builds the test server; everything stops at cleanup (before
// the store closes).
func newServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	cfg := serverConfig{start: time.Now().UTC().Truncate(time.Second)}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	clk := &testClock{frozen: cfg.start}
	dir := t.TempDir()
	if cfg.dbPath == "" {
		cfg.dbPath = dbtest.Path(t, "test.db")
	}
	opt := db.Options{Now: clk.now, PasswordCost: bcrypt.MinCost}
	if db.IsPostgresURL(cfg.dbPath) {
		// No file beside a PostgreSQL database: the anchor file an
		// instance is given (LINKDESK_AUDIT_ANCHOR).
		opt.AuditAnchor = filepath.Join(t.TempDir(), "audit-anchor")
	}
	store, err := db.Open(ctx, cfg.dbPath, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range db.Roles {
		_, err := store.CreateStaff(ctx, db.Actor{Email: "system"}, db.StaffCreate{Email: r + "@example.com", Name: strings.ToUpper(r[:1]) + r[1:], Role: r, Password: testPassword})
		if err != nil && !errors.Is(err, db.ErrConflict) && !strings.Contains(err.Error(), "already") {
			t.Fatal(err)
		}
	}
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	s := &testServer{store: store, clk: clk, done: make(chan struct{})}
	if !cfg.noIngest {
		if s.ing, err = store.NewIngester(ctx, db.IngestOptions{}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { s.ing.Run(bg) })
	}
	var srv *httptest.Server
	t.Cleanup(func() {
		if srv != nil {
			srv.Close()
		}
		stop()
		wg.Wait()
		if s.emu != nil {
			s.emu.Close()
		}
		store.Close()
	})

	deps := handlers.Deps{Store: store, Now: clk.now, Done: s.done,
		Pinwheel: pinwheel.New(pinwheel.Config{BaseURL: "http://127.0.0.1:1/v1", Secret: testSecret})}
	conf := handlers.Config{
		BaseURL: "http://example.test", SessionHashKey: []byte(strings.Repeat("h", 64)), SessionBlockKey: []byte(strings.Repeat("b", 32)),
		PinwheelMode: pinwheel.ModeEmulator, PinwheelSecret: testSecret, WebhookTolerance: 5 * time.Minute,
		WriteTimeout: cfg.writeTO, LaunchBaseURL: cfg.launch,
		LiveReread: cfg.reread,
	}
	if s.ing != nil {
		deps.Ingest = s.ing
	}
	var extra map[string]http.Handler
	if o := cfg.emulator; o != nil {
		if o.version == "" {
			o.version = pinwheel.DefaultVersion
		}
		if o.clientSecret == "" {
			o.clientSecret = testSecret
		}
		if o.clientTimeout == 0 {
			o.clientTimeout = time.Minute
		}
		clk.set(time.Time{}) // the wall clock, as the emulator's
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeHTTP(w, r) }))
		s.url, s.version = srv.URL, o.version
		var emuNow func() time.Time
		if o.sharedClock {
			emuNow = clk.now
		}
		// Untidy delivery stays on (the default); the rate limit is off:
		// these tests give the client no sleep between retries, so a
		// limiter on the wall clock would refuse by machine speed.
		// ratelimit_test.go in pinwheel/sandbox drives the client against
		// the limiter on a test clock.
		s.emu, err = sandbox.New(sandbox.Config{StatePath: filepath.Join(dir, "sandbox.db"), Secret: testSecret, PublicURL: srv.URL + "/sandbox",
			RetryBase: 50 * time.Millisecond, RetryMax: time.Second, AllowHTTPWebhooks: true, RateLimit: -1, Now: emuNow})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { s.emu.Run(bg) })
		noSleep := func(context.Context, time.Duration) error { return nil }
		deps.Pinwheel = pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/sandbox/v1", Secret: o.clientSecret, Version: o.version,
			HTTPClient: &http.Client{Timeout: o.clientTimeout}, Sleep: noSleep})
		conf.BaseURL, conf.EmulatorURL, conf.PinwheelVersion = srv.URL, srv.URL+"/sandbox", o.version
		extra = map[string]http.Handler{"/sandbox/": http.StripPrefix("/sandbox", s.emu)}
		s.admin = pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/sandbox/v1", Secret: testSecret, Version: o.version, Sleep: noSleep})
		s.driver = &sandbox.Driver{BaseURL: srv.URL + "/sandbox", Secret: testSecret}
	}
	s.h = handlers.New(deps, conf)
	s.Handler = web.New(s.h, store, web.Options{Extra: extra})
	if s.emu != nil {
		_, err = s.admin.CreateWebhook(ctx, pinwheel.WebhookCreate{URL: s.url + "/webhooks/pinwheel", Status: pinwheel.WebhookActive, Version: s.version,
			EnabledEvents: pinwheel.SubscribedEvents()})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.SetOrgName(ctx, db.Actor{Email: "system"}, "Acme Payroll Co"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// ingest stores webhook bodies through the server's Ingester, received at
// the clock's time, without HTTP.
func (s *testServer) ingest(t testing.TB, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		d, err := db.ParseDelivery([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ing.Ingest(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
}

// testClock is the servers' clock: stopped at a time tests set or move,
// or running from the wall clock with an offset tests move. It is shared
// with the server's goroutines (hence the lock).
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time // zero: running
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().UTC().Add(c.offset)
}

// set stops the clock at t; the zero time makes it the wall clock again.
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = t
	if t.IsZero() {
		c.offset = 0
	}
}

// add moves the clock by d.
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		c.frozen = c.frozen.Add(d)
		return
	}
	c.offset += d
}

// freeze stops the clock at its current reading until thaw. A test that
// counts what a rate limit lets through freezes it, so that the count does
// not depend on how fast the machine runs the requests.
func (c *testClock) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen.IsZero() {
		c.frozen = time.Now().UTC().Add(c.offset)
	}
}

// thaw restarts the clock from where it stopped.
func (c *testClock) thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		c.offset = c.frozen.Sub(time.Now().UTC())
		c.frozen = time.Time{}
	}
}

// do sends a request through the router with optional cookies.
func (s *testServer) do(t *testing.T, method, target string, form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	req.RemoteAddr = "192.0.2.10:1234"
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// login signs in and returns the session cookie.
func (s *testServer) login(t *testing.T, email string) *http.Cookie {
	t.Helper()
	rec := s.do(t, "POST", "/login", url.Values{"email": {email}, "password": {testPassword}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login %s: status %d, want 303; body %s", email, rec.Code, rec.Body.String())
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == "linkdesk" {
			return c
		}
	}
	t.Fatalf("login %s: no session cookie", email)
	return nil
}

// updatedCookie returns the session cookie a response set, or the old one.
// Like a browser, it keeps the last of several Set-Cookie headers.
func updatedCookie(rec *httptest.ResponseRecorder, old *http.Cookie) *http.Cookie {
	got := old
	for _, c := range rec.Result().Cookies() {
		if c.Name == "linkdesk" {
			got = c
		}
	}
	return got
}

// waitFor polls cond until it holds or a minute passes (a healthy test
// returns as soon as its condition holds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type httptestRecorder = httptest.ResponseRecorder

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
