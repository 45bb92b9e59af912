package handlers_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
)

// Tests of the console (issue 13) through the real router: search by
// name, email and phone; the mint form without deposit accounts; the
// confirmations; 404s and the unknown launch link; time zones; counts,
// chips and order of the lists; live panels and toasts; the dashboard.

func TestSearch_People(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	finishFetches(t, s, map[string]string{db.FetchIdentity: identitySnapshot})
	ctx := context.Background()
	if _, _, err := s.store.SaveCustomer(ctx, db.Actor{Email: "system"}, db.CustomerInput{EndUserID: "eu-2", FullName: "Liam García",
		DateOfBirth: "1988-02-03", SSNLast4: "1234", Email: "ash.b@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.store.SaveCustomer(ctx, db.Actor{Email: "system"}, db.CustomerInput{EndUserID: "eu-nowhere", FullName: "Lia García",
		DateOfBirth: "1988-02-03", SSNLast4: "1234"}); err != nil {
		t.Fatal(err)
	}
	op := s.login(t, "operator@example.com")
	for q, loc := range map[string]string{
		"garcia liam":       "/end-users/eu-2", // another order, no accent: one person
		"LIAM GARC":         "/end-users/eu-2", // case and prefixes
		"ash.b@example.com": "/end-users/eu-2",
		"ash userton":       "/end-users/eu-1", // from Pinwheel's identity
		"(234) 555-6789":    "/end-users/eu-1", // the identity's phone, without the country code
		"lia garcia":        "",                // two people: the results page
	} {
		rec := s.do(t, http.MethodGet, "/search?q="+url.QueryEscape(q), nil, op)
		if loc == "" {
			if rec.Code != http.StatusOK {
				t.Errorf("%q: %d", q, rec.Code)
			}
			continue
		}
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != loc {
			t.Errorf("search %q: %d %q, want 303 %q", q, rec.Code, rec.Header().Get("Location"), loc)
		}
	}
	// Grouped, with what matched; a person known only from a customer
	// record leads to that record.
	body := get(t, s, op, "/search?q=garc").Body.String()
	for _, want := range []string{"People <small", "Liam García", "Lia García", `href="/customers/eu-nowhere"`, "name (customer record)", "customer record only"} {
		if !strings.Contains(body, want) {
			t.Errorf("results lack %q", want)
		}
	}
	// Matched values are masked: partly for operators, wholly for auditors.
	// "ash": Ash Userton by name, Liam García by the email ash.b@….
	body = get(t, s, op, "/search?q=ash").Body.String()
	if !strings.Contains(body, "email a•••@example.com (customer record)") || strings.Contains(body, "ash.b@example.com") {
		t.Error("operator: the matched email is not masked")
	}
	aud := s.login(t, "auditor@example.com")
	body = get(t, s, aud, "/search?q=ash").Body.String()
	if !strings.Contains(body, "email ••• (customer record)") || strings.Contains(body, "a•••@") {
		t.Error("auditor: the matched email is not wholly masked")
	}
}

func TestODUNew_NoDepositAccounts(t *testing.T) {
	s := newServer(t)
	account := sampleAccount(t, s)
	for role, who := range map[string]string{"operator": "An admin (Admin)", "admin": "Add a deposit account in Settings"} {
		body := get(t, s, s.login(t, role+"@example.com"), "/accounts/"+account+"/update").Body.String()
		for _, want := range []string{`id="no-deposits"`, "No deposit accounts are set up", who,
			`value="direct_deposit_switch" disabled aria-describedby="switch-why"`, `<fieldset class="odu-switch" disabled>`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: the form lacks %q", role, want)
			}
		}
	}
}

