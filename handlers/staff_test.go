package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
)

func TestLogin(t *testing.T) {
	s := newServer(t)
	t.Run("same message for unknown email and wrong password", func(t *testing.T) {
		a := s.do(t, "POST", "/login", url.Values{"email": {"nobody@example.com"}, "password": {"whatever password"}})
		b := s.do(t, "POST", "/login", url.Values{"email": {"admin@example.com"}, "password": {"wrong password!!"}})
		if a.Code != http.StatusUnauthorized || b.Code != http.StatusUnauthorized {
			t.Fatalf("got %d and %d, want 401 both", a.Code, b.Code)
		}
		if !strings.Contains(a.Body.String(), "The email or password is not right.") || !strings.Contains(b.Body.String(), "The email or password is not right.") {
			t.Fatal("failure messages differ or are missing")
		}
	})
	t.Run("next is followed only for local paths", func(t *testing.T) {
		rec := s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}, "next": {"/account/password"}})
		if loc := rec.Header().Get("Location"); loc != "/account/password" {
			t.Errorf("got %q, want /account/password", loc)
		}
		rec = s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}, "next": {"//evil.example/x"}})
		if loc := rec.Header().Get("Location"); loc != "/" {
			t.Errorf("got %q, want /", loc)
		}
	})
	t.Run("cookie flags", func(t *testing.T) {
		rec := s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}})
		c := updatedCookie(rec, nil)
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 8*3600 {
			t.Fatalf("cookie %+v, want HttpOnly, SameSite=Lax, 8h", c)
		}
		if strings.Contains(c.Value, "operator") {
			t.Fatal("cookie value is not encrypted")
		}
	})
	t.Run("sign out is a POST and ends the session", func(t *testing.T) {
		c := s.login(t, "auditor@example.com")
		if rec := s.do(t, "GET", "/logout", nil, c); rec.Code == http.StatusSeeOther && rec.Header().Get("Location") == "/login" {
			t.Fatal("GET /logout must not sign out")
		}
		rec := s.do(t, "POST", "/logout", url.Values{}, c)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("logout: %d", rec.Code)
		}
		gone := updatedCookie(rec, c)
		if gone.MaxAge >= 0 {
			t.Fatalf("logout cookie MaxAge %d, want < 0", gone.MaxAge)
		}
	})
}

// TestLogin_Throttle: failures from one address make that address wait,
// and only it; the right password from elsewhere signs in; a browser that
// signed in before is not held back by others' failures; the admin sees
// and clears throttles.
func TestLogin_Throttle(t *testing.T) {
	s := newServer(t)
	// The admin signed in from this browser yesterday: it keeps a device
	// cookie for the admin's email.
	device := s.deviceCookie(t, "admin@example.com", testPassword, "203.0.113.5:1")
	for range db.FreeSignInFailures {
		s.do(t, "POST", "/login", url.Values{"email": {"admin@example.com"}, "password": {"wrong password!!"}})
	}
	rec := s.do(t, "POST", "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}})
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("from the failing address: got %d, want 429", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), "Try again in 15 seconds") || rec.Header().Get("Retry-After") != "15" {
		t.Fatalf("429 without a retry time: %s %v", rec.Body.String(), rec.Header())
	}
	// The same address with the admin's own browser, and another address:
	// both sign in at once.
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"email": {"admin@example.com"}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.10:1234"
	req.AddCookie(device)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("the admin's browser behind the failing address: %d %s", w.Code, w.Body.String())
	}
	if c := s.loginFrom(t, "admin@example.com", testPassword, "198.51.100.20:5"); c.Code != http.StatusSeeOther {
		t.Fatalf("another address: %d", c.Code)
	}
	// The admin sees the throttle on /staff and clears it.
	cookie := updatedCookie(w, nil)
	page := s.do(t, "GET", "/staff", nil, cookie)
	if !strings.Contains(page.Body.String(), `id="throttles"`) || !strings.Contains(page.Body.String(), "192.0.2.10") {
		t.Fatalf("/staff does not list the throttle")
	}
	rec = s.do(t, "POST", "/staff/throttles/clear", url.Values{"scope": {db.ThrottlePair}, "email": {"admin@example.com"}, "source": {"ip:192.0.2.10"}}, cookie)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("clear: %d", rec.Code)
	}
	if rec := s.do(t, "POST", "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("after clearing: %d", rec.Code)
	}
	rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionThrottleCleared})
	if len(rows) != 1 {
		t.Errorf("%d audit rows of clearing, want 1", len(rows))
	}
}

