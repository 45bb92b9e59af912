package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// TestBrowser_Campaign is the whole story of issue 11 in a browser
// against `linkdesk serve` with its built-in emulator: an operator drafts
// a campaign for the accounts that send nothing to the organisation (the
// cohort's count updates live as she picks the filter), an admin approves
// and launches it and watches the links being created, some treatment
// users open their launch page and switch $200 through Link, a few
// holdout users move money on their own (the emulator's allocation knob),
// and the campaign page shows the funnel, the conversions, the uplift and
// the members now eligible for the incentive.
func TestBrowser_Campaign(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	const secret = "browser_campaign_secret"
	base, _ := startServe(t, map[string]string{
		"LINKDESK_DB": filepath.Join(dir, "linkdesk.db"), "LINKDESK_SANDBOX_STATE": filepath.Join(dir, "sandbox.db"),
		"LINKDESK_PINWHEEL_SECRET": secret, "LINKDESK_ADMIN_PASSWORD": "admin password 123",
	})
	bg := context.Background()

	// The organisation's setup, written through a second Store on the same
	// file: an operator and the deposit account.
	store, err := db.Open(bg, filepath.Join(dir, "linkdesk.db"), db.Options{PasswordCost: bcrypt.MinCost})
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
	ours := db.DepositAccountCreate{Name: "Payroll Checking", Type: "checking", RoutingNumber: "021000021", AccountNumber: "4400556789"}
	dep, err := store.CreateDepositAccount(bg, sys, ours)
	if err != nil {
		t.Fatal(err)
	}

	// 24 users connect their payroll accounts (first Link sessions); their
	// allocations send nothing to Payroll Checking.
	api := pinwheel.New(pinwheel.Config{BaseURL: base + "/sandbox/v1", Secret: secret})
	driver := &sandbox.Driver{BaseURL: base + "/sandbox", Secret: secret}
	const users = 24
	for i := range users {
		lt, err := api.CreateLinkToken(bg, pinwheel.LinkTokenCreate{OrgName: "Acme Payroll Co", EndUserID: fmt.Sprintf("eu-campaign-%02d", i),
			RequiredJobs: []string{pinwheel.JobIdentity, pinwheel.JobDDAllocations}})
		if err != nil {
			t.Fatalf("first token: %v", err)
		}
		res, err := driver.Complete(bg, lt.Token, sandbox.SessionPlan{})
		if err != nil || res.AccountID == "" {
			t.Fatalf("first Link session: %+v %v", res, err)
		}
	}
	waitUntil(t, "every account's allocations, projected", func() bool {
		p, err := store.PreviewCohort(bg, db.CohortFilter{Alloc: db.CohortAllocNone, ExcludeLive: true}, db.GoalAllocation)
		return err == nil && p.Count == users
	})

	signIn := func(email, password string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.WaitVisible(`#f-email`),
			chromedp.SendKeys(`#f-email`, email),
			chromedp.SendKeys(`#f-password`, password),
			chromedp.Submit(`#f-password`),
		)
		if err != nil {
			t.Fatalf("sign in as %s: %v", email, err)
		}
	}
	pageText := func() string {
		s, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText`))
		return s
	}
	sctx, scancel := context.WithTimeout(ctx, storyGuard)
	defer scancel()

	// The operator drafts: a fixed $200, $50 incentive paid at once (no
	// hold), half the cohort held out; the cohort's count follows the
	// allocation filter live.
	err = chromedp.Do(sctx, chromedp.Navigate(base+"/campaigns/new"))
	if err != nil {
		t.Fatal(err)
	}
	signIn("olga@example.com", "operator password 1")
	err = chromedp.Do(sctx,
		chromedp.WaitVisible(`#f-name`),
		chromedp.SendKeys(`#f-name`, "Move $200, get $50"),
		chromedp.SetValue(`#f-deposit_account`, fmt.Sprint(dep.ID)),
		chromedp.Click(`input[name="ask"][value="amount"]`),
		chromedp.SetValue(`#f-hold_days`, "0"),
		chromedp.SetValue(`#f-holdout_pct`, "50"),
		chromedp.SetValue(`select[name="alloc"]`, db.CohortAllocNone),
	)
	if err == nil {
		_, err = chromedp.Run(sctx, chromedp.Evaluate[bool](`document.querySelector('select[name="alloc"]').dispatchEvent(new Event("change", {bubbles: true}))`))
	}
	if err == nil {
		err = chromedp.Do(sctx, chromedp.WaitVisible(fmt.Sprintf(`#cohort-count strong[data-count="%d"]`, users)))
	}
	if err != nil {
		t.Fatalf("drafting: %v\n%s", err, pageText())
	}
	// The preview's answer puts the filter in the address bar.
	waitUntil(t, "the filter in the URL", func() bool {
		loc, err := chromedp.Run(sctx, chromedp.Evaluate[string](`document.location.search`))
		return err == nil && strings.Contains(loc, "alloc=none")
	})
	err = chromedp.Do(sctx,
		chromedp.Click(`//button[text()="Save draft"]`),
		chromedp.WaitVisible(`#campaign-state[data-state="draft"]`),
		chromedp.WaitVisible(`#approval-note`),
	)
	if err != nil {
		t.Fatalf("saving the draft: %v\n%s", err, pageText())
	}
	campaignURL, err := chromedp.Run(sctx, chromedp.Evaluate[string](`document.location.href`))
	if err != nil || !strings.Contains(campaignURL, "/campaigns/") || strings.Contains(campaignURL, "new") {
		t.Fatalf("the draft's URL %q: %v", campaignURL, err)
	}

	// The admin approves and launches; the progress bar streams to done.
	err = chromedp.Do(sctx,
		chromedp.Click(`//button[text()="Sign out"]`),
		chromedp.WaitVisible(`#f-email`),
	)
	if err != nil {
		t.Fatal(err)
	}
	signIn("admin@linkdesk.local", "admin password 123")
	err = chromedp.Do(sctx,
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
		chromedp.Navigate(campaignURL),
		chromedp.WaitVisible(`#approve`),
		chromedp.Click(`#approve`),
		chromedp.WaitVisible(`#campaign-state[data-state="approved"]`),
	)
	if err == nil {
		// Launching asks first, in the console's dialog, saying what will
		// happen: answer it.
		err = chromedp.Do(sctx,
			chromedp.Click(`#launch`),
			chromedp.WaitVisible(`dialog#confirm-dialog[open]`),
			chromedp.WaitVisible(`//dialog[@id="confirm-dialog"]//li[contains(., "The cohort is frozen at once")]`),
			chromedp.Click(`#confirm-submit`),
			chromedp.WaitVisible(`//div[@id="launch-progress"][@data-state="live"]`),
		)
	}
	if err != nil {
		t.Fatalf("approve and launch: %v\n%s", err, pageText())
	}
	id := campaignURL[strings.LastIndex(campaignURL, "/")+1:]
	var campaign db.Campaign
	if _, err := fmt.Sscan(id, &campaign.ID); err != nil {
		t.Fatal(err)
	}
	members, _, err := store.ListCampaignMembers(bg, campaign.ID, db.MemberFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var treatment, holdout []db.MemberRow
	for _, m := range members {
		if m.Group == db.GroupTreatment {
			treatment = append(treatment, m)
		} else {
			holdout = append(holdout, m)
		}
	}
	if len(treatment) < 2 || len(holdout) < 2 {
		t.Fatalf("split %d/%d", len(treatment), len(holdout))
	}

	// Two treatment users open their launch pages and switch $200.
	for _, m := range treatment[:2] {
		err := chromedp.Do(sctx, chromedp.Navigate(base+"/l/"+m.LaunchID), chromedp.WaitVisible(`#launch-incentive`))
		if err != nil {
			t.Fatalf("launch page: %v\n%s", err, pageText())
		}
		incentive, _ := chromedp.Run(sctx, chromedp.Text(`#launch-incentive`))
		if incentive != "Move $200 of each paycheck and get $50" {
			t.Errorf("launch page incentive %q", incentive)
		}
		frameClick(t, sctx, "#continue") // Link's intro screen
		frameClick(t, sctx, "#allocation-submit")
		frameClick(t, sctx, "#done")
		if err := chromedp.Do(sctx, chromedp.WaitVisible(`//p[@id="launch-status"][contains(., "Done")]`)); err != nil {
			t.Fatalf("the launch page did not see the success: %v", err)
		}
	}
	// Two holdout users move money to Payroll Checking on their own.
	for _, m := range holdout[:2] {
		err := driver.SetAllocation(bg, m.AccountID, sandbox.AllocationChange{Action: pinwheel.ActionPartialSwitch, Type: pinwheel.AllocationAmount,
			Value: 150, Target: sandbox.BankAccount{Name: ours.Name, Type: ours.Type, RoutingNumber: ours.RoutingNumber, AccountNumber: ours.AccountNumber}})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the conversions", func() bool {
		c, err := store.CampaignByID(bg, campaign.ID)
		if err != nil {
			return false
		}
		r, err := store.CampaignResults(bg, c)
		return err == nil && r.Treatment.Converted == 2 && r.Holdout.Converted == 2 && r.Treatment.Success == 2
	})

	// The campaign page: funnel, conversion, uplift, eligible members.
	err = chromedp.Do(sctx, chromedp.Navigate(campaignURL), chromedp.WaitVisible(`#funnel-treatment`))
	if err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		s, err := chromedp.Run(sctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	funnel := text(`#funnel-treatment`)
	for _, want := range []string{"Members", "Link created", "Page opened", "Link opened", "Logged in", "Job succeeded", "Converted"} {
		if !strings.Contains(funnel, want) {
			t.Errorf("funnel lacks %q:\n%s", want, funnel)
		}
	}
	if got := text(`#funnel-treatment tr[data-step="success"] td`); got != "2" {
		t.Errorf("job succeeded %q, want 2", got)
	}
	want := fmt.Sprintf("%.1f%%", 200/float64(len(treatment)))
	if got := text(`#conversion-treatment`); got != want {
		t.Errorf("treatment conversion %q, want %q", got, want)
	}
	if got := text(`#uplift`); got == "—" || !strings.HasSuffix(got, "pts") {
		t.Errorf("uplift %q", got)
	}
	if got := text(`#uplift-ci`); !strings.HasPrefix(got, "95% CI") {
		t.Errorf("uplift interval %q", got)
	}
	if got := text(`#ledger-eligible`); !strings.HasPrefix(got, "2 ") {
		t.Errorf("eligible %q, want 2", got)
	}
	// Two treatment members moved $200 each, two holdout members $150 each:
	// the difference of the means (either sign, by the split) times the
	// treatment's size, with its interval.
	if got := text(`#dollars-added`); !strings.HasPrefix(got, "+$") && !strings.HasPrefix(got, "-$") {
		t.Errorf("dollars added %q", got)
	}
	if got := text(`#dollars-ci`); !strings.HasPrefix(got, "95% CI") {
		t.Errorf("dollars interval %q", got)
	}
	err = chromedp.Do(sctx,
		chromedp.Navigate(campaignURL+"/members?stage=eligible"),
		chromedp.WaitVisible(`#members`),
	)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(sctx, chromedp.Evaluate[int](`document.querySelectorAll('#members tbody tr').length`))
	if err != nil || rows != 2 {
		t.Errorf("eligible members listed: %d %v", rows, err)
	}
}