func TestConfirmations(t *testing.T) {
	s := newServer(t)
	token := sampleToken(t, s)
	admin := s.login(t, "admin@example.com")
	list, _ := s.store.ListStaff(context.Background())
	var opID string
	for _, st := range list {
		if st.Role == db.RoleOperator {
			opID = itoa(st.ID)
		}
	}
	dep, err := s.store.CreateDepositAccount(context.Background(), db.Actor{Email: "system"}, db.DepositAccountCreate{Name: "Payroll", Type: "checking", RoutingNumber: "021000021", AccountNumber: "123456789"})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/tokens/" + token + "/revoke":                            {"Revoke this update link?", "stops working at once", `action="/tokens/` + token + `/revoke" method="post"`},
		"/staff/" + opID + "/deactivate":                          {"Deactivate Operator?", "can no longer sign in", `action="/staff/` + opID + `/deactivate" method="post"`},
		"/staff/" + opID + "/role?role=auditor":                   {"Make Operator an auditor?", "From operator to auditor", `name="role" value="auditor"`},
		"/staff/" + opID + "/role":                                {"Change the role of Operator (now operator)", `<select id="confirm-choice" name="role">`},
		"/settings/deposit-accounts/" + itoa(dep.ID) + "/archive": {"Archive Payroll ••6789?", "can no longer send pay to it"},
	} {
		// Without JavaScript: a page that asks; with htmx: the dialog alone.
		page := get(t, s, admin, path).Body.String()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("HX-Request", "true")
		req.AddCookie(admin)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		dialog := rec.Body.String()
		if !strings.Contains(page, `<article class="narrow confirm" id="confirm">`) || !strings.HasPrefix(dialog, `<dialog id="confirm-dialog"`) {
			t.Errorf("%s: page or dialog missing", path)
		}
		for _, w := range want {
			if !strings.Contains(page, w) || !strings.Contains(dialog, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	// Asking changes nothing.
	if d, _ := s.store.LinkByID(context.Background(), token); d.Revoked() {
		t.Error("the question revoked the link")
	}
	if rec := s.do(t, http.MethodGet, "/staff/"+opID+"/deactivate", nil, s.login(t, "operator@example.com")); rec.Code != http.StatusForbidden {
		t.Errorf("an operator may see the deactivation question: %d", rec.Code)
	}
}

// Every other action that cannot be undone asks the same way: a
// campaign's cancel, a destination's new signing secret, a staff member's
// second factor reset (its launch, end and payout questions are in the
// campaign story, TestCampaigns_DraftApproveLaunchTrack). Each question is
// a page without JavaScript and a dialog with htmx, open to the roles of
// its action only, changes nothing, and its form's POST does the action.
func TestConfirmations_IrreversibleActions(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	admin, op, aud := s.login(t, "admin@example.com"), s.login(t, "operator@example.com"), s.login(t, "auditor@example.com")
	dest := sampleDestination(t, s)
	camp := sampleCampaign(t, s)
	cid, _ := strconv.ParseInt(camp, 10, 64)
	adminA := staffActor(t, s, db.RoleAdmin)
	if err := s.store.ApproveCampaign(ctx, adminA, db.RoleAdmin, cid); err != nil {
		t.Fatal(err)
	}
	if err := s.store.LaunchCampaign(ctx, staffActor(t, s, db.RoleOperator), cid); err != nil {
		t.Fatal(err)
	}
	list, _ := s.store.ListStaff(ctx)
	var opID string
	for _, st := range list {
		if st.Role == db.RoleOperator {
			opID = itoa(st.ID)
		}
	}
	for _, q := range []struct {
		path    string
		who     *http.Cookie
		refused []*http.Cookie
		want    []string
		button  string // the page that links to the question
	}{
		{"/campaigns/" + camp + "/cancel", op, []*http.Cookie{aud},
			[]string{"Cancel the launch of “Sample refresh”?", "are revoked", "cannot be undone", `action="/campaigns/` + camp + `/cancel" method="post"`}, "/campaigns/" + camp},
		{"/alerts/destinations/" + dest + "/rotate", admin, []*http.Cookie{op, aud},
			[]string{"Give “Ops” a new signing secret?", "webhook to hooks.example.com", "shown once", `action="/alerts/destinations/` + dest + `/rotate" method="post"`}, "/alerts/destinations/" + dest},
		{"/staff/" + opID + "/second-factor/reset", admin, []*http.Cookie{op, aud},
			[]string{"Reset the second factor of Operator?", "has no second factor; nothing will change"}, ""},
	} {
		page := get(t, s, q.who, q.path).Body.String()
		req := httptest.NewRequest(http.MethodGet, q.path, nil)
		req.Header.Set("HX-Request", "true")
		req.AddCookie(q.who)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		dialog := rec.Body.String()
		if !strings.Contains(page, `<article class="narrow confirm" id="confirm">`) || !strings.HasPrefix(dialog, `<dialog id="confirm-dialog"`) {
			t.Errorf("%s: page or dialog missing", q.path)
		}
		for _, w := range q.want {
			if !strings.Contains(page, w) || !strings.Contains(dialog, w) {
				t.Errorf("%s lacks %q", q.path, w)
			}
		}
		for _, c := range q.refused {
			if rec := s.do(t, http.MethodGet, q.path, nil, c); rec.Code != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", q.path, rec.Code)
			}
		}
		if q.button != "" {
			if body := get(t, s, q.who, q.button).Body.String(); !strings.Contains(body, `href="`+q.path+`" role="button"`) {
				t.Errorf("%s does not lead to the question %s", q.button, q.path)
			}
		}
	}
	// Asking changed nothing; answering does it.
	if c, _ := s.store.CampaignByID(ctx, cid); c.State != db.CampaignLaunching {
		t.Fatalf("the question changed the campaign: %s", c.State)
	}
	body, _ := follow(t, s, s.do(t, http.MethodPost, "/campaigns/"+camp+"/cancel", url.Values{}, op), op)
	if c, _ := s.store.CampaignByID(ctx, cid); c.State != db.CampaignCancelled || !strings.Contains(body, "Cancelled") {
		t.Errorf("cancel: %s", c.State)
	}
	if body := get(t, s, op, "/campaigns/"+camp+"/cancel").Body.String(); !strings.Contains(body, "changes nothing") {
		t.Error("the cancel's question after cancelling still offers to cancel")
	}
	body, _ = follow(t, s, s.do(t, http.MethodPost, "/alerts/destinations/"+dest+"/rotate", url.Values{}, admin), admin)
	if !strings.Contains(body, "New signing secret, shown this once") {
		t.Error("rotate: no new secret shown")
	}
}

func TestErrors_SayWhatAndOfferAWayOn(t *testing.T) {
	s := newServer(t)
	c := s.login(t, "auditor@example.com")
	for path, want := range map[string]string{
		"/accounts/9eeb1c2d-0000":      "No account 9eeb1c2d-0000 is known to Linkdesk.",
		"/end-users/nobody":            "No end user nobody is known to Linkdesk.",
		"/events/ev-nope":              "No event ev-nope is known to Linkdesk.",
		"/tokens/0123456789abcdef":     "No token 0123456789abcdef is known to Linkdesk.",
		"/nowhere":                     "There is no page at /nowhere.",
		"/alerts/987654":               "No alert 987654 is known to Linkdesk.",
		"/campaigns/987654":            "No campaign 987654 is known to Linkdesk.",
		"/monitoring/reconnect/987654": "No batch of reconnect links 987654 is known to Linkdesk.",
	} {
		rec := s.do(t, http.MethodGet, path, nil, c)
		body := rec.Body.String()
		if rec.Code != http.StatusNotFound || !strings.Contains(body, want) || !strings.Contains(body, `id="q-page"`) || !strings.Contains(body, `href="/">Go to the dashboard`) {
			t.Errorf("%s: %d, lacks %q or the search", path, rec.Code, want)
		}
	}
	// The ID is prefilled in the search box.
	if body := s.do(t, http.MethodGet, "/accounts/9eeb1c2d-0000", nil, c).Body.String(); !strings.Contains(body, `id="q-page" type="search" name="q" value="9eeb1c2d-0000"`) {
		t.Error("the 404's search box is not prefilled")
	}
	// An unknown launch link: the end user's page, signed in or not.
	for _, cookie := range [][]*http.Cookie{nil, {c}} {
		for _, id := range []string{"not-a-link", strings.Repeat("a", 32)} {
			rec := s.do(t, http.MethodGet, "/l/"+id, nil, cookie...)
			body := rec.Body.String()
			if rec.Code != http.StatusNotFound || !strings.Contains(body, "find this link") || strings.Contains(body, `class="site"`) || strings.Contains(body, "/search") {
				t.Errorf("/l/%s: %d, the staff console's page", id, rec.Code)
			}
		}
	}
}

func TestTimeZone(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	c := s.login(t, "auditor@example.com")
	if body := get(t, s, c, "/account").Body.String(); !strings.Contains(body, `value="UTC"`) {
		t.Error("the default time zone is not UTC")
	}
	rec := s.do(t, http.MethodPost, "/account/time-zone", url.Values{"time_zone": {"Mars/Olympus"}}, c)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "not a time zone Linkdesk knows") {
		t.Errorf("a bad zone: %d", rec.Code)
	}
	rec = s.do(t, http.MethodPost, "/account/time-zone", url.Values{"time_zone": {"America/New_York"}}, c)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("saving: %d", rec.Code)
	}
	body := get(t, s, c, "/end-users/eu-1").Body.String()
	// 26 November 2026 11:06 UTC is 06:06 in New York.
	for _, want := range []string{`data-tz="America/New_York"`, "06:06:00 EST", "Thursday 26 November 2026"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page in New York time lacks %q", want)
		}
	}
	audits, _, _ := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionTimeZoneChanged, Limit: 1})
	if len(audits) != 1 || audits[0].ActorEmail != "auditor@example.com" {
		t.Errorf("audit %+v", audits)
	}
}

