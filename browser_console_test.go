package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"linkdesk/browsertest"
	"linkdesk/db"
	"linkdesk/handlers"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
	"linkdesk/web"
)

// The console's browser tests (issue 13): a small world built the way real
// data arrives (Link sessions through the emulator, signed webhooks), then
// the pages checked as staff use them.

const consolePassword = "console password 123"

// consoleWorld is a running `linkdesk serve` with its emulator and a small
// world: two connected accounts (one with a customer record named "Liam
// García"), staff of every role, a deposit account, an update link, a
// customer import waiting for confirmation.
type consoleWorld struct {
	base   string
	dir    string
	secret string
	store  *db.Store
	api    *pinwheel.Client
	driver *sandbox.Driver

	account, endUser   string // Liam García's
	account2, endUser2 string
	tokenID            string // a link that mints when opened
	importID           string
	operatorID         int64
	depositID          int64
}

func newConsoleWorld(t *testing.T) *consoleWorld {
	t.Helper()
	w := &consoleWorld{dir: t.TempDir(), secret: "console_browser_secret"}
	w.base, _ = startServe(t, map[string]string{
		"LINKDESK_DB": filepath.Join(w.dir, "linkdesk.db"), "LINKDESK_SANDBOX_STATE": filepath.Join(w.dir, "sandbox.db"),
		"LINKDESK_PINWHEEL_SECRET": w.secret, "LINKDESK_ADMIN_PASSWORD": consolePassword,
	})
	bg := context.Background()
	var err error
	w.store, err = db.Open(bg, filepath.Join(w.dir, "linkdesk.db"), db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	sys := db.Actor{Email: "browser-test"}
	for _, st := range []db.StaffCreate{
		{Email: "olga@example.com", Name: "Olga Operator", Role: db.RoleOperator, Password: consolePassword},
		{Email: "audrey@example.com", Name: "Audrey Auditor", Role: db.RoleAuditor, Password: consolePassword},
	} {
		s, err := w.store.CreateStaff(bg, sys, st)
		if err != nil {
			t.Fatal(err)
		}
		if st.Role == db.RoleOperator {
			w.operatorID = s.ID
		}
	}
	if err := w.store.SetOrgName(bg, sys, "Acme Payroll Co"); err != nil {
		t.Fatal(err)
	}
	dep, err := w.store.CreateDepositAccount(bg, sys, db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "4400556789"})
	if err != nil {
		t.Fatal(err)
	}
	w.depositID = dep.ID

	// Two users connect their payroll accounts through the emulator.
	w.api = pinwheel.New(pinwheel.Config{BaseURL: w.base + "/sandbox/v1", Secret: w.secret})
	w.driver = &sandbox.Driver{BaseURL: w.base + "/sandbox", Secret: w.secret}
	w.endUser, w.endUser2 = "eu-liam", "eu-second"
	w.account = w.connect(t, w.endUser)
	w.account2 = w.connect(t, w.endUser2)
	if _, _, err := w.store.SaveCustomer(bg, sys, db.CustomerInput{EndUserID: w.endUser, FullName: "Liam García", DateOfBirth: "1988-02-03",
		SSNLast4: "1234", Email: "liam.garcia@example.com"}); err != nil {
		t.Fatal(err)
	}

	// An admin's session over plain HTTP makes a link and a CSV upload.
	c := w.client(t, "admin@linkdesk.local")
	resp := w.post(t, c, "/accounts/"+w.account+"/update", url.Values{"jobs": {"identity"}, "language": {"en"}, "reason": {"Browser test"}, "mode": {"mint_on_open"}})
	if m := regexp.MustCompile(`/tokens/([0-9a-f]{16})$`).FindStringSubmatch(resp.Request.URL.Path); m != nil {
		w.tokenID = m[1]
	} else {
		t.Fatalf("no link created: %s", resp.Request.URL)
	}
	w.importID = w.upload(t, c)
	return w
}

