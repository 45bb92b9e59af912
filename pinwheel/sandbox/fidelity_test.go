package sandbox_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

func TestRateLimit_PerSecretOnTheEmulatorClock(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.RateLimit = 5 })
	for range 5 {
		e.mustOK("GET", "/v1/platforms", nil)
	}
	r := e.call("GET", "/v1/platforms", nil)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("6th request in a frozen second: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	if pe := r.apiError(t); pe.Type != "UNKNOWN_ERROR" || pe.Code != "EMULATOR_RATE_LIMITED" || pe.StatusCode != 429 {
		t.Errorf("429 envelope %+v", pe)
	}
	// A wrong secret is refused before the limit and spends nothing.
	if r := e.call("GET", "/v1/platforms", nil, pinwheel.HeaderAPISecret, "other"); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", r.Status)
	}
	// The bucket refills on the emulator's clock: 5 per second.
	e.clock.Advance(200 * time.Millisecond)
	e.mustOK("GET", "/v1/platforms", nil)
	if r := e.call("GET", "/v1/platforms", nil); r.Status != http.StatusTooManyRequests {
		t.Errorf("after one refilled token: %d", r.Status)
	}
	e.clock.Advance(time.Hour) // never more than one second's worth
	for range 5 {
		e.mustOK("GET", "/v1/platforms", nil)
	}
	if r := e.call("GET", "/v1/platforms", nil); r.Status != http.StatusTooManyRequests {
		t.Errorf("after an hour the bucket holds more than 5: %d", r.Status)
	}
	// Off.
	off := newEnv(t, func(c *sandbox.Config) { c.RateLimit = -1 })
	for range 50 {
		off.mustOK("GET", "/v1/platforms", nil)
	}
}

// Linkdesk's client waits out Retry-After (its Sleep moves the emulator's
// clock here) and gets through, for reads and for a POST alike.
func TestRateLimit_LinkdeskClientBacksOff(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.RateLimit = 2 })
	var waits []time.Duration
	c := pinwheel.New(pinwheel.Config{BaseURL: e.base + "/v1", Secret: testSecret,
		Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			e.clock.Advance(d)
			return nil
		}})
	ctx := context.Background()
	for i := range 6 {
		if _, err := c.Platform(ctx, workday); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if !slices.Equal(waits, []time.Duration{time.Second, time.Second}) {
		t.Errorf("waits %v, want two of 1s", waits)
	}
	if _, err := c.CreateLinkToken(ctx, pinwheel.LinkTokenCreate{OrgName: "Linkdesk", RequiredJobs: []string{"income"}, EndUserID: "u"}); err != nil {
		t.Fatalf("POST after the bucket emptied: %v", err)
	}
	if len(waits) != 3 {
		t.Errorf("the POST did not wait: %v", waits)
	}
}

