package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"linkdesk/browsertest"
	"linkdesk/db"
	"linkdesk/pinwheel"
)

// tabTo presses Tab until the focused element matches sel: the element is
// reachable from the keyboard.
func tabTo(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	for range 120 {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.activeElement && document.activeElement.matches(`+jsString(sel)+`)`))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("Tab never reached %s\n%s", sel, pageText(ctx))
}

// keys types into whatever has the focus.
func keys(t *testing.T, ctx context.Context, s string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.KeyEvent(s)); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for sel to be visible, or fails with the page's text.
func waitFor(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(sel)); err != nil {
		t.Fatalf("%s (%s): %v\n%s", what, sel, err, pageText(ctx))
	}
}

// TestBrowser_ConsoleStory is the "done when": a support person
// who has only a customer's name finds them, mints an update and watches
// it finish without reloading, by keyboard alone; on the way, a webhook
// updates a panel live and its entry lands under today's heading, and a
// toast says the update finished.
func TestBrowser_ConsoleStory(t *testing.T) {
	ctx := newBrowser(t)
	w := newConsoleWorld(t)
	bg := context.Background()

	// Sign in with the keyboard: the email field has the focus.
	err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/login"), chromedp.WaitVisible(`#f-email`))
	if err != nil {
		t.Fatal(err)
	}
	tabTo(t, ctx, `#f-email`)
	keys(t, ctx, "olga@example.com")
	tabTo(t, ctx, `#f-password`)
	keys(t, ctx, consolePassword+kb.Enter)
	waitFor(t, ctx, "the dashboard", `//h1[starts-with(., "Welcome")]`)
	if banner, _ := chromedp.Run(ctx, chromedp.Text(`#env-banner`)); !strings.Contains(strings.ToLower(banner), "emulator") {
		t.Errorf("environment banner %q", banner)
	}

	// "/" focuses the search; the name in another order, without accents.
	keys(t, ctx, "/")
	if id, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); id != "q" {
		t.Fatalf("/ focused %q, not the search box", id)
	}
	keys(t, ctx, "garcia liam"+kb.Enter)
	waitFor(t, ctx, "Liam García's page", `//h1[contains(., "Liam García")]`)

	// To the account and its mint form, by keyboard.
	tabTo(t, ctx, `#end-user-accounts a[href^="/accounts/"]`)
	keys(t, ctx, kb.Enter)
	waitFor(t, ctx, "the account page", `#account-tokens-title`)
	tabTo(t, ctx, `a[href$="/update"]`)
	keys(t, ctx, kb.Enter)
	waitFor(t, ctx, "the mint form", `#preflight-title`)
	tabTo(t, ctx, `input[name="jobs"][value="direct_deposit_switch"]`)
	keys(t, ctx, " ")
	tabTo(t, ctx, `#f-amount`)
	keys(t, ctx, "150")
	// The customer record says Liam García; Pinwheel's identity is
	// someone else's name: the form asks for an override with a reason.
	tabTo(t, ctx, `input[name="override_identity"]`)
	keys(t, ctx, " ")
	tabTo(t, ctx, `#f-override_reason`)
	keys(t, ctx, "Married name, confirmed on the phone")
	tabTo(t, ctx, `input[name="skip_intro"]`)
	keys(t, ctx, " ")
	tabTo(t, ctx, `#f-reason`)
	keys(t, ctx, "Customer asked to raise their deposit, ticket 4521")
	tabTo(t, ctx, `button[value="mint"]`)
	keys(t, ctx, kb.Enter)
	waitFor(t, ctx, "the token page", `#launch-url`)
	launchURL, err := chromedp.Run(ctx, chromedp.Value(`#launch-url`))
	if err != nil || !strings.HasPrefix(launchURL, w.base+"/l/") {
		t.Fatalf("launch URL %q %v", launchURL, err)
	}

	// Back on the account page, which must not reload from now on.
	err = chromedp.Do(ctx, chromedp.Navigate(w.base+"/accounts/"+w.account), chromedp.WaitVisible(`#account-tokens [data-state="minted"]`))
	if err != nil {
		t.Fatalf("account page: %v\n%s", err, pageText(ctx))
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__marker = "still here"`)); err != nil {
		t.Fatal(err)
	}

	// The end user finishes Link in another tab.
	user, cancelUser := chromedp.NewContext(ctx)
	if err := chromedp.Do(user, chromedp.Navigate(launchURL), chromedp.WaitVisible(`#launch-ask`)); err != nil {
		t.Fatalf("launch page: %v", err)
	}
	frameClick(t, user, "#allocation-submit")
	frameClick(t, user, "#done")
	if err := chromedp.Do(user, chromedp.WaitVisible(`//p[@id="launch-status"][contains(., "Done")]`)); err != nil {
		t.Fatalf("the launch page did not see the success: %v", err)
	}
	cancelUser()

	// The operator watches it finish: the token's state, the allocations
	// after the switch, a toast; no reload.
	waitFor(t, ctx, "the token panel at Success", `#account-tokens [data-state="success"]`)
	waitFor(t, ctx, "the allocations history", `//section[@aria-labelledby="a-alloc"]//li[contains(., "Before:")]`)
	waitFor(t, ctx, "the toast", `//div[@id="toasts"]/div[contains(@class, "toast")][contains(., "Update finished") or contains(., "finished Link")]`)
	if m, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__marker)`)); m != "still here" {
		t.Errorf("the page reloaded (marker %q)", m)
	}

	// Then a webhook changes the monitoring status: the header panel
	// follows and the entry lands under today's heading, not above it.
	if _, err := w.api.SandboxSetMonitoringStatus(bg, w.account, pinwheel.StatusUserActionRequired); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the header panel updated live", `//span[@id="account-status"][normalize-space()="user action required"]`)
	today := time.Now().UTC().Format(time.DateOnly)
	waitFor(t, ctx, "the entry under today's heading", `//section[@id="tl-day-`+today+`"]//li[contains(., "Monitoring status is now user action required")]`)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline-live li").length`)); n != 0 {
		t.Errorf("%d entries left above the day headings", n)
	}

	if m, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__marker)`)); m != "still here" {
		t.Errorf("the page reloaded (marker %q)", m)
	}

	// The dashboard tells the story: of two links (the world made one),
	// one opened and succeeded.
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/"), chromedp.WaitVisible(`#d-funnel`)); err != nil {
		t.Fatal(err)
	}
	funnel, _ := chromedp.Run(ctx, chromedp.Text(`.funnel-period`))
	for _, want := range []string{"2 created", "1 succeeded 50%"} {
		if !strings.Contains(funnel, want) {
			t.Errorf("funnel %q lacks %q", funnel, want)
		}
	}
}