// connect drives one Link session for endUser and waits for its account,
// its identity and its allocations to be stored.
func (w *consoleWorld) connect(t *testing.T, endUser string) string {
	t.Helper()
	bg := context.Background()
	lt, err := w.api.CreateLinkToken(bg, pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: endUser,
		RequiredJobs: []string{pinwheel.JobIdentity, pinwheel.JobDDAllocations}})
	if err != nil {
		t.Fatalf("link token: %v", err)
	}
	res, err := w.driver.Complete(bg, lt.Token, sandbox.SessionPlan{})
	if err != nil || res.AccountID == "" {
		t.Fatalf("Link session: %+v %v", res, err)
	}
	waitUntil(t, "the account of "+endUser, func() bool {
		p, err := w.store.Preflight(bg, res.AccountID)
		if err != nil || !p.Connected {
			return false
		}
		o, err := w.store.AccountOverview(bg, res.AccountID)
		_, ids := o.Latest[db.FetchIdentity]
		_, alloc := o.Latest[db.FetchDDAllocations]
		return err == nil && ids && alloc
	})
	return res.AccountID
}

// client signs in over HTTP and returns a client with the session.
func (w *consoleWorld) client(t *testing.T, email string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	w.post(t, c, "/login", url.Values{"email": {email}, "password": {consolePassword}})
	return c
}

func (w *consoleWorld) post(t *testing.T, c *http.Client, path string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(w.base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		t.Fatalf("POST %s: %d", path, resp.StatusCode)
	}
	return resp
}

