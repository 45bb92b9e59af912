package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"linkdesk/db"
)

// totpCode is the code an authenticator app shows for secret at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secretRE = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
var recoveryRE = regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`)

// enrol turns on the second factor of the signed-in cookie's owner through
// the pages and returns the secret and the recovery codes.
func (s *testServer) enrol(t *testing.T, cookie *http.Cookie) (string, []string) {
	t.Helper()
	page := s.do(t, "GET", "/account/second-factor", nil, cookie)
	m := secretRE.FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil || !strings.Contains(page.Body.String(), `<svg`) {
		t.Fatalf("enrolment page: %d, no secret or QR code", page.Code)
	}
	secret := m[1]
	if rec := s.do(t, "POST", "/account/second-factor", url.Values{"code": {"000000"}}, cookie); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong code: %d, want 422", rec.Code)
	}
	rec := s.do(t, "POST", "/account/second-factor", url.Values{"code": {totpCode(t, secret, s.clk.now())}}, cookie)
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(rec.Body.String(), -1) {
		codes = append(codes, m[1])
	}
	if rec.Code != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d recovery codes", rec.Code, len(codes))
	}
	return secret, codes
}

// signInTwoSteps signs in with the password, then code; it returns the
// answer of the second step.
func (s *testServer) signInTwoSteps(t *testing.T, email, code string) *httptest.ResponseRecorder {
	t.Helper()
	rec := s.do(t, "POST", "/login", url.Values{"email": {email}, "password": {testPassword}, "next": {"/events"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/second-factor" {
		t.Fatalf("password step: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	pending := updatedCookie(rec, nil)
	// The pending sign-in is no session.
	if rec := s.do(t, "GET", "/events", nil, pending); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Fatalf("a pending sign-in opened a page: %d", rec.Code)
	}
	if rec := s.do(t, "GET", "/login/second-factor", nil, pending); rec.Code != http.StatusOK {
		t.Fatalf("second step page: %d", rec.Code)
	}
	return s.do(t, "POST", "/login/second-factor", url.Values{"code": {code}}, pending)
}

func TestSecondFactor_EnrolSignInRecoverReset(t *testing.T) {
	s := newServer(t)
	cookie := s.login(t, "operator@example.com")
	secret, codes := s.enrol(t, cookie)

	// Sign in: password, then a code from the app.
	s.clk.add(30 * time.Second)
	rec := s.signInTwoSteps(t, "operator@example.com", totpCode(t, secret, s.clk.now()))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/events" {
		t.Fatalf("second step: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if rec := s.do(t, "GET", "/events", nil, updatedCookie(rec, nil)); rec.Code != http.StatusOK {
		t.Fatalf("after two steps: %d", rec.Code)
	}
	// A wrong code, then a recovery code.
	rec = s.signInTwoSteps(t, "operator@example.com", "111111")
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d", rec.Code)
	}
	rec = s.signInTwoSteps(t, "operator@example.com", codes[3])
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("a recovery code: %d %s", rec.Code, rec.Body.String())
	}
	if rec := s.signInTwoSteps(t, "operator@example.com", codes[3]); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a recovery code twice: %d", rec.Code)
	}
	// The pending step expires.
	rec = s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}})
	pending := updatedCookie(rec, nil)
	s.clk.add(6 * time.Minute)
	if rec := s.do(t, "POST", "/login/second-factor", url.Values{"code": {totpCode(t, secret, s.clk.now())}}, pending); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("a stale pending sign-in: %d %s", rec.Code, rec.Header().Get("Location"))
	}

	// /staff shows who has it; the admin resets it.
	admin := s.login(t, "admin@example.com")
	page := s.do(t, "GET", "/staff", nil, admin).Body.String()
	list, _ := s.store.ListStaff(context.Background())
	var opID int64
	for _, st := range list {
		if st.Email == "operator@example.com" {
			opID = st.ID
		}
	}
	if !strings.Contains(page, "/staff/"+itoa(opID)+"/second-factor/reset") {
		t.Fatal("/staff does not offer the operator's reset")
	}
	// On a phone the column is hidden: the reset is stacked under the name.
	if !strings.Contains(page, `id="reset-2fa-`+itoa(opID)+`-narrow"`) {
		t.Error("/staff hides the operator's reset on a phone")
	}
	// The reset asks first, saying what will happen; asking changes nothing.
	ask := s.do(t, "GET", "/staff/"+itoa(opID)+"/second-factor/reset", nil, admin).Body.String()
	for _, want := range []string{"Reset the second factor of Operator?", "stop working at once", `action="/staff/` + itoa(opID) + `/second-factor/reset" method="post"`} {
		if !strings.Contains(ask, want) {
			t.Errorf("the reset's question lacks %q", want)
		}
	}
	if rec := s.do(t, "GET", "/", nil, cookie); rec.Code != http.StatusOK {
		t.Errorf("the question ended the operator's session: %d", rec.Code)
	}
	if rec := s.do(t, "POST", "/staff/"+itoa(opID)+"/second-factor/reset", url.Values{}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("reset: %d", rec.Code)
	}
	if rec := s.do(t, "GET", "/", nil, cookie); rec.Code != http.StatusSeeOther {
		t.Errorf("the reset did not end the operator's session: %d", rec.Code)
	}
	if rec := s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}}); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Errorf("after the reset the password alone signs in: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rows, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionSecondFactorReset})
	if len(rows) != 1 || rows[0].ActorEmail != "admin@example.com" {
		t.Errorf("audit of the reset: %+v", rows)
	}
}

// TestSecondFactor_Throttled: wrong codes at the second step are throttled
// like passwords, whatever the address.
func TestSecondFactor_Throttled(t *testing.T) {
	s := newServer(t)
	cookie := s.login(t, "auditor@example.com")
	secret, _ := s.enrol(t, cookie)
	for range db.FreeSignInFailures {
		if rec := s.signInTwoSteps(t, "auditor@example.com", "222222"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong code: %d", rec.Code)
		}
	}
	// The next step's code (accepted for clock drift) is right, but waits.
	rec := s.signInTwoSteps(t, "auditor@example.com", totpCode(t, secret, s.clk.now().Add(30*time.Second)))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the right code while throttled: %d", rec.Code)
	}
	s.clk.add(db.FirstSignInDelay + 30*time.Second)
	if rec := s.signInTwoSteps(t, "auditor@example.com", totpCode(t, secret, s.clk.now())); rec.Code != http.StatusSeeOther {
		t.Fatalf("after the wait: %d", rec.Code)
	}
}

// TestSecondFactor_RequiredSendsToEnrol: once an admin requires it, staff
// without a second factor land on enrolment and nowhere else until done.
func TestSecondFactor_RequiredSendsToEnrol(t *testing.T) {
	s := newServer(t)
	admin := s.login(t, "admin@example.com")
	earlier := s.login(t, "operator@example.com")
	if rec := s.do(t, "POST", "/staff/second-factor-required", url.Values{"required": {"on"}}, admin); rec.Code != http.StatusSeeOther {
		t.Fatalf("require: %d", rec.Code)
	}
	// It is asked for at the next sign-in: a session already open goes on.
	if rec := s.do(t, "GET", "/accounts", nil, earlier); rec.Code != http.StatusOK {
		t.Fatalf("a session open before the requirement: %d", rec.Code)
	}
	rec := s.do(t, "POST", "/login", url.Values{"email": {"operator@example.com"}, "password": {testPassword}, "next": {"/events"}})
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/account/second-factor?next=%2Fevents" {
		t.Fatalf("sign-in while required: %d %s", rec.Code, loc)
	}
	cookie := updatedCookie(rec, nil)
	for _, target := range []string{"/", "/accounts", "/events/export.csv"} {
		rec := s.do(t, "GET", target, nil, cookie)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/account/second-factor") {
			t.Errorf("%s before enrolling: %d %s", target, rec.Code, rec.Header().Get("Location"))
		}
	}
	if rec := s.do(t, "POST", "/account/second-factor/disable", url.Values{"password": {testPassword}}, cookie); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/account/second-factor") {
		t.Errorf("other POSTs before enrolling: %d", rec.Code)
	}
	s.enrol(t, cookie)
	if rec := s.do(t, "GET", "/accounts", nil, cookie); rec.Code != http.StatusOK {
		t.Fatalf("after enrolling: %d", rec.Code)
	}
	if rec := s.do(t, "POST", "/account/second-factor/disable", url.Values{"password": {testPassword}}, cookie); rec.Code != http.StatusSeeOther {
		t.Fatalf("disable while required: %d", rec.Code)
	}
	if st, _ := s.store.StaffByEmail(context.Background(), "operator@example.com"); !st.SecondFactor {
		t.Error("turned off while required")
	}
}

// TestPassword_ChangeKeepsOnlyTheNewSession is the regression test of
// "changing one's own password signs one out": every session cookie the
// answer sets is the new session, so whichever of several Set-Cookie
// headers a browser keeps, it stays signed in; the old cookie is dead.
func TestPassword_ChangeKeepsOnlyTheNewSession(t *testing.T) {
	s := newServer(t)
	old := s.login(t, "operator@example.com")
	rec := s.do(t, "POST", "/account/password", url.Values{"current": {testPassword}, "password": {"another long passphrase"}}, old)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("change: %d", rec.Code)
	}
	n := 0
	for _, c := range rec.Result().Cookies() {
		if c.Name != "linkdesk" {
			continue
		}
		n++
		if c.MaxAge < 0 {
			t.Errorf("Set-Cookie %d deletes the session", n)
		}
		if got := s.do(t, "GET", "/accounts", nil, c); got.Code != http.StatusOK {
			t.Errorf("Set-Cookie %d of %d: %d, want the new session", n, len(rec.Result().Cookies()), got.Code)
		}
	}
	if n == 0 {
		t.Fatal("no session cookie set")
	}
	if got := s.do(t, "GET", "/accounts", nil, old); got.Code != http.StatusSeeOther {
		t.Errorf("the old cookie: %d, want 303 to sign in", got.Code)
	}
}
