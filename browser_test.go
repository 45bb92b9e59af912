package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linkdesk/browsertest"
	"linkdesk/dbtest"
)

// newBrowser starts headless Debian chromium for a test. Without chromium
// the test skips with a line plain `go test` shows, or fails when
// REQUIRE_BROWSER=1 (.ci/run installs chromium and sets it, so CI never
// skips); see browsertest.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserFor(t, 5*time.Minute)
}

// newBrowserFor is newBrowser whose context ends after limit.
func newBrowserFor(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	path := browsertest.Chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// The first Do starts the browser; its context must have no timeout.
	if err := chromedp.Do(ctx); err != nil {
		cancelC()
		cancelA()
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelT := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return tctx
}

// lockedBuffer collects a subcommand's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `linkdesk serve` in-process on a free port and a temp DB,
// as a newcomer would, and returns its URL and everything it printed. The
// server stops at the end of the test.
func startServe(t *testing.T, env map[string]string) (baseURL string, out *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	vars := map[string]string{
		"LINKDESK_ADDR": "127.0.0.1:0", "LINKDESK_SANDBOX_STATE": dir + "/sandbox.db",
		"LINKDESK_DEMO": "off", "LINKDESK_LOG_LEVEL": "warn",
	}
	if env["LINKDESK_DB"] == "" && env["LINKDESK_DATABASE_URL"] == "" {
		d := newTestDB(t)
		vars[d.env] = d.path
	}
	for k, v := range env {
		vars[k] = v
	}
	getenv := func(k string) string { return vars[k] }
	ctx, cancel := context.WithCancel(context.Background())
	out = &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(2 * time.Minute):
			t.Error("serve did not shut down within 2 minutes")
		}
	})
	re := regexp.MustCompile(`listening on (http://\S+)`)
	// Generous: a cold, loaded CI machine runs migrations and bcrypt
	// slowly under -race; a healthy start returns as soon as it prints.
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], out
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve printed no URL:\n%s", out.String())
	return "", nil
}

// testDB is a fresh database of the backend under test (dbtest: SQLite,
// or PostgreSQL with LINKDESK_TEST_DATABASE_URL) and the setting and flag
// that point linkdesk at it.
type testDB struct{ path, env, flag string }

func newTestDB(t testing.TB) testDB {
	p := dbtest.Path(t, "linkdesk.db")
	if dbtest.OnPostgres() {
		return testDB{p, "LINKDESK_DATABASE_URL", "--database-url"}
	}
	return testDB{p, "LINKDESK_DB", "--db"}
}

// printedLogin returns the bootstrap admin's email and password from serve's output.
func printedLogin(t *testing.T, out string) (string, string) {
	t.Helper()
	var email, password string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "email:"); ok {
			email = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "password:"); ok {
			password = strings.TrimSpace(v)
		}
	}
	if email == "" || password == "" {
		t.Fatalf("no admin login printed:\n%s", out)
	}
	return email, password
}

// TestBrowser_Foundation signs in as the bootstrap admin, creates an
// operator, signs out, signs in as the operator and finds the staff page
// refused.
func TestBrowser_Foundation(t *testing.T) {
	ctx := newBrowser(t)
	base, out := startServe(t, nil)
	email, password := printedLogin(t, out.String())

	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/staff"),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, email),
		chromedp.SendKeys(`#f-password`, password),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`//h1[text()="Staff"]`),
		chromedp.SendKeys(`form[action="/staff"] #f-email`, "olga@example.com"),
		chromedp.SendKeys(`form[action="/staff"] #f-name`, "Olga Operator"),
		chromedp.SetValue(`#f-role`, "operator"),
		chromedp.SendKeys(`form[action="/staff"] #f-password`, "operator password 1"),
		chromedp.Click(`//button[text()="Add staff member"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Added olga@example.com")]`),
	)
	if err != nil {
		t.Fatalf("browser, as admin: %v", err)
	}
	staffBody := text(`table.list`)
	err = chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Sign out"]`),
		chromedp.WaitVisible(`//h1[text()="Sign in"]`),
		chromedp.SendKeys(`#f-email`, "olga@example.com"),
		chromedp.SendKeys(`#f-password`, "operator password 1"),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
	)
	if err != nil {
		html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string]("document.location.href + ' ' + document.body.innerText.slice(0, 600)"))
		t.Fatalf("browser, as operator: %v; page: %s", err, html)
	}
	heading := text(`h1`)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/staff"), chromedp.WaitVisible(`article p`)); err != nil {
		t.Fatal(err)
	}
	refused := text(`article p`)
	if !strings.Contains(staffBody, "Olga Operator") {
		t.Errorf("staff table lacks the new operator: %q", staffBody)
	}
	if heading != "Welcome, Olga Operator" {
		t.Errorf("heading %q", heading)
	}
	if refused != "You don't have access to this." {
		t.Errorf("staff page as operator says %q, want refusal", refused)
	}
}
