package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/handlers"
	"linkdesk/pinwheel"
	"linkdesk/web"
)

// testServer is the real app on a temp database.
type testServer struct {
	http.Handler
	store *db.Store
	h     *handlers.Handler
	clock *testClock
}

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

const testPassword = "correct horse battery staple"

// newServer builds the real router (web.New + handlers.New) on a temp
// SQLite file, with one staff member per role.
func newServer(t *testing.T) *testServer {
	t.Helper()
	clk := &testClock{t: time.Now().UTC()}
	store, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), db.Options{Now: clk.now, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, r := range db.Roles {
		if _, err := store.CreateStaff(context.Background(), db.Actor{Email: "system"}, db.StaffCreate{Email: r + "@example.com", Name: strings.ToUpper(r[:1]) + r[1:], Role: r, Password: testPassword}); err != nil {
			t.Fatal(err)
		}
	}
	h := handlers.New(handlers.Deps{Store: store, Pinwheel: pinwheel.New(pinwheel.Config{BaseURL: "http://127.0.0.1:1/v1", Secret: "test"})}, handlers.Config{
		BaseURL: "http://example.test", SessionHashKey: []byte(strings.Repeat("h", 64)), SessionBlockKey: []byte(strings.Repeat("b", 32)),
		PinwheelMode: pinwheel.ModeEmulator, PinwheelSecret: "test_secret",
	})
	return &testServer{Handler: web.New(h, store, web.Options{}), store: store, h: h, clock: clk}
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

type httptestRecorder = httptest.ResponseRecorder

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
