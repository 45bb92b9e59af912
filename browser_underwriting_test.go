package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// TestBrowser_Underwriting is the story of issue 16 in a browser against
// `linkdesk serve` with its emulator: an operator opens an end user's
// income report (a salaried worker paid every two weeks, with a raise),
// refreshes it through an On Demand Update that the end user completes in
// another tab, watches the new paystub arrive on the open report without
// reloading it, records a decision, and prints the report: the print
// layout drops the controls and keeps the figures, and the PDF renders.
func TestBrowser_Underwriting(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	const secret = "browser_uw_secret"
	base, _ := startServe(t, map[string]string{
		"LINKDESK_DB": filepath.Join(dir, "linkdesk.db"), "LINKDESK_SANDBOX_STATE": filepath.Join(dir, "sandbox.db"),
		"LINKDESK_PINWHEEL_SECRET": secret, "LINKDESK_ADMIN_PASSWORD": "admin password 123",
	})
	bg := context.Background()
	store, err := db.Open(bg, filepath.Join(dir, "linkdesk.db"), db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.CreateStaff(bg, db.Actor{Email: "browser-test"}, db.StaffCreate{Email: "uma@example.com", Name: "Uma Underwriter",
		Role: db.RoleOperator, Password: "operator password 1"}); err != nil {
		t.Fatal(err)
	}

	// The end user connected their payroll account earlier: 18 months of
	// bi-weekly salary with a raise four months ago.
	driver := &sandbox.Driver{BaseURL: base + "/sandbox", Secret: secret}
	if err := driver.SetPayProfile(bg, "eu-uw", "", sandbox.PayProfile{Kind: sandbox.PayKindSalaried, Frequency: sandbox.FreqBiweekly,
		HistoryMonths: 18, RaisePercent: 6, RaiseMonthsAgo: 4}); err != nil {
		t.Fatal(err)
	}
	api := pinwheel.New(pinwheel.Config{BaseURL: base + "/sandbox/v1", Secret: secret})
	lt, err := api.CreateLinkToken(bg, pinwheel.LinkTokenCreate{OrgName: "Acme Lending", EndUserID: "eu-uw",
		RequiredJobs: []string{pinwheel.JobIncome, pinwheel.JobEmployment, pinwheel.JobPaystubs}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := driver.Complete(bg, lt.Token, sandbox.SessionPlan{})
	if err != nil || res.AccountID == "" {
		t.Fatalf("first Link session: %+v %v", res, err)
	}
	account := res.AccountID
	paystubs := func() int {
		items, _ := store.PayItems(bg, account, db.FetchPaystubs)
		return len(items)
	}
	waitUntil(t, "the paystubs, employment and income", func() bool {
		st, err := store.PaySyncState(bg, account, db.FetchPaystubs)
		o, oerr := store.AccountOverview(bg, account)
		if err != nil || oerr != nil {
			return false
		}
		_, emp := o.Latest[db.FetchEmployment]
		_, inc := o.Latest[db.FetchIncome]
		return !st.FullFetchedAt.IsZero() && !st.Waiting() && st.Pending == 0 && emp && inc
	})
	before := paystubs()

	// The operator opens the end user's report.
	sctx, scancel := context.WithTimeout(ctx, storyGuard)
	defer scancel()
	err = chromedp.Do(sctx,
		chromedp.Navigate(base+"/end-users/eu-uw/income"),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, "uma@example.com"),
		chromedp.SendKeys(`#f-password`, "operator password 1"),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`//h1[text()="Income and employment report"]`),
		chromedp.WaitVisible(`#annualised-`+account),
	)
	if err != nil {
		dump(t, ctx, "opening the report", err)
	}
	report, _ := chromedp.Run(ctx, chromedp.Text(`#income-report`))
	for _, want := range []string{"Summary over 1 account", "Every two weeks", "Raise of +6.0 %", strconv.Itoa(before) + " paystubs stored", "Tenure"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}

	// Payday comes; the operator asks for fresh data.
	if _, err := driver.AddPaystub(bg, account, nil); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(sctx,
		chromedp.Click(`#refresh-`+account),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Refresh requested")]`),
		chromedp.WaitVisible(`#refresh-state-`+account+` a.launch-link`),
	)
	if err != nil {
		dump(t, ctx, "refreshing", err)
	}
	launch, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#refresh-state-`+account+` a.launch-link").href`))
	if err != nil || !strings.HasPrefix(launch, base+"/l/") {
		t.Fatalf("launch link %q %v", launch, err)
	}

	// The end user opens the update link in another tab: Link runs without
	// a login (the account is connected) and reports success.
	user, cancelUser := chromedp.NewContext(ctx)
	defer cancelUser()
	if err := chromedp.Do(user, chromedp.Navigate(launch), chromedp.WaitVisible(`#launch-ask`)); err != nil {
		t.Fatalf("launch page: %v", err)
	}
	frameClick(t, user, "#done")
	if err := chromedp.Do(user, chromedp.WaitVisible(`//p[@id="launch-status"][contains(., "Done")]`)); err != nil {
		t.Fatalf("the launch page did not see the success: %v", err)
	}

	// On the report, still open, the new paystub arrives by itself.
	want := strconv.Itoa(before+1) + " paystubs stored"
	err = chromedp.Do(sctx, chromedp.WaitVisible(`//div[@id="income-report"]//p[contains(., "`+want+`")]`))
	if err != nil {
		dump(t, ctx, "waiting for the new paystub", err)
	}
	feed, _ := chromedp.Run(ctx, chromedp.Text(`#report-live`))
	if !strings.Contains(feed, "paystub") {
		t.Errorf("the live feed did not show the paystubs webhook: %q", feed)
	}
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); !strings.HasSuffix(strings.Split(href, "#")[0], "/end-users/eu-uw/income") {
		t.Errorf("the page moved: %s", href)
	}

	// A decision, bound to the data shown (the fingerprint the live update
	// put in the form). A webhook held back by the emulator may still
	// bring data meanwhile: then the report refuses and shows the new
	// figures, and the operator decides again.
	for i := 0; ; i++ {
		// A flash still shown from the previous attempt must not pass for
		// this one's answer (that sent the form again, recording twice).
		chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelectorAll(".flash").forEach(e => e.remove()); document.querySelector("#f-note").value = ""; true`))
		err = chromedp.Do(sctx,
			chromedp.Click(`input[name="outcome"][value="approved"]`),
			chromedp.SendKeys(`#f-note`, "Salary confirmed by 18 months of paystubs"),
			chromedp.Click(`//button[text()="Record decision"]`),
			chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Decision recorded") or contains(., "New data arrived")]`),
		)
		if err != nil {
			dump(t, ctx, "recording the decision", err)
		}
		flash, _ := chromedp.Run(ctx, chromedp.Text(`main`))
		if strings.Contains(flash, "Decision recorded") || i == 5 {
			break
		}
	}
	decisions, _ := chromedp.Run(ctx, chromedp.Text(`#decisions`))
	if !strings.Contains(decisions, "Approved") || !strings.Contains(decisions, "Salary confirmed") || !strings.Contains(decisions, "the data shown here") {
		t.Errorf("decisions: %q", decisions)
	}
	list, err := store.DecisionsAbout(bg, db.ScopeEndUser, "eu-uw")
	if err != nil || len(list) != 1 || list[0].Outcome != db.OutcomeApproved || list[0].Items < before+3 {
		t.Errorf("stored decisions %+v %v", list, err)
	}

	// Print: the print stylesheet hides navigation and controls and keeps
	// the figures, the chart and the decisions; the PDF renders.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	layout, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(function(){
		var shown = function(sel){ var el = document.querySelector(sel); return el ? getComputedStyle(el).display : "missing"; };
		return {header: shown("header.site"), footer: shown("#app > footer"), refresh: shown(".refresh"), form: shown("#decision-form"),
			actions: shown(".report-actions"), live: shown(".live-feed"), report: shown("#income-report"), chart: shown("figure.pay-chart"),
			decisions: shown("#decisions"), annualised: shown("#annualised-`+account+`")};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []string{"header", "footer", "refresh", "form", "actions", "live"} {
		if layout[hidden] != "none" {
			t.Errorf("printed, %s is %q, want hidden", hidden, layout[hidden])
		}
	}
	for _, shown := range []string{"report", "chart", "decisions", "annualised"} {
		if layout[shown] == "none" || layout[shown] == "missing" {
			t.Errorf("printed, %s is %q, want shown", shown, layout[shown])
		}
	}
	pdf, err := chromedp.Call(ctx, page.PrintToPDF, page.PrintToPDFParams{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf.Data, []byte("%PDF")) || len(pdf.Data) < 10_000 {
		t.Errorf("PDF of %d bytes", len(pdf.Data))
	}
}

// dump fails the test with the page's text.
func dump(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	page, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText.slice(0, 3000)`))
	t.Fatalf("%s: %v\n%s", what, err, page)
}
