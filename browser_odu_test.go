package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// TestBrowser_OnDemandUpdate is the whole story of issue 6 in a browser
// against `linkdesk serve` with its built-in emulator: an operator opens a
// connected account, mints a direct deposit switch On Demand Update, opens
// its launch page, completes the emulated Link with no login step, and sees
// on the account the login, the success, the direct_deposit_switch.added
// webhook, the allocations before and after, and the token marked
// successful.
func TestBrowser_OnDemandUpdate(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	d := newTestDB(t)
	const secret = "browser_test_secret"
	base, _ := startServe(t, map[string]string{
		d.env: d.path, "LINKDESK_SANDBOX_STATE": filepath.Join(dir, "sandbox.db"),
		"LINKDESK_PINWHEEL_SECRET": secret, "LINKDESK_ADMIN_PASSWORD": "admin password 123",
	})
	bg := context.Background()

	// The organisation's setup, as an admin would have done it in Settings,
	// written through a second Store on the same file (SQLite locks it).
	store, err := db.Open(bg, d.path, db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sys := db.Actor{Email: "browser-test"}
	if _, err := store.CreateStaff(bg, sys, db.StaffCreate{Email: "olga@example.com", Name: "Olga Operator", Role: db.RoleOperator, Password: "operator password 1"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetOrgName(bg, sys, "Acme Payroll Co"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateDepositAccount(bg, sys, db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "4400556789"}); err != nil {
		t.Fatal(err)
	}

	// A user connects their payroll account through the emulator (a first
	// Link session, not an On Demand Update); its webhooks reach Linkdesk.
	api := pinwheel.New(pinwheel.Config{BaseURL: base + "/sandbox/v1", Secret: secret})
	lt, err := api.CreateLinkToken(bg, pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: "eu-browser",
		RequiredJobs: []string{pinwheel.JobIdentity, pinwheel.JobDDAllocations}})
	if err != nil {
		t.Fatalf("first token: %v", err)
	}
	res, err := (&sandbox.Driver{BaseURL: base + "/sandbox"}).Complete(bg, lt.Token, sandbox.SessionPlan{})
	if err != nil || res.AccountID == "" {
		t.Fatalf("first Link session: %+v %v", res, err)
	}
	account := res.AccountID
	waitUntil(t, "the account and its allocations", func() bool {
		p, err := store.Preflight(bg, account)
		if err != nil || !p.Connected {
			return false
		}
		o, err := store.AccountOverview(bg, account)
		_, ok := o.Latest[db.FetchDDAllocations]
		return err == nil && ok
	})

	// The operator signs in, opens the account and starts an On Demand Update.
	sctx, scancel := context.WithTimeout(ctx, storyGuard)
	defer scancel()
	err = chromedp.Do(sctx,
		chromedp.Navigate(base+"/accounts/"+account),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, "olga@example.com"),
		chromedp.SendKeys(`#f-password`, "operator password 1"),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`//a[normalize-space()="Start an On Demand Update"]`),
		chromedp.Click(`//a[normalize-space()="Start an On Demand Update"]`),
		chromedp.WaitVisible(`#preflight-title`),
		chromedp.Click(`input[name="jobs"][value="direct_deposit_switch"]`),
		chromedp.SendKeys(`#f-amount`, "150"),
		chromedp.Click(`input[name="skip_intro"]`),
		chromedp.SendKeys(`#f-reason`, "Customer asked to raise their deposit, ticket 4521"),
		chromedp.Click(`//button[text()="Mint token now"]`),
		chromedp.WaitVisible(`#launch-url`),
	)
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText`))
		t.Fatalf("minting: %v\n%s", err, page)
	}
	launchURL, err := chromedp.Run(ctx, chromedp.Value(`#launch-url`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(launchURL, base+"/l/") {
		t.Fatalf("launch URL %q", launchURL)
	}

	// The user opens the launch page: Link opens by itself, on the
	// allocation screen (no login: the account is connected).
	if err := chromedp.Do(ctx, chromedp.Navigate(launchURL), chromedp.WaitVisible(`#launch-ask`)); err != nil {
		t.Fatalf("launch page: %v", err)
	}
	ask, err := chromedp.Run(ctx, chromedp.Text(`#launch-ask`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Acme Payroll Co would like you to update your direct deposit: $150.00 to Payroll Checking ••6789."; ask != want {
		t.Errorf("ask %q, want %q", ask, want)
	}
	frameClick(t, ctx, "#allocation-submit")
	frameClick(t, ctx, "#done")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(`//p[@id="launch-status"][contains(., "Done")]`)); err != nil {
		t.Fatalf("the launch page did not see the success: %v", err)
	}

	l, err := store.LaunchByID(bg, strings.TrimPrefix(launchURL, base+"/l/"))
	if err != nil {
		t.Fatal(err)
	}
	// launch.js posts the events one after another: wait for the last.
	var got string
	waitUntil(t, "the launch events up to exit", func() bool {
		d, err := store.LinkByID(bg, l.Link.TokenID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range d.Events {
			names = append(names, e.Name+":"+e.Str("screenName"))
		}
		got = strings.Join(names, " ")
		return strings.Contains(got, "exit:")
	})
	if !strings.Contains(got, "open:") || !strings.Contains(got, "success:") || strings.Contains(got, "LOGIN") || strings.Contains(got, "login_attempt") {
		t.Errorf("launch events %s: want open and success, no login step", got)
	}

	// Back on the account: the login, the success, the webhook, the
	// allocations before and after, and the token marked successful.
	var page string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := chromedp.Do(ctx, chromedp.Navigate(base+"/accounts/"+account), chromedp.WaitVisible(`main h1`))
		if err != nil {
			t.Fatal(err)
		}
		if page, err = chromedp.Run(ctx, chromedp.Text(`main`)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(page, "direct_deposit_switch.added") && strings.Contains(page, "Before:") && strings.Contains(page, "→ Success") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the account page never showed the finished switch:\n%s", page)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The token panel (views.AccountTokens) shows the token's trail:
	// Minted → Page opened → Link opened → Logged in → Success.
	for _, want := range []string{"Logged in → Success", "direct_deposit_switch.added", "Before:", "After:"} {
		if !strings.Contains(page, want) {
			t.Errorf("the account page lacks %q", want)
		}
	}
	state, err := chromedp.Run(ctx, chromedp.AttributeValue(`.account-tokens [data-state]`, "data-state"))
	if err != nil {
		t.Fatal(err)
	}
	if state.Value != db.StageSuccess {
		t.Errorf("token state %q, want success", state.Value)
	}
}

// Browser stories wait on conditions, never on how fast they are met: the
// limits below only catch a hang, and are far above what the slowest
// loaded CI run took (a story takes seconds alone, a few minutes at worst
// beside a cold build of the other packages).
const (
	// storyGuard bounds a whole story's browser steps.
	storyGuard = 5 * time.Minute
	// waitGuard bounds one waitUntil.
	waitGuard = 4 * time.Minute
)

// waitUntil polls cond until it holds, failing after waitGuard.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// frameDoc finds the Link iframe's document (same origin in
// emulator mode: the emulator is mounted under /sandbox/).
const frameDoc = `(function(){var f=document.getElementById("pinwheel-link-frame");return f&&f.contentDocument;})()`

// frameHas reports whether sel appears in the Link iframe within wait.
func frameHas(t *testing.T, ctx context.Context, sel string, wait time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var d=`+frameDoc+`;return !!(d&&d.querySelector(`+jsString(sel)+`));})()`))
		if err != nil {
			t.Fatal(err)
		}
		if ok || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// frameClick waits for sel in the Link iframe and clicks it.
func frameClick(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if !frameHas(t, ctx, sel, 15*time.Second) {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var d=`+frameDoc+`;return d?d.body.innerHTML:"no frame";})()`))
		t.Fatalf("Link never showed %s:\n%s", sel, html)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var d=`+frameDoc+`;d.querySelector(`+jsString(sel)+`).click();return true;})()`)); err != nil {
		t.Fatal(err)
	}
}

func jsString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) + `"`
}
