package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/dbtest"
)

// staffCmd runs `linkdesk staff ARGS` through run() and returns its output.
func staffCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"staff"}, args...), func(string) string { return "" }, &out, io.Discard)
	return out.String(), err
}

// mustStaffCmd is staffCmd that fails the test on an error.
func mustStaffCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := staffCmd(t, args...)
	if err != nil {
		t.Fatalf("linkdesk staff %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

var oneTimeRE = regexp.MustCompile(`one-time password: (\S+)`)

func oneTime(t *testing.T, out string) string {
	t.Helper()
	m := oneTimeRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no one-time password printed:\n%s", out)
	}
	return m[1]
}

// browserless is a cookie-keeping HTTP client that does not follow
// redirects, so a test sees each 303.
type browserless struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowserless(t *testing.T, base string) *browserless {
	jar, _ := cookiejar.New(nil)
	return &browserless{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a GET (form nil) or a form POST and returns status, Location
// and body.
func (b *browserless) do(method, path string, form url.Values) (int, string, string) {
	b.t.Helper()
	var res *http.Response
	var err error
	if form == nil {
		res, err = b.c.Get(b.base + path)
	} else {
		res, err = b.c.PostForm(b.base+path, form)
	}
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(body)
}

// TestStaff_WayBackIn is the lost-password story through the real router:
// serve runs; `linkdesk staff reset-password` prints a one-time password;
// the old password stops working; signing in with the new one leads to the
// password-change page before anything else (pages and state changes
// alike); after the change the console works, the list shows the sign-in,
// and the audit trail holds the reset as a console action (db's tests
// verify the chain through it).
func TestStaff_WayBackIn(t *testing.T) {
	d := newTestDB(t)
	path := d.path
	base, out := startServe(t, map[string]string{d.env: path})
	email, lost := printedLogin(t, out.String())

	reset := mustStaffCmd(t, "reset-password", email, d.flag, path)
	otp := oneTime(t, reset)
	if !strings.Contains(reset, "must choose a new password") {
		t.Errorf("reset output does not say what happens next:\n%s", reset)
	}

	b := newBrowserless(t, base)
	if code, _, _ := b.do("POST", "/login", url.Values{"email": {email}, "password": {lost}}); code != http.StatusUnauthorized {
		t.Errorf("old password after the reset: %d, want 401", code)
	}
	code, loc, _ := b.do("POST", "/login", url.Values{"email": {email}, "password": {otp}, "next": {"/events"}})
	if code != http.StatusSeeOther || loc != "/account/password?next=%2Fevents" {
		t.Fatalf("sign-in with the one-time password: %d to %q, want 303 to the password page", code, loc)
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
		want         string
	}{
		{"GET", "/", nil, "/account/password"},
		{"GET", "/accounts?status=active", nil, "/account/password?next=%2Faccounts%3Fstatus%3Dactive"},
		{"GET", "/staff", nil, "/account/password?next=%2Fstaff"},
		{"POST", "/staff", url.Values{"email": {"sneak@example.com"}, "name": {"Sneak"}, "role": {"admin"}, "password": {"sneaky password 1"}}, "/account/password"},
	} {
		if code, loc, _ := b.do(tc.method, tc.path, tc.form); code != http.StatusSeeOther || loc != tc.want {
			t.Errorf("%s %s before the change: %d to %q, want 303 to %q", tc.method, tc.path, code, loc, tc.want)
		}
	}
	code, _, body := b.do("GET", "/account/password?next=%2Fevents", nil)
	if code != http.StatusOK || !strings.Contains(body, "one-time password") || !strings.Contains(body, `name="next" value="/events"`) {
		t.Fatalf("password page: %d\n%s", code, body)
	}
	if code, _, _ := b.do("POST", "/account/password", url.Values{"current": {otp}, "password": {otp}}); code != http.StatusUnprocessableEntity {
		t.Errorf("keeping the one-time password: %d, want 422", code)
	}
	code, loc, _ = b.do("POST", "/account/password", url.Values{"current": {otp}, "password": {"my own new password"}, "next": {"/events"}})
	if code != http.StatusSeeOther || loc != "/events" {
		t.Fatalf("password change: %d to %q, want 303 to /events", code, loc)
	}
	if code, loc, body := b.do("GET", "/staff", nil); code != http.StatusOK || strings.Contains(body, "sneak@example.com") {
		t.Errorf("staff page after the change: %d %q (the refused POST must have created nobody)", code, loc)
	}

	list := mustStaffCmd(t, "list", d.flag, path)
	if !regexp.MustCompile(regexp.QuoteMeta(email)+`\s+Administrator\s+admin\s+yes\s+\d{4}-\d\d-\d\d \d\d:\d\d UTC`).MatchString(list) || strings.Contains(list, "must choose") {
		t.Errorf("list after the change:\n%s", list)
	}

	store, err := db.Open(context.Background(), path, db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rows, _, err := store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionPasswordReset})
	if err != nil || len(rows) != 1 || !strings.HasPrefix(rows[0].ActorEmail, "console (linkdesk staff") || rows[0].IP != "local" {
		t.Fatalf("audit of the reset: %+v, %v", rows, err)
	}
}

// TestStaff_Commands runs create, list, deactivate, reactivate and the
// refusals on a temp database.
func TestStaff_Commands(t *testing.T) {
	ctx := context.Background()
	d := newTestDB(t)
	path := d.path
	if !dbtest.OnPostgres() {
		// (d.path already holds a migrated database: see dbtest.)
		missing := filepath.Join(t.TempDir(), "missing.db")
		if _, err := staffCmd(t, "list", d.flag, missing); err == nil || !strings.Contains(err.Error(), "no database at") {
			t.Fatalf("list on a missing database: %v, want a refusal (not a new empty file)", err)
		}
	}
	key := make([]byte, db.EncryptionKeySize)
	store, err := db.Open(ctx, path, db.Options{PasswordCost: bcrypt.MinCost, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.EnsureAdmin(ctx, "boss@example.com", "boss password 12"); err != nil {
		t.Fatal(err)
	}
	store.Close()

	out := mustStaffCmd(t, "create", d.flag, path, "--email", "Olga@Example.com", "--name", "Olga Operator")
	if !strings.Contains(out, "Created olga@example.com (Olga Operator, operator)") {
		t.Errorf("create output:\n%s", out)
	}
	oneTime(t, out)
	if _, err := staffCmd(t, "create", d.flag, path, "--email", "olga@example.com", "--name", "Again", "--role", "boss"); err == nil ||
		!strings.Contains(err.Error(), "--email: A staff member with this email already exists.") && !strings.Contains(err.Error(), "--role") {
		t.Errorf("create with a taken email and a bad role: %v", err)
	}
	if _, err := staffCmd(t, "create", d.flag, path, "--name", "No Email"); err == nil || !strings.Contains(err.Error(), "--email") {
		t.Errorf("create without --email: %v", err)
	}

	list := mustStaffCmd(t, "list", d.flag, path)
	for _, re := range []string{
		`EMAIL\s+NAME\s+ROLE\s+ACTIVE\s+LAST SIGN-IN`,
		`boss@example.com\s+Administrator\s+admin\s+yes\s+never`,
		`olga@example.com\s+Olga Operator\s+operator\s+yes\s+never\s+one-time password: must choose a new one`,
		`2 staff, 1 active admin\.`,
	} {
		if !regexp.MustCompile(re).MatchString(list) {
			t.Errorf("list lacks %s:\n%s", re, list)
		}
	}

	if _, err := staffCmd(t, "deactivate", "boss@example.com", d.flag, path); err == nil || !strings.Contains(err.Error(), "last active admin") {
		t.Errorf("deactivating the last admin: %v, want a refusal", err)
	}
	if out := mustStaffCmd(t, "deactivate", d.flag, path, "olga@example.com"); !strings.Contains(out, "Deactivated olga@example.com") {
		t.Errorf("deactivate: %s", out)
	}
	if out := mustStaffCmd(t, "deactivate", "olga@example.com", d.flag, path); !strings.Contains(out, "already deactivated") {
		t.Errorf("deactivate twice: %s", out)
	}
	if out := mustStaffCmd(t, "reset-password", "olga@example.com", d.flag, path); !strings.Contains(out, "staff reactivate olga@example.com") {
		t.Errorf("reset of a deactivated person does not say how to reactivate:\n%s", out)
	}
	if out := mustStaffCmd(t, "reactivate", "olga@example.com", d.flag, path); !strings.Contains(out, "Reactivated olga@example.com") {
		t.Errorf("reactivate: %s", out)
	}
	if _, err := staffCmd(t, "reset-password", "nobody@example.com", d.flag, path); err == nil || !strings.Contains(err.Error(), "no staff member") {
		t.Errorf("reset of an unknown email: %v", err)
	}
	if _, err := staffCmd(t, "reset-password", d.flag, path); err == nil || !strings.Contains(err.Error(), "which staff member") {
		t.Errorf("reset without an email: %v", err)
	}
	if _, err := staffCmd(t, "promote", d.flag, path); err == nil || !strings.Contains(err.Error(), `unknown command "promote"`) {
		t.Errorf("unknown staff command: %v", err)
	}

	store, err = db.Open(ctx, path, db.Options{PasswordCost: bcrypt.MinCost, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	olga, err := store.StaffByEmail(ctx, "olga@example.com")
	if err != nil || !olga.Active || !olga.MustChangePassword {
		t.Errorf("olga after the commands: %+v, %v; want active, must change password", olga, err)
	}
	rows, _, err := store.ListAudit(ctx, db.AuditFilter{TargetType: "staff", TargetID: strconv.FormatInt(olga.ID, 10)})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range rows {
		if !strings.HasPrefix(r.ActorEmail, "console (linkdesk staff") || r.ActorID != 0 {
			t.Errorf("audit row %d by %q (id %d), want the console", r.ID, r.ActorEmail, r.ActorID)
		}
		actions = append([]string{r.Action}, actions...)
	}
	want := []string{db.ActionStaffCreated, db.ActionStaffUpdated, db.ActionPasswordReset, db.ActionStaffUpdated}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("audit of olga: %v, want %v", actions, want)
	}
	if _, err := store.Setting(ctx, "encryption_key"); err == nil {
		t.Error("a staff command stored a generated encryption key beside the data")
	}
}

// TestServe_LaterStartSaysWhoCanSignIn: the first start prints the admin
// login; a later one prints the active admins and the exact reset command,
// and (emulator mode) the emulator's secret, which signs webhooks this
// Linkdesk accepts, as loadgen needs.
func TestServe_LaterStartSaysWhoCanSignIn(t *testing.T) {
	d := newTestDB(t)
	path := d.path
	env := map[string]string{d.env: path}
	var first string
	t.Run("first start", func(t *testing.T) {
		_, out := startServe(t, env)
		first = out.String()
	})
	email, _ := printedLogin(t, first)
	if strings.Contains(first, "reset-password") {
		t.Errorf("first start prints the reset command already:\n%s", first)
	}
	t.Run("later start", func(t *testing.T) {
		base, out := startServe(t, env)
		loadgenRE := regexp.MustCompile(`loadgen webhooks --target (\S+) --secret (\S+)`)
		var m []string
		for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			m = loadgenRE.FindStringSubmatch(out.String()) // printed just after the URL
		}
		later := out.String()
		for _, want := range []string{
			"1 active admin can sign in: " + email,
			"staff reset-password " + email + dbFlagOf(d) + "\n",
		} {
			if !strings.Contains(later, want) {
				t.Errorf("later start lacks %q:\n%s", want, later)
			}
		}
		if strings.Contains(later, "password:") {
			t.Errorf("later start prints a password:\n%s", later)
		}
		if m == nil || m[1] != base+"/webhooks/pinwheel" {
			t.Fatalf("no loadgen command for this Linkdesk printed:\n%s", later)
		}
		postSignedWebhook(t, base, m[2], `{"event_id": "evt-printed-secret", "event": "account.added", "payload": {"created_at": "2026-01-02T03:04:05Z", "link_token_id": "lt-1", "platform_id": "p-1", "connected": true, "monitoring_status": "active", "end_user_id": "eu-1", "account_id": "acc-printed-secret", "platform_name": "Workday"}}`)
	})
}

// dbFlagOf is how serve's sign-in hints name d: the file, or the
// variable that holds the PostgreSQL URL (never the URL itself).
func dbFlagOf(d testDB) string {
	if d.env == "LINKDESK_DATABASE_URL" {
		return ` --database-url "$LINKDESK_DATABASE_URL"`
	}
	return " --db " + shellQuote(d.path)
}