// TestBrowser_RevokeByKeyboard revokes a link from the keyboard: the
// button opens a dialog that says what will happen, Escape leaves the link
// alone, and the dialog's button revokes it.
func TestBrowser_RevokeByKeyboard(t *testing.T) {
	ctx := newBrowser(t)
	w := newConsoleWorld(t)
	login(t, ctx, w.base, "olga@example.com")
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/tokens/"+w.tokenID), chromedp.WaitVisible(`#revoke`)); err != nil {
		t.Fatal(err)
	}
	tabTo(t, ctx, `#revoke`)
	keys(t, ctx, kb.Enter)
	waitFor(t, ctx, "the dialog", `dialog#confirm-dialog[open]`)
	text, _ := chromedp.Run(ctx, chromedp.Text(`#confirm-dialog`))
	if !strings.Contains(text, "stops working at once") || !strings.Contains(text, "cannot be undone") {
		t.Errorf("the dialog does not say what will happen: %q", text)
	}
	if probs, err := axeViolations(ctx, `{include: [["#confirm-dialog"]]}`); err != nil || len(probs) > 0 {
		t.Errorf("axe on the dialog: %v %v", probs, err)
	}
	keys(t, ctx, kb.Escape)
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(`dialog#confirm-dialog`)); err != nil {
		t.Fatal(err)
	}
	if d, _ := w.store.LinkByID(context.Background(), w.tokenID); d.Revoked() {
		t.Fatal("Escape revoked the link")
	}
	tabTo(t, ctx, `#revoke`)
	keys(t, ctx, kb.Enter)
	waitFor(t, ctx, "the dialog again", `dialog#confirm-dialog[open]`)
	tabTo(t, ctx, `#confirm-submit`)
	keys(t, ctx, kb.Enter)
	waitFor(t, ctx, "the revoked link", `//div[contains(@class, "flash")][contains(., "Link revoked")]`)
	if d, _ := w.store.LinkByID(context.Background(), w.tokenID); !d.Revoked() {
		t.Error("the link is not revoked")
	}
}

// axeViolations runs axe with opts on the page shown and returns its
// serious and critical violations.
func axeViolations(ctx context.Context, opts string) ([]string, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](browsertest.AxeSource+";true")); err != nil {
		return nil, err
	}
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(axeJS, opts), chromedp.EvalAwaitPromise))
}