func TestDelivery_UntidyByDefault(t *testing.T) {
	t.Run("every event arrives, redeliveries are the same event", func(t *testing.T) {
		e := newEnv(t)
		rc := newReceiver(t, e.clock.Now)
		e.hook(rc, "2023-11-22")
		acc := e.connect("eu-untidy")
		waitFor(t, "14 distinct events", time.Minute, func() bool {
			ids := map[string]bool{}
			for _, d := range rc.all() {
				ids[d.Event.EventID] = true
			}
			return len(ids) == 14
		})
		first := map[string]string{}
		for _, d := range rc.all() {
			if d.Err != nil {
				t.Errorf("%s: signature %v", d.Event.Event, d.Err)
			}
			if b, ok := first[d.Event.EventID]; ok && b != string(d.Body) {
				t.Errorf("a redelivery of %s differs", d.Event.Event)
			}
			first[d.Event.EventID] = string(d.Body)
		}
		// account, identity, income, allocations, paystubs, shifts, both
		// fully_synced, employment
		if got := rc.distinct(acc); len(got) != 9 {
			t.Errorf("event kinds %v", got)
		}
	})
	t.Run("redelivery", func(t *testing.T) {
		e := newEnv(t, func(c *sandbox.Config) { c.Delivery = sandbox.DeliveryOptions{RedeliverRate: 1, HoldBackRate: -1} })
		rc := newReceiver(t, e.clock.Now)
		e.hook(rc, "2023-11-22", "account.added", "identity.added", "income.added")
		e.connect("eu-redeliver", "identity", "income")
		waitFor(t, "each event twice", time.Minute, func() bool {
			n := map[string]int{}
			for _, d := range rc.all() {
				n[d.Event.EventID]++
			}
			if len(n) != 3 {
				return false
			}
			for _, c := range n {
				if c != 2 {
					return false
				}
			}
			return true
		})
	})
	t.Run("hold-backs", func(t *testing.T) {
		e := newEnv(t, func(c *sandbox.Config) { c.Delivery = sandbox.DeliveryOptions{HoldBackRate: 1, RedeliverRate: -1} })
		rc := newReceiver(t, e.clock.Now)
		e.hook(rc, "2023-11-22")
		acc := e.connect("eu-held")
		waitFor(t, "all 14 events, each once", time.Minute, func() bool { return len(rc.events(acc)) == 14 })
	})
}

func TestWebhooks_StrictRegistration(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.AllowHTTPWebhooks = false })
	base := map[string]any{"url": "https://example.com/hook", "status": "active", "enabled_events": []string{"account.added"},
		"version": "2023-11-22"}
	with := func(k string, v any) map[string]any {
		out := map[string]any{}
		for kk, vv := range base {
			out[kk] = vv
		}
		out[k] = v
		return out
	}
	for _, tc := range []struct {
		name, field string
		body        map[string]any
	}{
		{"http on loopback without the setting", "url", with("url", "http://127.0.0.1:9/hook")},
		{"http localhost", "url", with("url", "http://localhost/hook")},
		{"event outside the enum", "enabled_events", with("enabled_events", []string{"direct_deposit_payment.added"})},
		{"card_switch.added", "enabled_events", with("enabled_events", []string{"account.added", "card_switch.added"})},
		{"API version that is no webhook version", "version", with("version", "2022-06-22")},
	} {
		r := e.call("POST", "/v1/webhooks", tc.body)
		if r.Status != http.StatusBadRequest || r.apiError(t).Fields[0].Name != tc.field {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}
	for _, v := range pinwheel.WebhookVersions {
		e.mustOK("POST", "/v1/webhooks", with("version", v))
	}
	// With the setting (Linkdesk's emulator mode) loopback http is allowed.
	allow := newEnv(t)
	allow.mustOK("POST", "/v1/webhooks", with("url", "http://127.0.0.1:9/hook"))
	if r := allow.call("POST", "/v1/webhooks", with("url", "http://example.com/hook")); r.Status != http.StatusBadRequest {
		t.Errorf("http off loopback accepted: %d", r.Status)
	}
}