// loginFrom posts a sign-in from addr.
func (s *testServer) loginFrom(t *testing.T, email, password, addr string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// deviceCookie signs in from addr and returns the device cookie set.
func (s *testServer) deviceCookie(t *testing.T, email, password, addr string) *http.Cookie {
	t.Helper()
	rec := s.loginFrom(t, email, password, addr)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "linkdesk_device" {
			if c.MaxAge < 300*24*3600 || !c.HttpOnly {
				t.Fatalf("device cookie %+v", c)
			}
			return c
		}
	}
	t.Fatalf("sign-in of %s set no device cookie (%d)", email, rec.Code)
	return nil
}

func TestSession_IdleExpiry(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "operator@example.com")
	s.clk.add(7 * time.Hour)
	rec := s.do(t, "GET", "/", nil, c)
	if rec.Code != http.StatusOK {
		t.Fatalf("after 7h: %d, want 200", rec.Code)
	}
	c = updatedCookie(rec, c)
	s.clk.add(7 * time.Hour) // 14h after sign-in, 7h idle
	if rec := s.do(t, "GET", "/", nil, c); rec.Code != http.StatusOK {
		t.Fatalf("7h idle after activity: %d, want 200", rec.Code)
	}
	s.clk.add(8*time.Hour + time.Minute)
	if rec := s.do(t, "GET", "/", nil, c); rec.Code != http.StatusSeeOther {
		t.Fatalf("8h idle: %d, want 303 to login", rec.Code)
	}
}

func TestStaff_AdminFlows(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := s.login(t, "admin@example.com")

	t.Run("create with errors re-renders the form", func(t *testing.T) {
		rec := s.do(t, "POST", "/staff", url.Values{"email": {"admin@example.com"}, "name": {"Dup"}, "role": {"operator"}, "password": {"short"}}, c)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Fatalf("got %d, want 422", rec.Code)
		}
		body := rec.Body.String()
		dup := s.do(t, "POST", "/staff", url.Values{"email": {"admin@example.com"}, "name": {"Dup"}, "role": {"operator"}, "password": {testPassword}}, c)
		body += dup.Body.String()
		if dup.Code != http.StatusUnprocessableEntity {
			t.Fatalf("duplicate: got %d, want 422", dup.Code)
		}
		for _, want := range []string{"already exists", "at least 12 characters", `value="Dup"`, `aria-invalid="true"`} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %q", want)
			}
		}
	})
	t.Run("create", func(t *testing.T) {
		rec := s.do(t, "POST", "/staff", url.Values{"email": {"new@example.com"}, "name": {"New <b>Op</b>"}, "role": {"operator"}, "password": {testPassword}}, c)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/staff" {
			t.Fatalf("got %d %s", rec.Code, rec.Header().Get("Location"))
		}
		c = updatedCookie(rec, c)
		page := s.do(t, "GET", "/staff", nil, c)
		body := page.Body.String()
		if !strings.Contains(body, "new@example.com") || !strings.Contains(body, "New &lt;b&gt;Op&lt;/b&gt;") || !strings.Contains(body, "Added new@example.com") {
			t.Fatalf("staff page lacks the new escaped row or the flash")
		}
		c = updatedCookie(page, c)
	})
	t.Run("last admin protection", func(t *testing.T) {
		rec := s.do(t, "POST", "/staff/1/role", url.Values{"role": {"auditor"}}, c)
		c = updatedCookie(rec, c)
		page := s.do(t, "GET", "/staff", nil, c)
		c = updatedCookie(page, c)
		if !strings.Contains(page.Body.String(), "last active admin") {
			t.Fatal("no last-admin message")
		}
		st, _ := s.store.StaffByID(ctx, 1)
		if st.Role != db.RoleAdmin {
			t.Fatalf("role is %s, want admin", st.Role)
		}
	})
	t.Run("deactivated staff lose access on the next request", func(t *testing.T) {
		opCookie := s.login(t, "operator@example.com")
		if rec := s.do(t, "GET", "/", nil, opCookie); rec.Code != http.StatusOK {
			t.Fatalf("operator home: %d", rec.Code)
		}
		var opID int64
		list, _ := s.store.ListStaff(ctx)
		for _, st := range list {
			if st.Email == "operator@example.com" {
				opID = st.ID
			}
		}
		rec := s.do(t, "POST", "/staff/"+itoa(opID)+"/deactivate", url.Values{}, c)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("deactivate: %d", rec.Code)
		}
		if rec := s.do(t, "GET", "/", nil, opCookie); rec.Code != http.StatusSeeOther {
			t.Fatalf("deactivated operator: got %d, want 303 to login", rec.Code)
		}
		rows, _, _ := s.store.ListAudit(ctx, db.AuditFilter{TargetType: "staff", TargetID: itoa(opID), Action: db.ActionStaffUpdated})
		if len(rows) != 1 || !strings.Contains(rows[0].Detail, "active") || rows[0].ActorEmail != "admin@example.com" {
			t.Fatalf("audit rows %+v, want one deactivation by admin", rows)
		}
	})
}

