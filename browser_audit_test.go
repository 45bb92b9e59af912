package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/crypto/bcrypt"

	"linkdesk/db"
	"linkdesk/evidence"
)

// TestBrowser_AuditorsWorkspace is the auditor's story of issue 12 against
// `linkdesk serve`: an auditor filters the audit trail by a person, opens
// the account that person revealed, sees who saw it, exports the filtered
// trail, verifies the chain and downloads the account's evidence pack;
// both downloads check offline.
func TestBrowser_AuditorsWorkspace(t *testing.T) {
	ctx := newBrowser(t)
	dir := t.TempDir()
	const secret = "audit_browser_secret"
	path := filepath.Join(dir, "linkdesk.db")
	base, _ := startServe(t, map[string]string{"LINKDESK_DB": path, "LINKDESK_SANDBOX_STATE": filepath.Join(dir, "sandbox.db"),
		"LINKDESK_PINWHEEL_SECRET": secret, "LINKDESK_ADMIN_PASSWORD": "admin password 123"})
	bg := context.Background()

	// The world: an account with its webhooks, an operator who revealed
	// its SSN digits with a reason, and the auditor, written through a
	// second Store on the same file.
	const account = "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	now := time.Now().UTC()
	postSignedWebhook(t, base, secret, fmt.Sprintf(`{"event_id": "evt-audit-1", "event": "account.added", "payload": {"created_at": %q, "link_token_id": "lt-audit-1", "platform_id": "p-wd", "connected": true, "monitoring_status": "active", "end_user_id": "eu-audit", "account_id": %q, "platform_name": "Workday"}}`,
		now.Format(time.RFC3339), account))
	store, err := db.Open(bg, path, db.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sys := db.Actor{Email: "browser-test"}
	olga, err := store.CreateStaff(bg, sys, db.StaffCreate{Email: "olga@example.com", Name: "Olga Petrova", Role: db.RoleOperator, Password: "operator password 1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateStaff(bg, sys, db.StaffCreate{Email: "petra@example.com", Name: "Petra Auditor", Role: db.RoleAuditor, Password: "auditor password 1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the account", func() bool { _, err := store.AccountOverview(bg, account); return err == nil })
	if err := store.RevealPII(bg, db.Actor{StaffID: olga.ID, Email: olga.Email, IP: "10.1.2.3"}, account, []string{db.PIISSNLastFour}, "customer disputes a deposit, ticket 7781"); err != nil {
		t.Fatal(err)
	}

	// Downloads land in a directory of the test.
	downloads := t.TempDir()
	yes := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: &yes}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	done := map[string]string{} // guid → file
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			mu.Lock()
			done[e.GUID] = filepath.Join(downloads, e.GUID)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	download := func(what, selector string) []byte {
		t.Helper()
		mu.Lock()
		before := len(done)
		mu.Unlock()
		if err := chromedp.Do(ctx, chromedp.Click(selector)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var file string
		waitUntil(t, what+" downloaded", func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(done) == before {
				return false
			}
			for _, f := range done {
				if b, err := os.ReadFile(f); err == nil && len(b) > 0 {
					file = f
				}
			}
			delete(done, filepath.Base(file))
			return file != ""
		})
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	fail := func(step string, err error) {
		t.Helper()
		page, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.Evaluate[string](`document.location.href + "\n" + document.body.innerText.slice(0, 3000)`))
		t.Fatalf("%s: %v\n%s", step, err, page)
	}
	// The auditor signs in and filters the trail by the person.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/audit"),
		chromedp.WaitVisible(`#f-email`),
		chromedp.SendKeys(`#f-email`, "petra@example.com"),
		chromedp.SendKeys(`#f-password`, "auditor password 1"),
		chromedp.Submit(`#f-password`),
		chromedp.WaitVisible(`//h1[text()="Audit trail"]`),
		// The filter applies when the field changes (leaving it), as on
		// every list: a chip with its count, the line "1 of N rows".
		chromedp.SendKeys(`input[name="actor"]`, "olga"),
		chromedp.SendKeys(`input[name="actor"]`, kb.Tab),
		chromedp.WaitVisible(`//ul[contains(@class, "chips")]/li[contains(., "Actor")][contains(., "olga")]`),
		chromedp.WaitVisible(`//p[@id="list-count"][starts-with(., "1 of ")][contains(., "rows match")]`),
	)
	if err != nil {
		fail("filtering by person", err)
	}
	sentence, err := chromedp.Run(ctx, chromedp.Text(`#audit-rows li p.sentence`))
	if err != nil {
		t.Fatal(err)
	}
	if sentence != "Olga Petrova (olga@example.com) revealed masked identity fields of account "+account {
		t.Errorf("sentence %q", sentence)
	}
	reason, _ := chromedp.Run(ctx, chromedp.Text(`#audit-rows li dl.detail`))
	if !strings.Contains(reason, "ticket 7781") {
		t.Errorf("detail %q lacks the reason", reason)
	}
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if !strings.Contains(href, "actor=olga") {
		t.Errorf("the filter is not in the URL: %q", href)
	}

	// The export of the filtered trail.
	csv := download("the CSV export", `#audit-export-csv`)
	keys, err := db.Open(bg, path, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	v, err := db.VerifyAuditExport(bytes.NewReader(csv), keys.AuditKeys())
	if err != nil || v.Rows != 1 || v.Header.ExportedBy != "petra@example.com" {
		t.Fatalf("the export: %d rows by %q, %v\n%s", v.Rows, v.Header.ExportedBy, err, csv)
	}

	// The chip removes the filter in one click; the URL keeps the rest.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/audit?actor=olga&group=pii"),
		chromedp.WaitVisible(`//ul[contains(@class, "chips")]/li[contains(., "Action group")]`),
		chromedp.Click(`//ul[contains(@class, "chips")]/li[contains(., "Action group")]/a[contains(@class, "chip-x")]`),
		chromedp.WaitNotPresent(`//ul[contains(@class, "chips")]/li[contains(., "Action group")]`),
	)
	if err != nil {
		fail("removing a chip", err)
	}
	if u, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`)); u != "?actor=olga" {
		t.Errorf("after removing the chip the URL is %q", u)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/audit?actor=olga"), chromedp.WaitVisible(`#audit-rows`)); err != nil {
		fail("back to the filtered trail", err)
	}

	// Open the target: the account, its "Who saw this" panel.
	err = chromedp.Do(ctx,
		chromedp.Click(`#audit-rows li a.target`),
		chromedp.WaitVisible(`//h1[contains(., "`+account+`")]`),
		chromedp.WaitVisible(`//section[@id="who-saw"]//li[contains(., "Olga Petrova")][contains(., "ticket 7781")]`),
	)
	if err != nil {
		fail("opening the target", err)
	}
	pack := download("the evidence pack", `#evidence-download`)

	// Verify the chain now.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/audit"),
		chromedp.WaitVisible(`#verify-now`),
		chromedp.Click(`#verify-now`),
		chromedp.WaitVisible(`//div[contains(@class, "flash")][contains(., "The chain is intact")]`),
		chromedp.WaitVisible(`//p[@id="chain-last"]/span[text()="intact"]`),
	)
	if err != nil {
		fail("verify now", err)
	}
	pub, err := chromedp.Run(ctx, chromedp.Text(`#public-key`))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evidence.Verify(bytes.NewReader(pack), int64(len(pack)), evidence.Trust{PublicKeys: []string{pub}})
	if err != nil {
		t.Fatalf("the evidence pack: %v", err)
	}
	if rep.Manifest.Subject.ID != account || rep.Manifest.ExportedBy.Email != "petra@example.com" {
		t.Errorf("manifest %+v", rep.Manifest)
	}
	// The pack and the export are in the trail.
	rows, _, err := keys.ListAudit(bg, db.AuditFilter{Actors: []string{"petra@example.com"}, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, r := range rows {
		acts = append(acts, r.Action)
	}
	for _, want := range []string{db.ActionAuditExported, db.ActionEvidenceExported, db.ActionChainVerified} {
		if !strings.Contains(strings.Join(acts, " "), want) {
			t.Errorf("the auditor's trail %v lacks %s", acts, want)
		}
	}
}
