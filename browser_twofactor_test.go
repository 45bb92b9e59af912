package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowser_TwoFactorEnrolment: the admin requires two-factor sign-in;
// an operator signing in is sent to enrol, scans (here: reads) the key off
// the page, confirms with a code computed from it, saves the recovery
// codes, and from then on signs in with password and code; a recovery code
// works once.
func TestBrowser_TwoFactorEnrolment(t *testing.T) {
	ctx := newBrowser(t)
	base, out := startServe(t, nil)
	email, password := printedLogin(t, out.String())
	fail := func(what string, err error) {
		t.Helper()
		page, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string]("document.location.href + ' ' + document.body.innerText.slice(0, 800)"))
		t.Fatalf("%s: %v; page: %s", what, err, page)
	}
	signIn := func(email, password string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(`#f-email`),
			chromedp.SendKeys(`#f-email`, email),
			chromedp.SendKeys(`#f-password`, password),
			chromedp.Submit(`#f-password`),
		)
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			fail("text of "+sel, err)
		}
		return v
	}
	err := chromedp.Do(ctx,
		signIn(email, password),
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
		chromedp.Navigate(base+"/staff"),
		chromedp.WaitVisible(`//h1[text()="Staff"]`),
		chromedp.SendKeys(`form[action="/staff"] #f-email`, "tess@example.com"),
		chromedp.SendKeys(`form[action="/staff"] #f-name`, "Tess Operator"),
		chromedp.SetValue(`#f-role`, "operator"),
		chromedp.SendKeys(`form[action="/staff"] #f-password`, "operator password 2"),
		chromedp.Click(`//button[text()="Add staff member"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Added tess@example.com")]`),
		chromedp.Click(`//button[text()="Require it of everyone"]`),
		chromedp.WaitVisible(`//div[contains(@class,"flash")][contains(., "Two-factor sign-in is required")]`),
		chromedp.Click(`//button[text()="Sign out"]`),
		chromedp.WaitVisible(`//h1[text()="Sign in"]`),
	)
	if err != nil {
		fail("the admin requires a second factor", err)
	}

	// Tess signs in and lands on enrolment: the QR code and the key.
	err = chromedp.Do(ctx,
		signIn("tess@example.com", "operator password 2"),
		chromedp.WaitVisible(`#totp-secret`),
		chromedp.WaitVisible(`svg.qr`),
	)
	if err != nil {
		fail("enrolment page", err)
	}
	secret := text(`#totp-secret`)
	code, err := totp.GenerateCode(strings.TrimSpace(secret), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(`#f-code`, code),
		chromedp.Click(`#enrol`),
		chromedp.WaitVisible(`#recovery-codes`),
	)
	if err != nil {
		fail("confirming enrolment", err)
	}
	codes := text(`#recovery-codes`)
	err = chromedp.Do(ctx,
		chromedp.Click(`#codes-saved`),
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
		chromedp.Click(`//button[text()="Sign out"]`),
		chromedp.WaitVisible(`//h1[text()="Sign in"]`),
	)
	if err != nil {
		fail("after enrolment", err)
	}
	recovery := strings.Fields(codes)
	if len(recovery) != 10 {
		t.Fatalf("recovery codes %q", codes)
	}

	// Signing in now asks for a code: a fresh one from the app (the next
	// step, as a code is accepted once), then a recovery code.
	next, _ := totp.GenerateCode(strings.TrimSpace(secret), time.Now().Add(30*time.Second))
	err = chromedp.Do(ctx,
		signIn("tess@example.com", "operator password 2"),
		chromedp.WaitVisible(`//h1[text()="Two-factor sign-in"]`),
		chromedp.SendKeys(`#f-code`, next),
		chromedp.Submit(`#f-code`),
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
		chromedp.Click(`//button[text()="Sign out"]`),
		chromedp.WaitVisible(`//h1[text()="Sign in"]`),
		signIn("tess@example.com", "operator password 2"),
		chromedp.WaitVisible(`//h1[text()="Two-factor sign-in"]`),
		chromedp.SendKeys(`#f-code`, recovery[0]),
		chromedp.Submit(`#f-code`),
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
	)
	if err != nil {
		fail("signing in with the second factor", err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(`//button[text()="Sign out"]`),
		chromedp.WaitVisible(`//h1[text()="Sign in"]`),
		signIn(email, password),
		// The admin has none yet and it is required: enrolment first.
		chromedp.WaitVisible(`#totp-secret`),
		chromedp.Navigate(base+"/staff"),
		chromedp.WaitVisible(`#totp-secret`),
	)
	if err != nil {
		fail("the admin is sent to enrol", err)
	}
}