func TestPassword_AuditorMayChangeOwn(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "auditor@example.com")
	rec := s.do(t, "POST", "/account/password", url.Values{"current": {"nope"}, "password": {"tiny"}}, c)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "not your current password") {
		t.Fatalf("got %d, want 422 with inline errors", rec.Code)
	}
	rec = s.do(t, "POST", "/account/password", url.Values{"current": {testPassword}, "password": {"a brand new passphrase"}}, c)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("got %d, want 303", rec.Code)
	}
	if rec := s.do(t, "POST", "/login", url.Values{"email": {"auditor@example.com"}, "password": {"a brand new passphrase"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("sign in with the new password: %d", rec.Code)
	}
}

func TestSecurity_CrossSitePostAndHeaders(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "admin@example.com")
	req := func(site string) *http.Request {
		r, _ := http.NewRequest("POST", "http://example.test/staff", strings.NewReader(url.Values{"email": {"x@example.com"}, "name": {"X"}, "role": {"admin"}, "password": {testPassword}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", site)
		r.AddCookie(c)
		return r
	}
	rec := serve(s, req("cross-site"))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("cross-site POST: got %d, want 403", rec.Code)
	}
	list, _ := s.store.ListStaff(context.Background())
	for _, st := range list {
		if st.Email == "x@example.com" {
			t.Fatal("the cross-site POST created a staff member")
		}
	}
	if rec := serve(s, req("same-origin")); rec.Code != http.StatusSeeOther {
		t.Fatalf("same-origin POST: got %d, want 303", rec.Code)
	}

	page := s.do(t, "GET", "/login", nil)
	h := page.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self' 'nonce-", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows unsafe-inline: %q", csp)
	}
	nonce := csp[strings.Index(csp, "'nonce-")+7:]
	nonce = nonce[:strings.Index(nonce, "'")]
	if !strings.Contains(page.Body.String(), `nonce="`+nonce+`"`) {
		t.Error("scripts do not carry the response's nonce")
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
		t.Errorf("missing nosniff or Referrer-Policy: %v", h)
	}
	if h.Get("X-Request-Id") == "" {
		t.Error("no request id header")
	}
}

func TestOps(t *testing.T) {
	s := newServer(t)
	if rec := s.do(t, "GET", "/healthz", nil); rec.Code != 200 || rec.Body.String() != "ok" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body.String())
	}
	if rec := s.do(t, "GET", "/readyz", nil); rec.Code != 200 {
		t.Errorf("readyz: %d", rec.Code)
	}
	s.do(t, "GET", "/login", nil)
	rec := s.do(t, "GET", "/metrics", nil)
	for _, want := range []string{`linkdesk_http_requests_total{method="GET",route="/login",status="200"}`, "linkdesk_http_request_duration_seconds_bucket", `linkdesk_db_open_connections{pool="writer"}`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	s.store.Close()
	if rec := s.do(t, "GET", "/readyz", nil); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with a closed DB: %d, want 503", rec.Code)
	}
}

func TestErrors_NotFoundAndStatic(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "admin@example.com")
	rec := s.do(t, "GET", "/no/such/page", nil, c)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "There is no page at /no/such/page.") || !strings.Contains(rec.Body.String(), `id="q-page"`) {
		t.Fatalf("got %d", rec.Code)
	}
	rec = s.do(t, "GET", "/audit?before=abc", nil, c)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Invalid page cursor.") {
		t.Fatalf("bad cursor: %d", rec.Code)
	}
	home := s.do(t, "GET", "/", nil, c).Body.String()
	i := strings.Index(home, "/static/css/app.")
	href := home[i : i+strings.Index(home[i:], `"`)]
	rec = s.do(t, "GET", href, nil)
	if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("%s: %d %q", href, rec.Code, rec.Header().Get("Cache-Control"))
	}
}

func serve(s *testServer, r *http.Request) *httptestRecorder {
	rec := newRecorder()
	s.ServeHTTP(rec, r)
	return rec
}

func TestSafeNext_RejectsOffsiteTargets(t *testing.T) {
	s := newServer(t)
	for next, want := range map[string]string{
		"/accounts?status=active": "/accounts?status=active",
		"/\t/evil.example/x":      "/",
		"//evil.example":          "/",
		"/\\evil.example":         "/",
		"https://evil.example/":   "/",
		"/%0a/evil.example":       "/%0a/evil.example",
		"/ /evil.example":         "/",
		"javascript:alert(1)":     "/",
		"/login?next=/x":          "/",
	} {
		rec := s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}, "next": {next}})
		if loc := rec.Header().Get("Location"); loc != want {
			t.Errorf("next %q: redirected to %q, want %q", next, loc, want)
		}
	}
}