func TestLists_CountsChipsAndOrder(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	c := s.login(t, "auditor@example.com")
	for path, want := range map[string][]string{
		"/accounts":                              {"3 accounts"},
		"/accounts?status=active":                {"2 of 3 accounts match", `Monitoring: <strong>active</strong></span> <span class="chip-n">2</span>`, `href="/accounts"`},
		"/accounts?status=active&platform=p-adp": {"1 of 3 accounts matches", `href="/accounts?platform=p-adp"`, `href="/accounts?status=active"`, "Clear all filters"},
		"/end-users?status=degraded":             {"1 of 2 end users matches"},
		"/events?outcome=error":                  {"1 of 6 events matches", "Outcome: <strong>failed</strong>"},
		"/events/rejected":                       {`id="list-count" role="status">1 rejected delivery</p>`},
		"/events/rejected?reason=bad_signature":  {`id="list-count" role="status">1 of 1 rejected delivery matches</p>`, `</strong></span> <span class="chip-n">1</span> <a href="/events/rejected" class="chip-x"`},
	} {
		body := unamp(get(t, s, c, path).Body.String())
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
	newest := tableRows(t, get(t, s, c, "/accounts").Body.String(), "accounts", "/accounts/")
	body := get(t, s, c, "/accounts?order=oldest").Body.String()
	oldest := tableRows(t, body, "accounts", "/accounts/")
	if len(newest) != 3 || !equal(oldest, []string{newest[2], newest[1], newest[0]}) {
		t.Errorf("newest %v, oldest %v", newest, oldest)
	}
	if !strings.Contains(body, `aria-sort="ascending"`) {
		t.Error("the column does not say its order")
	}
	evNew := tableRows(t, get(t, s, c, "/events").Body.String(), "events", "/events/")
	evOld := tableRows(t, get(t, s, c, "/events?order=oldest").Body.String(), "events", "/events/")
	if len(evNew) == 0 || evNew[0] != evOld[len(evOld)-1] {
		t.Errorf("events newest %v, oldest %v", evNew, evOld)
	}
}

// unamp unescapes the &amp; of links, for matching URLs.
func unamp(s string) string { return strings.ReplaceAll(s, "&amp;", "&") }

// TestLive_PanelsAndToasts opens the account page's stream, then a webhook
// and a link of the staff member's finishing send the panels that changed
// and a toast; a client that does not read event streams gets the panels
// once.
func TestLive_PanelsAndToasts(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := s.login(t, "admin@example.com")
	page := get(t, s, c, "/accounts/"+accA).Body.String()
	m := regexp.MustCompile(`sse-connect="(/accounts/[^"]+/live\?[^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no stream on the account page")
	}
	for _, panel := range []string{`<div id="account-header" class="live-panel" sse-swap="account-header" hx-swap="innerHTML">`, `sse-swap="account-tokens"`, `sse-swap="account-allocations"`, `id="toasts" class="toasts" sse-swap="toast"`} {
		if !strings.Contains(page, panel) {
			t.Errorf("the page lacks %q", panel)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+unamp(m[1]), nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if e, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- e
			}
		}
		close(events)
	}()
	// A link of this admin's for the account, which the user then finishes.
	token := sampleLinkFor(t, s, accA)
	s.deliver(t, s.clk.now().Add(time.Minute), added("ev-relogin", accA, "eu-1", "p-wd", "Workday", "degraded", true))
	want := map[string]bool{"entry": false, "account-header": false, "account-tokens": false}
	deadline := time.After(time.Minute)
	for !want["entry"] || !want["account-header"] || !want["account-tokens"] {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("stream ended; seen %v", want)
			}
			if _, tracked := want[e]; tracked {
				want[e] = true
			}
			if e == "account-allocations" {
				t.Error("an unchanged panel was sent")
			}
		case <-deadline:
			t.Fatalf("no panels within a minute; seen %v", want)
		}
	}
	// The user finishes Link: a toast for the admin who made the link.
	if _, err := s.store.RecordLaunchEvent(context.Background(), token.LaunchID, "success", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("stream ended before the toast")
			}
			seen = e == "toast"
		case <-deadline:
			t.Fatal("no toast within a minute")
		}
	}
	// A client without event streams gets the panels once.
	once := get(t, s, c, "/tokens/live").Body.String()
	if !strings.Contains(once, `<div id="tokens-list">`) || !strings.Contains(once, "token-"+token.TokenID) {
		t.Errorf("panels once: %.300s", once)
	}
}

func TestDashboard_Story(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	tok := sampleLinkFor(t, s, accA)
	for _, ev := range []string{"page_opened", "open", "success"} {
		if _, err := s.store.RecordLaunchEvent(context.Background(), tok.LaunchID, ev, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	sampleLinkFor(t, s, accB)
	c := s.login(t, "operator@example.com")
	body := get(t, s, c, "/").Body.String()
	for _, want := range []string{
		`id="env-banner"`, "Emulator",
		`<span class="n">2</span> created</li><li><span class="n">1</span> page opened <span class="rate">50%</span>`,
		`<span class="n">1</span> succeeded <span class="rate">50%</span>`,
		`href="/accounts?status=user_action_required"`, `href="/events/rejected"`, `href="/tokens?expiring=1"`,
		`<span class="n">1</span> <span class="what">link expires unused`, // the second link, within a day
		`role="img" aria-labelledby="chart-title"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if body := get(t, s, c, "/tokens?expiring=1").Body.String(); strings.Count(body, `id="token-`) != 1 {
		t.Error("the expiring filter does not list the one link")
	}
}

// sampleLinkFor makes a link that mints when opened, created by the admin
// for account and expiring in an hour.
func sampleLinkFor(t *testing.T, s *testServer, account string) db.Link {
	t.Helper()
	ctx := context.Background()
	admin, err := s.store.StaffByEmail(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	n := db.NewLink{Mode: db.ModeMintOnOpen, AccountID: account, EndUserID: "eu-1", PlatformID: "p-wd",
		Jobs: []string{"identity"}, Language: "en", Reason: "test", APIVersion: "2023-11-22", LinkExpiresAt: s.clk.now().Add(time.Hour)}
	n.TokenID, n.LaunchID = db.NewLinkIDs()
	n.Tags = map[string]string{"linkdesk_token_id": n.TokenID}
	l, err := s.store.CreateLink(ctx, db.Actor{StaffID: admin.ID, Email: admin.Email}, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLists_AlertsCount: /alerts has the count line of every list, and a
// chip alone counts what it matches.
func TestLists_AlertsCount(t *testing.T) {
	s := newServer(t)
	sampleAlert(t, s)
	c := s.login(t, "auditor@example.com")
	for path, want := range map[string][]string{
		"/alerts":                           {`id="list-count" role="status">1 of 1 alert matches</p>`},
		"/alerts?state=resolved":            {`id="list-count" role="status">0 of 1 alert match</p>`, `State: <strong>resolved</strong></span> <span class="chip-n">0</span>`},
		"/alerts?rule=" + db.RuleAuditChain: {`id="list-count" role="status">1 of 1 alert matches</p>`, `<span class="chip-n">1</span>`, `href="/alerts" class="chip-x"`},
	} {
		mustContain(t, path, unamp(get(t, s, c, path).Body.String()), want...)
	}
}

// rawTimeRE is a time as views.When writes it; outside a <time> element
// (views.Time, ExactTime, TimeAs) it would stay in UTC for everyone.
var (
	rawTimeRE     = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC`)
	timeElementRE = regexp.MustCompile(`(?s)<time\b[^>]*>.*?</time>`)
)

// TestTimes_ThroughTheOneComponent: every page that shows a time shows it
// through the one component (relative, exact in the staff member's time
// zone on hover): no time as plain UTC text outside a <time> element.
func TestTimes_ThroughTheOneComponent(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	ctx := context.Background()
	alert := sampleAlert(t, s)
	id, _ := strconv.ParseInt(alert, 10, 64)
	if err := s.store.AcknowledgeAlert(ctx, staffActor(t, s, db.RoleOperator), id); err != nil {
		t.Fatal(err)
	}
	batch := sampleBatch(t, s)
	s.do(t, http.MethodPost, "/login", url.Values{"email": {"admin@example.com"}, "password": {"not the password"}})
	c := s.login(t, "admin@example.com")
	if rec := s.do(t, http.MethodPost, "/accounts/"+accA+"/reveal", url.Values{"fields": {db.PIISSNLastFour}, "reason": {"ticket 1"}}, c); rec.Code != http.StatusOK {
		t.Fatalf("reveal: %d", rec.Code)
	}
	for _, p := range []string{"/", "/alerts", "/alerts/" + alert, "/events", "/events/ev-a3", "/audit", "/audit/reveals", "/staff",
		"/monitoring", "/monitoring/reconnect/" + batch, "/accounts", "/accounts/" + accA, "/end-users/eu-1", "/tokens", "/customers"} {
		rec := get(t, s, c, p)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", p, rec.Code)
			continue
		}
		for _, m := range rawTimeRE.FindAllString(timeElementRE.ReplaceAllString(rec.Body.String(), ""), -1) {
			t.Errorf("%s shows %q as plain text, not through views.Time", p, m)
		}
	}
}
