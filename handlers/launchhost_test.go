package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"linkdesk/db"
)

// serveURL sends a request to a full URL (its host is the Host header).
func (s *testServer) serveURL(t *testing.T, method, target string, cookie *http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.44:1"
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// endUserPage reports whether a page is the end user's (the organisation's
// launch layout), not the staff console's.
func endUserPage(body string) bool {
	return strings.Contains(body, `class="container launch"`) && !strings.Contains(body, `href="/login"`) && !strings.Contains(body, "/account/password")
}

// TestLaunch_UnknownLinkIsTheEndUsersPage: even without a launch origin, an
// unknown or malformed launch link gets the end user's "not found" page.
func TestLaunch_UnknownLinkIsTheEndUsersPage(t *testing.T) {
	s := newServer(t)
	for _, target := range []string{"/l/" + strings.Repeat("a", 32), "/l/not-a-launch-id", "/l/x/y"} {
		rec := s.serveURL(t, "GET", "http://example.test"+target, nil)
		if rec.Code != http.StatusNotFound || !endUserPage(rec.Body.String()) || !strings.Contains(rec.Body.String(), "We can't find this link") {
			t.Errorf("%s: %d, end user's page %v", target, rec.Code, endUserPage(rec.Body.String()))
		}
	}
}

// TestLaunch_OriginOfItsOwn: with LINKDESK_LAUNCH_BASE_URL, launch routes
// answer only on the launch host, staff routes never do there, and links
// and QR codes name the launch origin.
func TestLaunch_OriginOfItsOwn(t *testing.T) {
	const launch = "https://go.example.test"
	s := newServer(t, withLaunchBase(launch))
	ctx := context.Background()
	token := sampleToken(t, s)
	d, err := s.store.LinkByID(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	admin := s.login(t, "admin@example.com")
	// The token page hands out the launch origin's URL and QR code.
	page := s.serveURL(t, "GET", "http://example.test/tokens/"+token, admin).Body.String()
	if !strings.Contains(page, `value="`+launch+"/l/"+d.LaunchID+`"`) || !strings.Contains(page, "<svg") {
		t.Errorf("token page does not give the launch origin's link")
	}
	if _, err := s.store.RevokeLink(ctx, db.Actor{Email: "system"}, token); err != nil {
		t.Fatal(err)
	}

	// The launch host: the launch page (revoked: 410, the end user's), its
	// static files; nothing of the staff console.
	rec := s.serveURL(t, "GET", launch+"/l/"+d.LaunchID, nil)
	if rec.Code != http.StatusGone || !endUserPage(rec.Body.String()) {
		t.Errorf("launch page on the launch host: %d", rec.Code)
	}
	if rec := s.serveURL(t, "GET", launch+"/static/css/app.css", nil); rec.Code != http.StatusOK {
		t.Errorf("static files on the launch host: %d", rec.Code)
	}
	for _, target := range []string{"/login", "/", "/accounts", "/staff", "/events/export.csv", "/metrics", "/healthz", "/nothing"} {
		rec := s.serveURL(t, "GET", launch+target, admin)
		if rec.Code != http.StatusNotFound || !endUserPage(rec.Body.String()) {
			t.Errorf("%s on the launch host: %d (end user's page %v)", target, rec.Code, endUserPage(rec.Body.String()))
		}
	}
	// The staff host: no launch routes.
	for _, target := range []string{"/l/" + d.LaunchID, "/l/" + d.LaunchID + "/events"} {
		for _, method := range []string{"GET", "POST"} {
			rec := s.serveURL(t, method, "http://example.test"+target, nil)
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s on the staff host: %d", method, target, rec.Code)
			}
		}
	}
	if rec := s.serveURL(t, "GET", "http://example.test/accounts", admin); rec.Code != http.StatusOK {
		t.Errorf("staff pages on the staff host: %d", rec.Code)
	}
}