// upload sends a customer CSV and returns the id of its report page.
func (w *consoleWorld) upload(t *testing.T, c *http.Client) string {
	t.Helper()
	body := &strings.Builder{}
	body.WriteString("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"customers.csv\"\r\nContent-Type: text/csv\r\n\r\n")
	body.WriteString("end_user_id,full_name,date_of_birth,ssn_last4,email\r\neu-new,Zoë Ångström,1980-01-02,0001,zoe@example.com\r\neu-bad,No Date,,12,\r\n")
	body.WriteString("\r\n--b--\r\n")
	resp, err := c.Post(w.base+"/customers/import", "multipart/form-data; boundary=b", strings.NewReader(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := strings.TrimPrefix(resp.Request.URL.Path, "/customers/import/")
	if id == resp.Request.URL.Path || id == "" {
		t.Fatalf("upload landed on %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	return id
}

// login signs in through the sign-in form.
func login(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, email),
		chromedp.SendKeys(`#f-password`, consolePassword),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`#app header.site nav`),
		chromedp.WaitNotPresent(`#f-password`),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
}

// pageText is the visible text of the page, for failure messages.
func pageText(ctx context.Context) string {
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.href + "\n" + (document.body ? document.body.innerText : "")`))
	return s
}

// viewport sets the window width and the preferred colour scheme.
func viewport(width int64, dark bool) chromedp.Action[chromedp.Void] {
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	return chromedp.Steps(
		chromedp.EmulateViewport(width, 900),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			// Reduced motion: Pico then runs no colour transitions, which
			// axe would otherwise measure half-way after a scheme change.
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}}})
			return err
		}),
	)
}

// layoutProblemsJS lists what does not fit on the page as laid out now:
// a page wider than the window, an element wider than its container (or
// sticking out of it), and a box that cuts its own content off (overflow
// hidden, or a scroll box a person would have to scroll sideways) other
// than raw JSON and form controls.
const layoutProblemsJS = `(function(){
  var out = [];
  function name(el){
    var s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (el.classList && el.classList.length) s += "." + Array.prototype.join.call(el.classList, ".");
    var txt = (el.innerText || el.value || "").trim().replace(/\s+/g, " ").slice(0, 40);
    return s + (txt ? " \"" + txt + "\"" : "");
  }
  var de = document.documentElement;
  if (de.scrollWidth > de.clientWidth + 1) out.push("the page scrolls sideways: " + de.scrollWidth + " px in a " + de.clientWidth + " px window");
  var skip = "pre, svg, script, style, template, datalist, option, .visually-hidden, .skip-link, dialog:not([open]), input, select, textarea";
  var all = document.body.querySelectorAll("*");
  for (var i = 0; i < all.length && out.length < 15; i++) {
    var el = all[i];
    if (el.closest(skip)) continue;
    var cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden" || cs.position === "fixed" || cs.position === "absolute") continue;
    var r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    var p = el.parentElement;
    if (p && p !== document.body) {
      var pr = p.getBoundingClientRect(), pcs = getComputedStyle(p);
      var left = pr.left + parseFloat(pcs.borderLeftWidth), right = pr.right - parseFloat(pcs.borderRightWidth);
      var negative = parseFloat(cs.marginLeft) < 0 || parseFloat(cs.marginRight) < 0;
      if (!negative && cs.display !== "inline" && (r.right > right + 1.5 || r.left < left - 1.5)) {
        out.push(name(el) + " is " + Math.round(r.width) + " px wide and sticks out of " + name(p) + " (" + Math.round(right - left) + " px)");
        continue;
      }
    }
    var ox = cs.overflowX;
    if ((ox === "hidden" || ox === "auto" || ox === "scroll" || ox === "clip") && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      out.push(name(el) + " cuts off its content: " + el.scrollWidth + " px in " + el.clientWidth + " px");
    }
  }
  return out;
})()`

// plainWordsJS lists codes in the visible text outside the small print:
// snake_case keys, dotted event names and camelCase error codes belong in
// <code> or .code only.
const plainWordsJS = `(function(){
  var out = [];
  var re = /(^|[\s(,;:])([a-z]+(?:_[a-z]+)+|[a-z]{2,}\.[a-z_]{2,}(?:\.[a-z_]+)?|[a-z]+[A-Z][a-zA-Z]+)(?=$|[\s).,;:])/;
  var skip = "code, .code, pre, script, style, input, select, textarea, .visually-hidden, [data-code], .launch-url";
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  var n;
  while ((n = walker.nextNode()) && out.length < 10) {
    var el = n.parentElement;
    if (!el || el.closest(skip) || !el.offsetParent) continue;
    var m = n.nodeValue.match(re);
    if (m && m[2].indexOf("@") < 0 && !/\.(com|org|net|local|test)$/.test(m[2])) out.push(m[2] + " in \"" + n.nodeValue.trim().slice(0, 60) + "\"");
  }
  var body = document.body.innerText;
  var bad = body.match(/\b1 (accounts|events|end users|matches|results|rows|tokens|days|attempts|links)\b/);
  if (bad) out.push("plural after 1: " + bad[0]);
  return out;
})()`

// axeJS runs axe-core (vendored in browsertest, never served) with the
// options in %s and returns the serious and critical violations, one line
// each.
const axeJS = `axe.run(document, Object.assign({resultTypes: ["violations"]}, %s)).then(function(r){
  return r.violations.filter(function(v){ return v.impact === "serious" || v.impact === "critical"; }).map(function(v){
    return v.impact + " " + v.id + ": " + v.help + " — " + v.nodes.slice(0, 3).map(function(n){ return n.target.join(" ") + " (" + (n.failureSummary || "").replace(/\s+/g, " ").slice(0, 160) + ")"; }).join("; ");
  });
})`

// axeRuns say which axe rules run where: axe takes seconds a page, so
// every rule runs once, at 1280 px in light mode; the colour rules again
// in dark mode (the only thing the scheme changes); the other rules again
// at 390 px (the phone layout). Widths are checked at every combination.
var axeRuns = map[string]string{
	"1280 px light": `{}`,
	"1280 px dark":  `{runOnly: {type: "rule", values: ["color-contrast", "link-in-text-block"]}}`,
	"390 px light":  `{rules: {"color-contrast": {enabled: false}}}`,
}

// auditPage checks the page now shown at each width, in light and dark
// mode: its layout at every combination, axe as axeRuns says, and plain
// words once. It returns the problems, each prefixed with where it was
// seen.
func auditPage(ctx context.Context, plain bool) ([]string, error) {
	var out []string
	if plain {
		words, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](plainWordsJS))
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			out = append(out, "code in plain text: "+w)
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](browsertest.AxeSource+";true")); err != nil {
		return nil, fmt.Errorf("inject axe: %w", err)
	}
	for _, width := range []int64{390, 1280, 1920} {
		for _, dark := range []bool{false, true} {
			if err := chromedp.Do(ctx, viewport(width, dark)); err != nil {
				return nil, err
			}
			where := fmt.Sprintf("%d px %s", width, map[bool]string{false: "light", true: "dark"}[dark])
			probs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](layoutProblemsJS))
			if err != nil {
				return nil, err
			}
			for _, p := range probs {
				out = append(out, where+": "+p)
			}
			opts, ok := axeRuns[where]
			if !ok {
				continue
			}
			vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(axeJS, opts), chromedp.EvalAwaitPromise))
			if err != nil {
				return nil, fmt.Errorf("axe: %w", err)
			}
			for _, v := range vs {
				out = append(out, where+": axe "+v)
			}
		}
	}
	return out, chromedp.Do(ctx, viewport(1280, false))
}

// pageRoutes are the GET routes of the console that render a page, with
// their path parameters filled from the world. Live streams, downloads,
// metrics and static files are not pages.
func (w *consoleWorld) pageRoutes(t *testing.T, routes []string) []string {
	t.Helper()
	var out []string
	samples := map[string]string{
		":account_id":  w.account,
		":end_user_id": w.endUser,
		":token_id":    w.tokenID,
		":import_id":   w.importID,
	}
	ev, _, err := w.store.ListEventLog(context.Background(), db.EventQuery{Limit: 1})
	if err != nil || len(ev) == 0 {
		t.Fatalf("no event: %v", err)
	}
	samples[":event_id"] = ev[0].EventID
	for k, v := range w.healthSamples(t) {
		samples[k] = v
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		switch {
		case method != http.MethodGet, strings.HasSuffix(path, "/live"), strings.HasPrefix(path, "/static"),
			strings.Contains(path, "export"), regexp.MustCompile(`\.(csv|jsonl|json|zip)$`).MatchString(path),
			strings.HasSuffix(path, "/raw"), // a download of a whole document
			path == "/healthz", path == "/readyz", path == "/metrics", path == "/login",
			path == "/login/second-factor",                                    // the second step of a sign-in under way
			path == "/campaigns/cohort", strings.HasSuffix(path, "/progress"): // fragments and streams
			continue
		}
		// ":id" names a staff member on /staff and a deposit account on
		// /settings; the role question wants a role.
		p := path
		switch {
		case strings.HasPrefix(p, "/staff/"):
			p = strings.ReplaceAll(p, ":id", fmt.Sprint(w.operatorID))
			if strings.HasSuffix(p, "/role") {
				p += "?role=auditor"
			}
		case strings.HasPrefix(p, "/settings/deposit-accounts/"):
			p = strings.ReplaceAll(p, ":id", fmt.Sprint(w.depositID))
		}
		for k, v := range samples {
			p = strings.ReplaceAll(p, k, url.PathEscape(v))
		}
		if strings.HasPrefix(path, "/l/") {
			continue // the end user's page: checked apart
		}
		if strings.Contains(p, "/:") {
			t.Errorf("no sample value for a parameter of %s: add one to consoleWorld.pageRoutes", path)
			continue
		}
		out = append(out, p)
	}
	return out
}

// healthSamples gives the account health and campaign pages something to
// show: an alert (refused deliveries above the rule's threshold,
// checked), a notification destination, a reconnect batch and a draft
// campaign.
func (w *consoleWorld) healthSamples(t *testing.T) map[string]string {
	t.Helper()
	bg := context.Background()
	sys := db.Actor{Email: "browser-test"}
	refused := func() int {
		rs, _, err := w.store.ListRejections(bg, "", 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	before := refused()
	for i := 0; i < 12; i++ {
		req, _ := http.NewRequest(http.MethodPost, w.base+"/webhooks/pinwheel", strings.NewReader(`{"event":"account.added"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Timestamp", fmt.Sprint(time.Now().Unix()))
		req.Header.Set("Pinwheel-Signature", "v2=0000")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Refusals are recorded by the committer after the 401 (never making it
	// wait): check the rule once all twelve are stored.
	waitUntil(t, "the twelve refused deliveries to be recorded", func() bool { return refused() >= before+12 })
	if _, err := w.store.CheckRule(bg, db.RuleSignatureFailures); err != nil {
		t.Fatal(err)
	}
	alerts, _, err := w.store.ListAlerts(bg, db.AlertQuery{Limit: 1})
	if err != nil || len(alerts) == 0 {
		t.Fatalf("no alert after refused deliveries: %v", err)
	}
	dest, _, err := w.store.CreateDestination(bg, sys, db.DestinationForm{Name: "Ops channel", Kind: "webhook", Enabled: true, URL: "https://hooks.example.com/ops"}, false)
	if err != nil {
		t.Fatal(err)
	}
	// The second account degrades (a webhook from the emulator), so that
	// a reconnect batch can be sent to it.
	if err := w.driver.SetMonitoringStatus(bg, w.account2, pinwheel.StatusDegraded); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the second account degraded", func() bool {
		o, err := w.store.AccountOverview(bg, w.account2)
		return err == nil && o.Account.MonitoringStatus == pinwheel.StatusDegraded
	})
	batch, err := w.store.CreateReconnectBatch(bg, db.Actor{StaffID: w.operatorID, Email: "olga@example.com"}, db.ReconnectRequest{AccountIDs: []string{w.account2}, Jobs: []string{pinwheel.JobIdentity}, Language: "en", Reason: "Browser test"})
	if err != nil {
		t.Fatal(err)
	}
	campaign, err := w.store.CreateCampaign(bg, db.Actor{StaffID: w.operatorID, Email: "olga@example.com"}, db.CampaignInput{Name: "Refresh identities",
		Goal: db.GoalIdentity, IncentiveAmount: "5", LifetimeDays: "7", HoldDays: "0", HoldoutPct: "10", Cohort: url.Values{}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		":campaign_id":    fmt.Sprint(campaign),
		":alert_id":       fmt.Sprint(alerts[0].ID),
		":destination_id": fmt.Sprint(dest.ID),
		":batch_id":       fmt.Sprint(batch.ID),
	}
}

// checkPages visits each path as the signed-in staff member and audits it.
func checkPages(t *testing.T, ctx context.Context, base string, paths []string, staffPage bool) {
	t.Helper()
	for _, p := range paths {
		checkPage(t, ctx, base, p, staffPage)
	}
}

// checkPage audits one page in the tab ctx.
func checkPage(t *testing.T, ctx context.Context, base, p string, staffPage bool) {
	if err := chromedp.Do(ctx, chromedp.Navigate(base+p), chromedp.WaitReady(`body`)); err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	if staffPage {
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#env-banner").length`)); n != 1 {
			t.Errorf("%s: no environment banner in the header", p)
		}
	}
	probs, err := auditPage(ctx, staffPage)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	for _, pr := range probs {
		t.Errorf("%s: %s", p, pr)
	}
}

// TestBrowser_EveryPageFits visits every page of the route table (so a
// page added later is checked too) and a few variants (filters, results,
// errors) at 390, 1280 and 1920 px in light and dark mode: nothing wider
// than its container, no sideways scrolling, no content cut off, axe-core
// with no serious or critical violation, codes only in the small print,
// and the environment banner on every staff page. Then the end user's
// launch pages, signed out.
func TestBrowser_EveryPageFits(t *testing.T) {
	ctx := newBrowserFor(t, 15*time.Minute)
	w := newConsoleWorld(t)
	checkPages(t, ctx, w.base, []string{"/login"}, false)

	h := handlers.New(handlers.Deps{Store: w.store}, handlers.Config{SessionHashKey: make([]byte, 64), SessionBlockKey: make([]byte, 32)})
	var routes []string
	for _, r := range web.Routes(h) {
		if r.Method != "echo_route_not_found" {
			routes = append(routes, r.Method+" "+r.Path)
		}
	}
	paths := w.pageRoutes(t, routes)
	paths = append(paths,
		"/search?q=li", "/search?q=zzzzzz", "/accounts?status=active&connected=yes", "/events?type=identity.added&outcome=success",
		"/tokens?state=created", "/accounts/no-such-account", "/no/such/page", "/tokens/"+w.tokenID+"?screens=1",
	)
	login(t, ctx, w.base, "admin@linkdesk.local")
	checkPages(t, ctx, w.base, paths, true)

	d, err := w.store.LinkByID(context.Background(), w.tokenID)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/account"), chromedp.Click(`//button[text()="Sign out"]`), chromedp.WaitVisible(`#f-email`)); err != nil {
		t.Fatal(err)
	}
	checkPages(t, ctx, w.base, []string{"/l/" + d.LaunchID, "/l/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, false)
}