func TestJobs(t *testing.T) {
	e := newEnv(t)
	acc := e.connect("eu-jobs", "identity")
	other := e.connect("eu-jobs-2", "income")
	type job struct {
		ID           string
		Name         string
		Outcome      string
		AccountID    string  `json:"account_id"`
		LinkTokenID  string  `json:"link_token_id"`
		PlatformID   string  `json:"platform_id"`
		PlatformName string  `json:"platform_name"`
		ErrorType    *string `json:"error_type"`
	}
	var page struct {
		Data []job
		Meta pinwheel.Meta
	}
	e.mustOK("GET", "/v1/jobs?limit=100&account_id="+acc, nil).decode(t, &page)
	var names []string
	for _, j := range page.Data {
		if j.AccountID != acc || j.Outcome != "success" || j.PlatformName != "Workday" || !uuidRE.MatchString(j.LinkTokenID) {
			t.Errorf("job %+v", j)
		}
		names = append(names, j.Name)
	}
	// Fan-out: 6 jobs, 4 paystub and 3 shift pages.
	slices.Sort(names)
	if want := []string{"direct_deposit_allocations", "employment", "identity", "income", "paystubs", "paystubs", "paystubs",
		"paystubs", "shifts", "shifts", "shifts"}; !slices.Equal(names, want) {
		t.Errorf("jobs %v, want %v", names, want)
	}
	e.mustOK("GET", "/v1/jobs?job_types=identity&job_types=income", nil).decode(t, &page)
	if len(page.Data) != 4 { // both sessions fan out to identity and income
		t.Errorf("identity and income of two accounts: %d", len(page.Data))
	}
	e.mustOK("GET", "/v1/jobs?link_token_id="+page.Data[0].LinkTokenID, nil).decode(t, &page)
	if len(page.Data) != 11 || page.Data[0].AccountID != other {
		t.Errorf("by token (newest first): %d, %s", len(page.Data), page.Data[0].AccountID)
	}
	var all []job
	cursor := ""
	for {
		q := "/v1/jobs?limit=5"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		e.mustOK("GET", q, nil).decode(t, &page)
		all = append(all, page.Data...)
		if page.Meta.NextCursor == nil {
			break
		}
		cursor = *page.Meta.NextCursor
	}
	if len(all) != 22 {
		t.Errorf("paged through %d jobs, want 22", len(all))
	}
	future := url.QueryEscape(e.clock.Now().Add(time.Hour).Format(pinwheel.TimeLayout))
	e.mustOK("GET", "/v1/jobs?from_timestamp="+future, nil).decode(t, &page)
	if len(page.Data) != 0 {
		t.Errorf("jobs after an hour from now: %d", len(page.Data))
	}
	for _, q := range []string{"job_types=login", "outcome=done", "account_id=nope", "from_timestamp=yesterday"} {
		if r := e.call("GET", "/v1/jobs?"+q, nil); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d", q, r.Status)
		}
	}
	// A user_error session's jobs fail.
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"}, "end_user_id": "eu-jobs-err",
		"skip_intro_screen": true, "platform_id": workday})
	res, err := e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{Username: "user_error"})
	if err != nil {
		t.Fatal(err)
	}
	e.mustOK("GET", "/v1/jobs?outcome=error&account_id="+res.AccountID, nil).decode(t, &page)
	if len(page.Data) != 6 || page.Data[0].ErrorType == nil || *page.Data[0].ErrorType != "systemError" {
		t.Errorf("failed jobs %+v", page.Data)
	}
}