func TestSession_EndsOnSignOutAndPasswordChange(t *testing.T) {
	s := newServer(t)
	copied := s.login(t, "operator@example.com")
	current := s.login(t, "operator@example.com")
	rec := s.do(t, "POST", "/account/password", url.Values{"current": {testPassword}, "password": {"a fresh long passphrase"}}, current)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("password change: %d", rec.Code)
	}
	current = updatedCookie(rec, current)
	if rec := s.do(t, "GET", "/", nil, current); rec.Code != http.StatusOK {
		t.Fatalf("the session that changed the password: %d, want 200", rec.Code)
	}
	if rec := s.do(t, "GET", "/", nil, copied); rec.Code != http.StatusSeeOther {
		t.Fatalf("another session after a password change: %d, want 303 to login", rec.Code)
	}
	kept := current
	rec = s.do(t, "POST", "/logout", url.Values{}, current)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", rec.Code)
	}
	if rec := s.do(t, "GET", "/", nil, kept); rec.Code != http.StatusSeeOther {
		t.Fatalf("a cookie kept from before sign-out: %d, want 303 to login", rec.Code)
	}
}

func TestSession_AbsoluteExpiry(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "operator@example.com")
	for i := 0; i < 5; i++ {
		s.clk.add(5 * time.Hour)
		rec := s.do(t, "GET", "/", nil, c)
		if i < 4 && rec.Code != http.StatusOK {
			t.Fatalf("after %dh of activity: %d", (i+1)*5, rec.Code)
		}
		if i == 4 && rec.Code != http.StatusSeeOther {
			t.Fatalf("after 25h: %d, want 303 to login", rec.Code)
		}
		c = updatedCookie(rec, c)
	}
}

func TestLogin_ForwardedForIsIgnoredAndThrottleHoldsUnderConcurrency(t *testing.T) {
	s := newServer(t)
	var wg sync.WaitGroup
	codes := make(chan int, 30)
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"email": {"admin@example.com"}, "password": {"wrong password!!"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i))
			req.RemoteAddr = "192.0.2.10:1234"
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			codes <- rec.Code
		}(i)
	}
	wg.Wait()
	close(codes)
	n401 := 0
	for c := range codes {
		if c == http.StatusUnauthorized {
			n401++
		}
	}
	if n401 != db.FreeSignInFailures {
		t.Fatalf("%d attempts were checked against the password, want exactly %d before the throttle", n401, db.FreeSignInFailures)
	}
	rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionSignInFailed})
	for _, r := range rows {
		if r.IP != "192.0.2.10" {
			t.Fatalf("audit IP %q, want the socket address", r.IP)
		}
	}
}

func TestLogin_HugeEmailIsCut(t *testing.T) {
	s := newServer(t)
	long := strings.Repeat("a", 100000) + "@example.com"
	if rec := s.do(t, "POST", "/login", url.Values{"email": {long}, "password": {"x"}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("got %d", rec.Code)
	}
	rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionSignInFailed})
	if len(rows) != 1 || len(rows[0].ActorEmail) > 254 || len(rows[0].Detail) > 400 {
		t.Fatalf("stored %d rows, email %d bytes", len(rows), len(rows[0].ActorEmail))
	}
}

// TestSession_MustChangePassword: after a console reset, every route but
// the password change and sign-out leads to the password page (htmx
// requests by HX-Redirect), and the change lets the same browser go on.
func TestSession_MustChangePassword(t *testing.T) {
	s := newServer(t)
	op, err := s.store.StaffByEmail(context.Background(), "operator@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.ResetPassword(context.Background(), db.Actor{Email: "console (linkdesk staff)", IP: "local"}, op.ID, testPassword); err != nil {
		t.Fatal(err)
	}
	c := s.login(t, "operator@example.com")

	req := httptest.NewRequest("GET", "/events", nil)
	req.Header.Set("HX-Request", "true")
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Header().Get("HX-Redirect") != "/account/password?next=%2Fevents" {
		t.Errorf("htmx GET /events: %d, HX-Redirect %q", rec.Code, rec.Header().Get("HX-Redirect"))
	}
	if rec := s.do(t, "GET", "/account/password", nil, c); rec.Code != http.StatusOK {
		t.Errorf("GET /account/password: %d, want 200", rec.Code)
	}
	rec = s.do(t, "POST", "/account/password", url.Values{"current": {testPassword}, "password": {"my very own password"}}, c)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("password change: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	c = updatedCookie(rec, c)
	if rec := s.do(t, "GET", "/events", nil, c); rec.Code != http.StatusOK {
		t.Errorf("GET /events after the change, same browser: %d, want 200", rec.Code)
	}
	if rec := s.do(t, "POST", "/logout", url.Values{}, c); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Errorf("logout: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
}
