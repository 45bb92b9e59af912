package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// shiftClock is the wall clock plus an offset a test moves: the clock of
// Linkdesk and its emulator in TestBrowser_AccountHealth, so that an alert
// rule's window passes without waiting for it.
type shiftClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *shiftClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset)
}

func (c *shiftClock) add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// startServeClock runs `linkdesk serve` like startServe, with its clock
// (Store, handlers, emulator) given by now.
func startServeClock(t *testing.T, env map[string]string, now func() time.Time) string {
	t.Helper()
	vars := map[string]string{"LINKDESK_ADDR": "127.0.0.1:0", "LINKDESK_DEMO": "off", "LINKDESK_LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	m, err := parseSettings("serve", "", serveSettings, nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	cfg.now = now
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- serveConfig(ctx, cfg, out, io.Discard) }()
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
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve printed no URL:\n%s", out.String())
	return ""
}

// TestBrowser_AccountHealth is the story of issue 14 in a browser against
// `linkdesk serve` with its emulator: three accounts need their users; an
// operator opens the board and sends reconnect links to them; the emulator
// completes two (one through the launch page in the browser, whose job
// webhooks the emulator drops); the board shows those two back to active;
// the "missing webhook" alert the drop raises resolves after a reconcile.
func TestBrowser_AccountHealth(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	const secret = "browser_health_secret"
	clk := &shiftClock{}
	base := startServeClock(t, map[string]string{
		"LINKDESK_DB": filepath.Join(dir, "linkdesk.db"), "LINKDESK_SANDBOX_STATE": filepath.Join(dir, "sandbox.db"),
		"LINKDESK_PINWHEEL_SECRET": secret, "LINKDESK_ADMIN_PASSWORD": "admin password 123",
	}, clk.now)
	bg := context.Background()
	store, err := db.Open(bg, filepath.Join(dir, "linkdesk.db"), db.Options{PasswordCost: bcrypt.MinCost, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateStaff(bg, db.Actor{Email: "browser-test"}, db.StaffCreate{Email: "olga@example.com", Name: "Olga Operator", Role: db.RoleOperator, Password: "operator password 1"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetOrgName(bg, db.Actor{Email: "browser-test"}, "Acme Payroll Co"); err != nil {
		t.Fatal(err)
	}

	// Three users connected their payroll accounts; monitoring now needs
	// each of them again.
	api := pinwheel.New(pinwheel.Config{BaseURL: base + "/sandbox/v1", Secret: secret})
	driver := &sandbox.Driver{BaseURL: base + "/sandbox", Secret: secret}
	var accounts []string
	for _, eu := range []string{"eu-ana", "eu-ben", "eu-cai"} {
		lt, err := api.CreateLinkToken(bg, pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: eu, RequiredJobs: []string{pinwheel.JobIdentity}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := driver.Complete(bg, lt.Token, sandbox.SessionPlan{})
		if err != nil || res.AccountID == "" {
			t.Fatalf("first session of %s: %+v %v", eu, res, err)
		}
		accounts = append(accounts, res.AccountID)
	}
	for _, acc := range accounts {
		waitUntil(t, "account.added of "+acc, func() bool { p, err := store.Preflight(bg, acc); return err == nil && p.PlatformID != "" })
		if _, err := api.SandboxSetMonitoringStatus(bg, acc, pinwheel.StatusUserActionRequired); err != nil {
			t.Fatal(err)
		}
	}
	for _, acc := range accounts {
		waitUntil(t, acc+" user_action_required", func() bool {
			p, err := store.Preflight(bg, acc)
			return err == nil && p.MonitoringStatus == pinwheel.StatusUserActionRequired
		})
	}

	// The operator opens the board and sends reconnect links to every
	// account that needs its user.
	sctx, scancel := context.WithTimeout(ctx, storyGuard)
	defer scancel()
	err = chromedp.Do(sctx,
		chromedp.Navigate(base+"/monitoring?status=user_action_required"),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, "olga@example.com"),
		chromedp.SendKeys(`#f-password`, "operator password 1"),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`#waiting-accounts`),
		chromedp.WaitVisible(`//p[@id="list-count"][starts-with(., "3 of ")]`),
		chromedp.Click(`//button[contains(., "Send to all 3 listed accounts")]`),
		chromedp.WaitVisible(`//h1[starts-with(., "Reconnect links #")]`),
		// The progress updates itself (server-sent events) until done.
		chromedp.WaitVisible(`//section[@id="batch-progress"][@data-state="done"]`),
		chromedp.WaitVisible(`//p[contains(., "3 links made")]`),
	)
	if err != nil {
		page, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText`))
		t.Fatalf("sending reconnect links: %v\n%s", err, page)
	}
	batches, _, err := store.ListReconnectBatches(bg, 0, 1)
	if err != nil || len(batches) != 1 {
		t.Fatalf("batches %v %v", batches, err)
	}
	members, _, err := store.ReconnectMembers(bg, batches[0].ID, 0, 10)
	if err != nil || len(members) != 3 {
		t.Fatalf("members %+v %v", members, err)
	}
	byAccount := map[string]db.ReconnectMember{}
	for _, m := range members {
		byAccount[m.AccountID] = m
	}

	// The first user opens the link in the browser and logs in again;
	// the emulator drops the job webhooks of that session.
	first, second := byAccount[accounts[0]], byAccount[accounts[1]]
	if _, err := driver.AddDeliveryRule(bg, sandbox.DeliveryRule{Action: sandbox.RuleDrop, Event: sandbox.JobEvents, AccountID: first.AccountID}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(sctx, chromedp.Navigate(base+"/l/"+first.LaunchID), chromedp.WaitVisible(`#launch`)); err != nil {
		t.Fatalf("launch page: %v", err)
	}
	if frameHas(t, ctx, "#continue", 15*time.Second) {
		frameClick(t, ctx, "#continue")
	}
	if !frameHas(t, ctx, "#login-form", 15*time.Second) {
		t.Fatal("Link asked for no login although the account needs its user")
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var d=`+frameDoc+`;var f=d.getElementById("login-form");f.username.value="user_good";f.password.value="pass_good";return true;})()`)); err != nil {
		t.Fatal(err)
	}
	frameClick(t, ctx, "#login-submit")
	frameClick(t, ctx, "#done")
	if err := chromedp.Do(sctx, chromedp.WaitVisible(`//p[@id="launch-status"][contains(., "Done")]`)); err != nil {
		t.Fatalf("the launch page did not see the success: %v", err)
	}

	// The second user's link is completed outside the browser.
	res, err := http.Get(base + "/l/" + second.LaunchID)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	l, err := store.LaunchByID(bg, second.LaunchID)
	if err != nil || l.Token == "" {
		t.Fatalf("second launch: %+v %v", l, err)
	}
	if _, err := driver.Complete(bg, l.Token, sandbox.SessionPlan{}); err != nil {
		t.Fatal(err)
	}
	for _, acc := range accounts[:2] {
		waitUntil(t, acc+" back to active", func() bool {
			p, err := store.Preflight(bg, acc)
			return err == nil && p.MonitoringStatus == pinwheel.StatusActive
		})
	}
	err = chromedp.Do(sctx,
		chromedp.Navigate(base+"/monitoring?status=user_action_required"),
		chromedp.WaitVisible(`//p[@id="list-count"][starts-with(., "1 of ")]`),
		chromedp.Navigate(base+"/monitoring/reconnect/"+strconv.FormatInt(batches[0].ID, 10)),
		chromedp.WaitVisible(`//article[contains(., "2 of 3 linked accounts back to active")]`),
	)
	if err != nil {
		page, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the board after the returns: %v\n%s", err, page)
	}

	// Fifteen minutes pass: the first session's job webhooks never came.
	if err := driver.DeleteDeliveryRules(bg, 0); err != nil {
		t.Fatal(err)
	}
	clk.add(16 * time.Minute)
	waitPage(t, ctx, base+"/alerts?rule="+db.RuleMissingLinkWebhooks, `//table[@id="alerts"]//a[contains(., "had no job webhook")]`)
	err = chromedp.Do(sctx,
		chromedp.WaitVisible(`#open-alerts`),
		chromedp.Click(`//table[@id="alerts"]//a[contains(., "had no job webhook")]`),
		chromedp.WaitVisible(`#evidence-items`),
		chromedp.Click(`//form[@id="reconcile-subjects"]//button`),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Reconciling 1 account")]`),
	)
	if err != nil {
		t.Fatalf("reconciling from the alert: %v", err)
	}
	alertPage, err := chromedp.Run(sctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reconcile", func() bool {
		runs, _ := store.AccountReconcileRuns(bg, first.AccountID)
		return len(runs) > 0 && runs[0].State == db.ReconcileDone
	})
	// The next check (a minute later on the clock) finds the webhooks.
	clk.add(2 * time.Minute)
	waitPage(t, ctx, alertPage, `//span[@id="alert-state"][text()="resolved"]`)
	text, err := chromedp.Run(ctx, chromedp.Text(`main`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"the condition cleared", "filled in", "identity.added"} {
		if !strings.Contains(text, want) {
			t.Errorf("the resolved alert's page lacks %q:\n%s", want, text)
		}
	}
	// On the account, the filled-in webhooks are marked reconciled.
	err = chromedp.Do(sctx, chromedp.Navigate(base+"/accounts/"+first.AccountID),
		chromedp.WaitVisible(`//span[contains(@class,"reconciled")]`))
	if err != nil {
		t.Fatalf("the account's timeline: %v", err)
	}
}

// waitPage loads url until the XPath sel finds something (two minutes at
// most): what it waits for is done by background jobs on their own
// schedule.
func waitPage(t *testing.T, ctx context.Context, url, sel string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(`main`)); err != nil {
			t.Fatal(err)
		}
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.evaluate(`+jsString(sel)+`, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue`))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s never showed %s:\n%s", url, sel, page)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
