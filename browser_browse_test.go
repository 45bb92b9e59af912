package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"linkdesk/pinwheel"
)

// postSignedWebhook delivers body to a running Linkdesk as Pinwheel would:
// signed with the API secret over X-Timestamp and the exact bytes.
func postSignedWebhook(t *testing.T, base, secret, body string) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/pinwheel", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pinwheel.HeaderTimestamp, ts)
	req.Header.Set(pinwheel.HeaderSignature, pinwheel.Sign(secret, ts, []byte(body)))
	req.Header.Set(pinwheel.HeaderVersion, "2023-11-22")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
}

// TestBrowser_FindAndRead pastes an account id into the header search,
// lands on the account, expands an event's raw JSON, then posts a signed
// webhook for that account and sees its entry appear on the open page
// without a reload (server-sent events through htmx's SSE extension).
func TestBrowser_FindAndRead(t *testing.T) {
	ctx := newBrowser(t)
	const secret = "browse_browser_secret"
	base, out := startServe(t, map[string]string{"LINKDESK_PINWHEEL_SECRET": secret})
	email, password := printedLogin(t, out.String())

	const account = "5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	now := time.Now().UTC()
	postSignedWebhook(t, base, secret, fmt.Sprintf(`{"event_id": "evt-browse-1", "event": "account.added", "payload": {"created_at": %q, "link_token_id": "lt-browse-1", "platform_id": "p-wd", "connected": true, "monitoring_status": "active", "end_user_id": "eu-browse", "account_id": %q, "platform_name": "Workday"}}`,
		now.Format(time.RFC3339), account))
	postSignedWebhook(t, base, secret, fmt.Sprintf(`{"event_id": "evt-browse-2", "event": "identity.added", "payload": {"id": "job-2", "name": "identity", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "lt-browse-1", "params": {}, "account_id": %q, "end_user_id": "eu-browse"}}`,
		now.Format(time.RFC3339), account))

	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, email),
		chromedp.SendKeys(`#f-password`, password),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`//h1[starts-with(., "Welcome")]`),
		// Paste the account id into the header search.
		chromedp.SendKeys(`#q`, account),
		chromedp.Submit(`#q`),
		chromedp.WaitVisible(`//h1[contains(., "`+account+`")]`),
		chromedp.WaitVisible(`//li[contains(@class, "entry")][contains(., "Identity data added")]`),
	)
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText`))
		t.Fatalf("search to account: %v\n%s", err, page)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.pathname`))
	if err != nil || href != "/accounts/"+account {
		t.Errorf("landed on %q (%v), want the account page", href, err)
	}

	// Expand the raw JSON of the identity event.
	entry := `//li[contains(@class, "entry")][contains(., "Identity data added")]`
	err = chromedp.Do(ctx,
		chromedp.Click(entry+`//summary[text()="Raw JSON"]`),
		chromedp.WaitVisible(entry+`//details[@open]/pre`),
	)
	if err != nil {
		t.Fatalf("expand JSON: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Text(entry+`//details/pre`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw, `"event": "identity.added"`) || !strings.Contains(raw, `"account_id": "`+account+`"`) {
		t.Errorf("raw JSON:\n%s", raw)
	}

	// A marker that a reload would wipe.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__linkdeskMarker = "still here"`)); err != nil {
		t.Fatal(err)
	}
	postSignedWebhook(t, base, secret, fmt.Sprintf(`{"event_id": "evt-browse-3", "event": "direct_deposit_switch.added", "payload": {"id": "job-3", "name": "direct_deposit_switch", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "lt-browse-1", "params": {"action": "partial_switch", "allocation": {"type": "amount", "value": 150, "target": {"account_name": "Checking", "account_type": "checking", "last_four_account_number": "6789"}}}, "account_id": %q, "end_user_id": "eu-browse"}}`,
		time.Now().UTC().Format(time.RFC3339), account))
	live := `//div[@id="timeline-days"]//li[contains(., "Direct deposit switch succeeded: $150.00 of each paycheck to Checking ••6789")]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(live)); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("the new entry did not appear live: %v\n%s", err, page)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.__linkdeskMarker)`))
	if err != nil || marker != "still here" {
		t.Errorf("the page reloaded (marker %q, %v)", marker, err)
	}
}