// scriptsOff turns JavaScript off in the tab, as a browser without it.
func scriptsOff() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
}

// TestBrowser_ConfirmationsWithoutJavaScript: with JavaScript off, the
// buttons that ask first lead to a page that asks, and its button does it:
// deactivating a staff member, changing a role.
func TestBrowser_ConfirmationsWithoutJavaScript(t *testing.T) {
	ctx := newBrowser(t)
	w := newConsoleWorld(t)
	if err := chromedp.Do(ctx, scriptsOff()); err != nil {
		t.Fatal(err)
	}
	login(t, ctx, w.base, "admin@linkdesk.local")
	op := "staff-" + itoa(w.operatorID)
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.base+"/staff"),
		chromedp.Click(`#deactivate-`+itoa(w.operatorID)),
		chromedp.WaitVisible(`#confirm`),
	)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(`#confirm`))
	if !strings.Contains(text, "Deactivate Olga Operator?") || !strings.Contains(text, "can no longer sign in") {
		t.Errorf("confirmation page: %q", text)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`#confirm-submit`),
		chromedp.WaitVisible(`//div[contains(@class, "flash")][contains(., "Deactivated")]`),
		chromedp.WaitVisible(`//tr[@id="`+op+`"]/td[contains(@class, "opt")]/span[contains(@class, "badge")][contains(., "deactivated")]`),
	)
	if err != nil {
		t.Fatalf("deactivate: %v\n%s", err, pageText(ctx))
	}
	// A role change: the form asks the question first.
	err = chromedp.Do(ctx,
		chromedp.SetValue(`#role-`+itoa(w.operatorID), "auditor"),
		chromedp.Click(`//tr[@id="`+op+`"]//button[text()="Change role"]`),
		chromedp.WaitVisible(`#confirm`),
	)
	if err != nil {
		t.Fatal(err)
	}
	text, _ = chromedp.Run(ctx, chromedp.Text(`#confirm`))
	if !strings.Contains(text, "Make Olga Operator an auditor?") || !strings.Contains(text, "From operator to auditor") {
		t.Errorf("role question: %q", text)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`#confirm-submit`), chromedp.WaitVisible(`//div[contains(@class, "flash")][contains(., "Role changed to auditor")]`)); err != nil {
		t.Fatal(err)
	}
	if st, _ := w.store.StaffByID(context.Background(), w.operatorID); st.Role != db.RoleAuditor || st.Active {
		t.Errorf("staff now %+v", st)
	}
	// On a phone the "Access ends" column is hidden: the auditor's access
	// end is set from the same controls stacked under the name.
	err = chromedp.Do(ctx,
		viewport(390, false),
		chromedp.Navigate(w.base+"/staff"),
		chromedp.WaitVisible(`#access-until-`+itoa(w.operatorID)+`-narrow`),
		chromedp.SetValue(`#access-until-`+itoa(w.operatorID)+`-narrow`, "2030-01-31"),
		chromedp.Click(`//tr[@id="`+op+`"]/td[1]//button[text()="Set end"]`),
		chromedp.WaitVisible(`//span[@id="access-`+itoa(w.operatorID)+`-narrow"][contains(., "until 2030-01-31")]`),
	)
	if err != nil {
		t.Fatalf("access end on a phone: %v\n%s", err, pageText(ctx))
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#access-until-`+itoa(w.operatorID)+`").length`)); n != 1 {
		t.Error("the wide column's form is gone")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestBrowser_ListsLikeAConsole: a filter applies as soon as it changes,
// shows a chip with its count that removes it in one click, the count
// line says "N of M", the indexed column reverses the order, events link
// like links, and times read "… ago" in the staff member's own time zone
// with the exact time on hover. Then the error pages: a 404 that says what
// and offers the search, and an unknown launch link that shows the end
// user's page.
func TestBrowser_ListsLikeAConsole(t *testing.T) {
	ctx := newBrowser(t)
	w := newConsoleWorld(t)
	login(t, ctx, w.base, "audrey@example.com")
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/accounts"), chromedp.WaitVisible(`#list-count`)); err != nil {
		t.Fatal(err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Text(`#list-count`)); n != "2 accounts" {
		t.Errorf("count %q", n)
	}
	// Choose a value as a person would: the filter applies on change.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var s=document.querySelector('select[name="connected"]');s.value="yes";s.dispatchEvent(new Event("change",{bubbles:true}));return true})()`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the chip", `//ul[contains(@class, "chips")]/li[contains(., "Connected")][contains(., "yes")]`)
	if u, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`)); u != "?connected=yes" {
		t.Errorf("URL %q after choosing a filter", u)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Text(`#list-count`)); n != "2 of 2 accounts match" {
		t.Errorf("count %q", n)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Text(`li.chip .chip-n`)); n != "2" {
		t.Errorf("chip count %q", n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(`li.chip a.chip-x`), chromedp.WaitNotPresent(`li.chip`)); err != nil {
		t.Fatal(err)
	}
	// The one sortable column reverses the order.
	first := func() string {
		s, _ := chromedp.Run(ctx, chromedp.AttributeValue(`#accounts tbody tr:first-child a[href^="/accounts/"]`, "href"))
		return s.Value
	}
	newest := first()
	// A click that lands while htmx still swaps the list after the chip's
	// removal can be lost: each try waits 20 s, and a try begins by
	// looking whether the order already turned.
	sorted := false
	for try := 0; try < 3 && !sorted; try++ {
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		if n, _ := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('th[aria-sort="ascending"]').length`)); n > 0 {
			sorted = true
		} else {
			sorted = chromedp.Do(tctx, chromedp.WaitVisible(`th a.sort`), chromedp.Click(`th a.sort`), chromedp.WaitVisible(`th[aria-sort="ascending"]`)) == nil
		}
		cancel()
	}
	if !sorted {
		t.Fatalf("the sortable column did not turn the order:\n%s", pageText(ctx))
	}
	if oldest := first(); oldest == newest {
		t.Errorf("oldest first still starts with %s", oldest)
	}

	// Events link like links.
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/events"), chromedp.WaitVisible(`#events`)); err != nil {
		t.Fatal(err)
	}
	deco, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('#events tbody a[href^="/events/"]')).textDecorationLine`))
	if deco != "underline" {
		t.Errorf("event links are not underlined: %q", deco)
	}

	// A time zone of one's own: times read relative, exact in that zone.
	err := chromedp.Do(ctx,
		chromedp.Navigate(w.base+"/account"),
		chromedp.SetValue(`#f-time_zone`, "America/New_York"),
		chromedp.Submit(`#f-time_zone`),
		chromedp.WaitVisible(`//div[contains(@class, "flash")][contains(., "America/New_York")]`),
		chromedp.Navigate(w.base+"/accounts/"+w.account),
		chromedp.WaitVisible(`.account-header time[data-rel]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := chromedp.Run(ctx, chromedp.Text(`.account-header dd time[data-rel]`))
	title, _ := chromedp.Run(ctx, chromedp.AttributeValue(`.account-header dd time[data-rel]`, "title"))
	if !strings.HasSuffix(text, "ago") && text != "just now" || !strings.Contains(title.Value, "GMT-") {
		t.Errorf("time %q titled %q: want relative, exact in New York", text, title.Value)
	}
	clock, _ := chromedp.Run(ctx, chromedp.Text(`li.entry .line time`))
	if !strings.HasSuffix(clock, "EST") && !strings.HasSuffix(clock, "EDT") {
		t.Errorf("timeline clock %q is not in New York time", clock)
	}
	// Its hover, like every time's, is exact in that zone too.
	if ct, _ := chromedp.Run(ctx, chromedp.AttributeValue(`li.entry .line time`, "title")); !strings.Contains(ct.Value, "GMT-") {
		t.Errorf("timeline clock titled %q: want the exact time in New York", ct.Value)
	}

	// A 404 says what, and offers the search with it.
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/accounts/9eeb1c2d-gone"), chromedp.WaitVisible(`#error-page`)); err != nil {
		t.Fatal(err)
	}
	msg, _ := chromedp.Run(ctx, chromedp.Text(`#error-page .lead`))
	q, _ := chromedp.Run(ctx, chromedp.Value(`#q-page`))
	if !strings.Contains(msg, "No account 9eeb1c2d-gone") || q != "9eeb1c2d-gone" {
		t.Errorf("404 says %q, search box %q", msg, q)
	}
	// An unknown launch link: the end user's page, not the console.
	if err := chromedp.Do(ctx, chromedp.Navigate(w.base+"/l/not-a-real-link"), chromedp.WaitVisible(`#launch-closed`)); err != nil {
		t.Fatal(err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("header.site, nav, #q").length`)); n != 0 {
		t.Error("an unknown launch link shows the staff console")
	}
}