func TestTaxFormsAndDocuments(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, e.clock.Now)
	e.hook(rc, "2023-11-22", "tax_forms.added")
	acc := e.connect("eu-tax", "tax_forms")
	rc.waitEvent(t, acc, "tax_forms.added")
	var list struct {
		Data []struct {
			ID       string
			FormType string `json:"form_type"`
			Year     int
		}
		Meta pinwheel.Meta
	}
	e.mustOK("GET", "/v1/accounts/"+acc+"/tax_forms", nil).decode(t, &list)
	year := e.clock.Now().Year()
	if len(list.Data) != 2 || list.Data[0].Year != year-1 || list.Data[1].Year != year-2 || list.Meta.RefreshedAt == nil {
		t.Fatalf("tax forms %+v", list)
	}
	e.mustOK("GET", "/v1/accounts/"+acc+"/tax_forms?from_year="+strconv.Itoa(year-1), nil).decode(t, &list)
	if len(list.Data) != 1 {
		t.Errorf("from_year: %d", len(list.Data))
	}
	var form pinwheel.Response[pinwheel.TaxForm]
	r := e.mustOK("GET", "/v1/accounts/"+acc+"/tax_forms/"+list.Data[0].ID+"?with_parsed_data=true", nil)
	r.decode(t, &form)
	if form.Data.Document == nil || form.Data.Document.DownloadURL == nil || len(form.Data.ParsedData) == 0 ||
		!strings.Contains(string(form.Data.ParsedData), `"box_1":`) {
		t.Fatalf("tax form %s", r.Body)
	}
	if r := e.call("GET", "/v1/accounts/"+acc+"/tax_forms/00000000-0000-4000-8000-000000000000", nil); r.Status != 404 {
		t.Errorf("unknown tax form: %d", r.Status)
	}

	get := func(u string) (int, string, []byte) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	var stubs struct{ Data []pinwheel.Paystub }
	e.mustOK("GET", "/v1/accounts/"+acc+"/paystubs?limit=1", nil).decode(t, &stubs)
	doc := stubs.Data[0].Document
	if doc == nil || doc.DownloadURL == nil || doc.DownloadURLExpiration == nil ||
		!doc.DownloadURLExpiration.Equal(e.clock.Now().Add(15*time.Minute)) || !strings.Contains(*doc.DownloadURL, "X-Amz-Expires=900") {
		t.Fatalf("paystub document %+v", doc)
	}
	for _, u := range []string{*doc.DownloadURL, *form.Data.Document.DownloadURL} {
		if code, ct, body := get(u); code != 200 || ct != "application/pdf" || !strings.HasPrefix(string(body), "%PDF-") {
			t.Errorf("%s: %d %s", u, code, ct)
		}
	}
	if code, _, _ := get(strings.Replace(*doc.DownloadURL, "X-Amz-Signature=", "X-Amz-Signature=0", 1)); code != http.StatusForbidden {
		t.Errorf("altered URL: %d", code)
	}
	e.clock.Advance(16 * time.Minute)
	if code, _, _ := get(*doc.DownloadURL); code != http.StatusForbidden {
		t.Errorf("expired URL: %d", code)
	}
}

// The recorded cursor is a Fernet token; so is the emulator's.
func TestCursors_Fernet(t *testing.T) {
	e := newEnv(t)
	acc := e.connect("eu-cursor", "shifts")
	var page struct{ Meta pinwheel.Meta }
	e.mustOK("GET", "/v1/accounts/"+acc+"/shifts", nil).decode(t, &page)
	if page.Meta.NextCursor == nil {
		t.Fatal("no next cursor")
	}
	c := *page.Meta.NextCursor
	raw, err := base64.URLEncoding.DecodeString(c)
	if !regexp.MustCompile(`^gAAAAA[A-Za-z0-9_-]+=*$`).MatchString(c) || err != nil || raw[0] != 0x80 {
		t.Errorf("cursor %q is not a Fernet token", c)
	}
	e.mustOK("GET", "/v1/accounts/"+acc+"/shifts?cursor="+url.QueryEscape(c), nil)
	forged := c[:20] + strings.Repeat("A", 10) + c[30:]
	if r := e.call("GET", "/v1/accounts/"+acc+"/shifts?cursor="+url.QueryEscape(forged), nil); r.Status != http.StatusBadRequest {
		t.Errorf("forged cursor: %d", r.Status)
	}
}

// No invented screen names: the intro, MFA and allocation screens fire no
// screen_transition; the names that are fired are the documented ones.
func TestLink_NoInventedScreenNames(t *testing.T) {
	e := newEnv(t)
	tok := e.token(map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"identity", "direct_deposit_switch"},
		"end_user_id": "eu-screens", "allocation": map[string]any{"targets": targets}})
	res, err := e.driver().Complete(context.Background(), tok.Token, sandbox.SessionPlan{Username: "user_mfa", PlatformID: workday})
	if err != nil {
		t.Fatal(err)
	}
	var screens []string
	for _, ev := range res.Events {
		if ev.Name == "screen_transition" {
			var p struct{ ScreenName string }
			payloadOf(t, []sandbox.ClientEvent{ev}, "screen_transition", &p)
			screens = append(screens, p.ScreenName)
		}
	}
	if !slices.Equal(screens, []string{"SEARCH_DEFAULT", "LOGIN", "JOB_SUCCESS"}) {
		t.Errorf("screens %v", screens)
	}
}
