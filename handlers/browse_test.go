package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"

	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"linkdesk/db"
	"linkdesk/dbtest"
	"linkdesk/pinwheel"
	"linkdesk/web"
)

// ---- fixtures ----

// sampleEvent is the event the route table test opens: the account.added
// of the sample account.
func sampleEvent(t *testing.T, s *testServer) string {
	t.Helper()
	sampleAccount(t, s)
	return "sample-added"
}

// browseStart is the browse tests' clock when they begin.
var browseStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// deliver posts a signed webhook received at the clock's time at.
func (s *testServer) deliver(t *testing.T, at time.Time, body string) {
	t.Helper()
	s.clk.set(at)
	ts := strconv.FormatInt(at.Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pinwheel", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pinwheel.HeaderTimestamp, ts)
	req.Header.Set(pinwheel.HeaderSignature, pinwheel.Sign(testSecret, ts, []byte(body)))
	req.Header.Set(pinwheel.HeaderVersion, "2023-11-22")
	req.Header.Set(pinwheel.HeaderWebhookID, "420900d5-2ffb-4ad9-b2a6-38ef975f9b21")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("webhook %s: %d %s", body, rec.Code, rec.Body.String())
	}
}

// reject posts a webhook with a bad signature.
func (s *testServer) reject(t *testing.T, body string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pinwheel", strings.NewReader(body))
	req.Header.Set(pinwheel.HeaderTimestamp, strconv.FormatInt(s.clk.now().Unix(), 10))
	req.Header.Set(pinwheel.HeaderSignature, "v2="+strings.Repeat("0", 64))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", rec.Code)
	}
}

func added(eventID, account, endUser, platformID, platformName, status string, connected bool) string {
	return fmt.Sprintf(`{"event_id": %q, "event": "account.added", "payload": {"created_at": "2026-11-26T10:00:00.000000+00:00", "link_token_id": "tok-%s", "platform_id": %q, "connected": %t, "monitoring_status": %q, "end_user_id": %q, "account_id": %q, "platform_name": %q}}`,
		eventID, account, platformID, connected, status, endUser, account, platformName)
}

func jobEvent(eventID, event, account, endUser, outcome string, at time.Time, params string) string {
	job := strings.TrimSuffix(event, ".added")
	et, ec := "null", "null"
	if outcome == "error" {
		et, ec = `"system_error"`, `"platformUnavailable"`
	}
	if params == "" {
		params = "{}"
	}
	return fmt.Sprintf(`{"event_id": %q, "event": %q, "payload": {"id": "job-%s", "name": %q, "timestamp": %q, "outcome": %q, "error_code": %s, "error_type": %s, "link_token_id": "tok-%s", "params": %s, "account_id": %q, "end_user_id": %q}}`,
		eventID, event, eventID, job, at.Format(time.RFC3339Nano), outcome, ec, et, account, params, account, endUser)
}

const switchParams = `{"action": "partial_switch", "allocation": {"type": "amount", "value": 150, "target": {"account_name": "Checking", "account_type": "checking", "last_four_account_number": "6789"}}}`

// Browse fixture: three accounts of two end users, a failed job, a
// switch, a duplicate and a rejected delivery, spread over an hour.
const (
	accA = "acc-aaaaaaaa-0001" // eu-1, Workday, active, switch succeeded
	accB = "acc-bbbbbbbb-0002" // eu-1, ADP, degraded, disconnected
	accC = "acc-cccccccc-0003" // eu-2, ADP, active, income failed
)

func seedBrowse(t *testing.T, s *testServer) time.Time {
	t.Helper()
	base := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	s.deliver(t, at(1), added("ev-a1", accA, "eu-1", "p-wd", "Workday", "active", true))
	s.deliver(t, at(2), added("ev-b1", accB, "eu-1", "p-adp", "ADP", "degraded", false))
	s.deliver(t, at(3), added("ev-c1", accC, "eu-2", "p-adp", "ADP", "active", true))
	s.deliver(t, at(4), jobEvent("ev-a2", "identity.added", accA, "eu-1", "success", at(4), ""))
	s.deliver(t, at(5), jobEvent("ev-c2", "income.added", accC, "eu-2", "error", at(5), ""))
	s.deliver(t, at(6), jobEvent("ev-a3", "direct_deposit_switch.added", accA, "eu-1", "success", at(6), switchParams))
	s.deliver(t, at(7), jobEvent("ev-a3", "direct_deposit_switch.added", accA, "eu-1", "success", at(6), switchParams)) // redelivered
	s.clk.set(at(8))
	s.reject(t, `{"event_id": "forged"}`)
	waitUntil(t, func() bool {
		rows, _, _ := s.store.ListRejections(context.Background(), "", 0, 10)
		return len(rows) == 1
	})
	s.clk.set(at(10))
	return base
}

// finishFetches stores snapshots for the queued fetches of an account, as
// the worker would.
func finishFetches(t *testing.T, s *testServer, bodies map[string]string) {
	t.Helper()
	ctx := context.Background()
	jobs, err := s.store.ClaimJobs(ctx, db.FetchJobKinds, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var res []db.JobOutcome
	for _, j := range jobs {
		fj, _ := db.ReadFetchJob(j)
		body, ok := bodies[fj.Data]
		if !ok {
			body = `{"id": "x"}`
		}
		res = append(res, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(body)}})
	}
	if err := s.store.FinishJobs(ctx, res); err != nil {
		t.Fatal(err)
	}
}

const identitySnapshot = `{"id": "75b85ffa", "account_id": "acc-aaaaaaaa-0001", "full_name": "Ash Userton", "emails": ["ash@example.com"], "date_of_birth": "1993-08-28", "last_four_ssn": "4321", "address": {"raw": "20429 Pinwheel Drive, New York City, NY 99999", "line1": null, "line2": null, "city": null, "state": null, "postal_code": null, "country": "US"}, "phone_numbers": [{"value": "+12345556789", "type": null}]}`

const allocationsSnapshot = `{"id": "07814454", "account_id": "acc-aaaaaaaa-0001", "allocations": [{"account_name": "Checking", "account_type": "checking", "allocation_type": "amount", "amount": 15000, "bank_name": "Chase", "currency": "USD", "masked_account_number": "6789", "percentage": null, "priority": 1, "routing_number": "540622601"}, {"account_name": "Neobank", "account_type": "checking", "allocation_type": "remainder", "amount": null, "bank_name": null, "currency": "USD", "masked_account_number": "83", "percentage": null, "priority": 2, "routing_number": "434957982"}]}`

func get(t *testing.T, s *testServer, cookie *http.Cookie, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := s.do(t, http.MethodGet, target, nil, cookie)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", target, rec.Code, rec.Body.String())
	}
	return rec
}

// rowIDs returns the IDs linked from a table's rows, in order: the hrefs of
// the given path prefix, unescaped.
func rowIDs(body, prefix string) []string {
	re := regexp.MustCompile(`href="` + regexp.QuoteMeta(prefix) + `([^"?#/]+)"`)
	var out []string
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		id, _ := url.PathUnescape(m[1])
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// tableRows returns the IDs linked from the rows of the table with id.
func tableRows(t *testing.T, body, tableID, prefix string) []string {
	t.Helper()
	i := strings.Index(body, `id="`+tableID+`"`)
	if i < 0 {
		return nil
	}
	j := strings.Index(body[i:], "</table>")
	return rowIDs(body[i:i+j], prefix)
}

func nextLink(body string) string {
	m := regexp.MustCompile(`<a href="([^"]+)" rel="next"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")
	link, _, _ = strings.Cut(link, "#") // browsers do not send the fragment
	return link
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// ---- tests ----

func TestDashboard(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	cookie := s.login(t, "operator@example.com")
	body := get(t, s, cookie, "/").Body.String()
	for _, want := range []string{
		"Welcome, Operator",
		`href="/accounts?status=active"`, `href="/accounts?status=degraded"`,
		`>Account added</a></td><td class="num">3</td><td class="num">0</td>`,
		`>Direct deposit switch job</a></td><td class="num">1</td><td class="num">1</td>`,
		`href="/events/rejected?reason=bad_signature"`,
		`href="/events/ev-a3"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	// Newest events: the last received first.
	if got := tableRows(t, body, "events", "/events/"); len(got) == 0 || got[0] != "ev-a3" {
		t.Errorf("newest events %v", got)
	}
}

func TestAccountsIndex(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	cookie := s.login(t, "auditor@example.com")
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{accA, accC, accB}},
		{"?status=active", []string{accA, accC}},
		{"?platform=p-adp", []string{accC, accB}},
		{"?connected=no", []string{accB}},
		{"?last_outcome=error", []string{accC}},
		{"?status=active&platform=p-adp", []string{accC}},
		{"?quiet_days=1", nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			body := get(t, s, cookie, "/accounts"+c.query).Body.String()
			if got := tableRows(t, body, "accounts", "/accounts/"); !equal(got, c.want) {
				t.Errorf("rows %v, want %v", got, c.want)
			}
			if c.want == nil && !strings.Contains(body, "No accounts match these filters") {
				t.Error("no empty state")
			}
		})
	}
	body := get(t, s, cookie, "/accounts").Body.String()
	for _, want := range []string{`ADP (2)`, `Workday (1)`, `active (2)`, `degraded (1)`, `yes (2)`, `no (1)`, `failed (1)`} {
		if !strings.Contains(body, want) {
			t.Errorf("facet count %q missing", want)
		}
	}
	rec := s.do(t, http.MethodGet, "/accounts?status=bogus&quiet_days=x", nil, cookie)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Choose a monitoring status") && !strings.Contains(rec.Body.String(), "Enter a number of days") {
		t.Errorf("bad filter: %d", rec.Code)
	}
	if rec := s.do(t, http.MethodGet, "/accounts?after=garbage", nil, cookie); rec.Code != http.StatusBadRequest {
		t.Errorf("bad cursor: %d", rec.Code)
	}
}

func TestAccountsIndex_EmptyState(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	cookie := s.login(t, "admin@example.com")
	body := get(t, s, cookie, "/accounts").Body.String()
	if !strings.Contains(body, "No accounts yet. In emulator mode, demo data appears on first start") {
		t.Error("no empty state")
	}
	for _, path := range []string{"/end-users", "/events", "/events/rejected", "/"} {
		if b := get(t, s, cookie, path).Body.String(); !strings.Contains(b, `class="empty"`) {
			t.Errorf("%s has no empty state", path)
		}
	}
}

// TestLists_KeysetWhileEventsArrive pages /accounts, /end-users and /events
// by their rel=next links while new events arrive between pages: nothing is
// listed twice and nothing that did not change is missed.
func TestLists_KeysetWhileEventsArrive(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	const n = 120
	for i := 0; i < n; i++ {
		s.deliver(t, base.Add(time.Duration(i)*time.Second), added(fmt.Sprintf("ev-%03d", i), fmt.Sprintf("acc-%03d", i), fmt.Sprintf("eu-%03d", i), "p-wd", "Workday", "active", true))
	}
	cookie := s.login(t, "admin@example.com")
	for _, list := range []struct{ path, table, prefix string }{
		{"/accounts", "accounts", "/accounts/"}, {"/end-users", "end-users", "/end-users/"}, {"/events", "events", "/events/"},
	} {
		t.Run(list.path, func(t *testing.T) {
			seen := map[string]int{}
			target, pages := list.path, 0
			late := base.Add(time.Hour)
			for target != "" {
				body := get(t, s, cookie, target).Body.String()
				rows := tableRows(t, body, list.table, list.prefix)
				if len(rows) > 50 {
					t.Fatalf("page of %d rows", len(rows))
				}
				for _, id := range rows {
					seen[id]++
				}
				// New activity between pages: a new account, and an event
				// for the first row shown (which moves to the front).
				late = late.Add(time.Second)
				s.deliver(t, late, added(fmt.Sprintf("late-%s-%d", list.table, pages), fmt.Sprintf("late-%s-%d", list.table, pages), "eu-late", "p-wd", "Workday", "active", true))
				target = nextLink(body)
				pages++
			}
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			for id, k := range seen {
				if k > 1 {
					t.Errorf("%s listed %d times", id, k)
				}
			}
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("acc-%03d", i)
				switch list.table {
				case "end-users":
					id = fmt.Sprintf("eu-%03d", i)
				case "events":
					id = fmt.Sprintf("ev-%03d", i)
				}
				if seen[id] != 1 {
					t.Errorf("%s listed %d times, want once", id, seen[id])
				}
			}
		})
	}
}

func TestEndUsers(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	cookie := s.login(t, "operator@example.com")
	for query, want := range map[string][]string{
		"":                         {"eu-1", "eu-2"},
		"?status=degraded":         {"eu-1"},
		"?platform=p-adp":          {"eu-1", "eu-2"},
		"?platform=p-wd":           {"eu-1"},
		"?active_since=2026-11-27": nil,
	} {
		body := get(t, s, cookie, "/end-users"+query).Body.String()
		if got := tableRows(t, body, "end-users", "/end-users/"); !equal(got, want) {
			t.Errorf("%s: rows %v, want %v", query, got, want)
		}
	}
	body := get(t, s, cookie, "/end-users/eu-1").Body.String()
	if got := tableRows(t, body, "accounts", "/accounts/"); !equal(got, []string{accA, accB}) {
		t.Errorf("accounts of eu-1: %v", got)
	}
	for _, want := range []string{"Direct deposit switch succeeded: $150.00 of each paycheck to Checking ••6789", "Account added (not connected) on ADP; monitoring degraded", `sse-connect="/end-users/eu-1/live?after=`} {
		if !strings.Contains(body, want) {
			t.Errorf("end user page lacks %q", want)
		}
	}
	if rec := s.do(t, http.MethodGet, "/end-users/nobody", nil, cookie); rec.Code != http.StatusNotFound {
		t.Errorf("unknown end user: %d", rec.Code)
	}
}

func TestAccountShow_PanelsMaskingAndReveal(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	finishFetches(t, s, map[string]string{db.FetchIdentity: identitySnapshot, db.FetchDDAllocations: allocationsSnapshot})

	for _, role := range db.Roles {
		t.Run(role, func(t *testing.T) {
			cookie := s.login(t, role+"@example.com")
			body := get(t, s, cookie, "/accounts/"+accA).Body.String()
			for _, want := range []string{
				"Ash Userton", `<dd id="pii-dob">•••</dd>`, `<dd id="pii-ssn">•••</dd>`,
				"Reveal date of birth and SSN last four",
				"Checking ••6789", "$150.00", "Neobank ••83",
				"Direct deposit switch succeeded: $150.00 of each paycheck to Checking ••6789",
				"Identity data added", "Account connected on Workday; monitoring active",
				"<summary>Raw JSON</summary>", `"account_number"`[:0],
			} {
				if !strings.Contains(body, want) {
					t.Errorf("lacks %q", want)
				}
			}
			for _, leak := range []string{"1993-08-28", "4321"} {
				if strings.Contains(body, leak) {
					t.Errorf("leaks %q before Reveal", leak)
				}
			}
			if role == db.RoleAuditor {
				for _, leak := range []string{"ash@example.com", "5556789", "Pinwheel Drive", "540622601"} {
					if strings.Contains(body, leak) {
						t.Errorf("auditor sees %q", leak)
					}
				}
			} else if !strings.Contains(body, "ash@example.com") || !strings.Contains(body, "540622601") {
				t.Error("admin/operator should see emails and routing numbers")
			}

			rec := s.do(t, http.MethodPost, "/accounts/"+accA+"/reveal", url.Values{"fields": {db.PIIDateOfBirth, db.PIISSNLastFour}}, cookie)
			if rec.Code != http.StatusOK {
				t.Fatalf("reveal: %d %s", rec.Code, rec.Body.String())
			}
			rb := rec.Body.String()
			if !strings.Contains(rb, `<dd id="pii-dob">1993-08-28</dd>`) || !strings.Contains(rb, `<dd id="pii-ssn">4321</dd>`) {
				t.Error("reveal did not show the fields")
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("revealed page may be cached")
			}
			audits, _, err := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionPIIRevealed, Limit: 1})
			if err != nil || len(audits) == 0 || audits[0].ActorEmail != role+"@example.com" || audits[0].TargetID != accA ||
				audits[0].Detail != `{"fields":["date_of_birth","last_four_ssn"]}` {
				t.Errorf("audit row %+v %v", audits, err)
			}
			// The reveal is on the timeline as a staff action.
			if !strings.Contains(rb, "Revealed date of birth and SSN last four ("+role+"@example.com)") {
				t.Error("reveal not on the timeline")
			}
			if rec := s.do(t, http.MethodPost, "/accounts/"+accA+"/reveal", url.Values{"fields": {"emails"}}, cookie); rec.Code != http.StatusBadRequest {
				t.Errorf("reveal of another field: %d", rec.Code)
			}
		})
	}
	cookie := s.login(t, "admin@example.com")
	if rec := s.do(t, http.MethodGet, "/accounts/nope", nil, cookie); rec.Code != http.StatusNotFound {
		t.Errorf("unknown account: %d", rec.Code)
	}
	// Kind filter and the allocation history.
	body := get(t, s, cookie, "/accounts/"+accA+"?kind=staff").Body.String()
	if strings.Contains(body, "Identity data added") || !strings.Contains(body, "Revealed date of birth") {
		t.Error("kind=staff shows webhooks or hides staff actions")
	}
	if rec := s.do(t, http.MethodGet, "/accounts/"+accA+"?kind=bogus", nil, cookie); rec.Code != http.StatusBadRequest {
		t.Errorf("bad kind: %d", rec.Code)
	}
}

func TestAccountShow_TimelinePages(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	s.deliver(t, base, added("t-0", accA, "eu-1", "p-wd", "Workday", "active", true))
	for i := 1; i < 75; i++ { // 75 events over three days
		at := base.Add(time.Duration(i) * time.Hour)
		s.deliver(t, at, jobEvent(fmt.Sprintf("t-%d", i), "paystubs.added", accA, "eu-1", "success", at, `{"count": 2, "sync_status": "in_progress"}`))
	}
	cookie := s.login(t, "auditor@example.com")
	body := get(t, s, cookie, "/accounts/"+accA).Body.String()
	first := regexp.MustCompile(`id="tl-webhook-\d+"`).FindAllString(body, -1)
	if len(first) != 50 {
		t.Fatalf("first page: %d entries", len(first))
	}
	for _, want := range []string{"2 paystubs added (sync in progress)", "Monday 23 November 2026", "Sunday 22 November 2026", `rel="next"`} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %q", want)
		}
	}
	next := nextLink(body)
	body2 := get(t, s, cookie, next).Body.String()
	second := regexp.MustCompile(`id="tl-webhook-\d+"`).FindAllString(body2, -1)
	if len(second) != 25 || strings.Contains(body2, "/live?after=") || nextLink(body2) != "" {
		t.Errorf("second page: %d entries, live %v, next %q", len(second), strings.Contains(body2, "/live?after="), nextLink(body2))
	}
	if !strings.Contains(body2, "Account connected on Workday") {
		t.Error("the oldest entry is missing")
	}
}

func TestEvents_FiltersExportAndPages(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	base := seedBrowse(t, s)
	cookie := s.login(t, "auditor@example.com")
	from := base.Add(3 * time.Minute).Format("2006-01-02T15:04")
	to := base.Add(6 * time.Minute).Format("2006-01-02T15:04")
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"ev-a3", "ev-c2", "ev-a2", "ev-c1", "ev-b1", "ev-a1"}},
		{"?type=account.added", []string{"ev-c1", "ev-b1", "ev-a1"}},
		{"?outcome=error", []string{"ev-c2"}},
		{"?account=" + accA, []string{"ev-a3", "ev-a2", "ev-a1"}},
		{"?end_user=eu-2", []string{"ev-c2", "ev-c1"}},
		{"?link_token=tok-" + accC, []string{"ev-c2", "ev-c1"}},
		{"?status=duplicate", []string{"ev-a3"}},
		{"?status=accepted&type=income.added", []string{"ev-c2"}},
		{"?from=" + from + "&to=" + to, []string{"ev-c2", "ev-a2", "ev-c1"}},
		{"?account=nope", nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			body := get(t, s, cookie, "/events"+c.query).Body.String()
			got := tableRows(t, body, "events", "/events/")
			if !equal(got, c.want) {
				t.Errorf("rows %v, want %v", got, c.want)
			}
			// The CSV export of the same filter equals the list.
			csvRec := get(t, s, cookie, "/events/export.csv"+c.query)
			records, err := csv.NewReader(csvRec.Body).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var exported []string
			for _, r := range records[1:] {
				exported = append(exported, r[0])
			}
			if records[0][0] != "event_id" || !equal(exported, c.want) {
				t.Errorf("csv %v, want %v", exported, c.want)
			}
			// And so does the JSON Lines export.
			jl := get(t, s, cookie, "/events/export.jsonl"+c.query)
			var lines []string
			sc := bufio.NewScanner(jl.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var line struct {
					EventID string          `json:"event_id"`
					Body    json.RawMessage `json:"body"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("jsonl line %s: %v", sc.Text(), err)
				}
				if !json.Valid(line.Body) || len(line.Body) < 10 {
					t.Errorf("line %s has body %s", line.EventID, line.Body)
				}
				lines = append(lines, line.EventID)
			}
			if !equal(lines, c.want) {
				t.Errorf("jsonl %v, want %v", lines, c.want)
			}
		})
	}
	// Exports are audited with their filter.
	audits, _, err := s.store.ListAudit(context.Background(), db.AuditFilter{Action: db.ActionEventsExported, Limit: 1})
	if err != nil || len(audits) != 1 || audits[0].ActorEmail != "auditor@example.com" || !strings.Contains(audits[0].Detail, `"account":"nope"`) {
		t.Errorf("export audit %+v %v", audits, err)
	}
	if rec := s.do(t, http.MethodGet, "/events?status=rejected", nil, cookie); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/events/rejected" {
		t.Errorf("status=rejected: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec := s.do(t, http.MethodGet, "/events?outcome=maybe&from=yesterday", nil, cookie)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "Enter a date and time") {
		t.Errorf("bad filter: %d", rec.Code)
	}
	if rec := s.do(t, http.MethodGet, "/events/export.csv?outcome=maybe", nil, cookie); rec.Code != http.StatusBadRequest {
		t.Errorf("bad export filter: %d", rec.Code)
	}
}

func TestEventShow(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	// An event whose payload carries identity data and an account number.
	pii := `{"event_id": "ev-pii", "event": "identity.refreshed", "payload": {"account_id": "acc-aaaaaaaa-0001", "date_of_birth": "1993-08-28", "emails": ["ash@example.com"], "account_number": "000123456789", "note": "SSN 123-45-6789"}}`
	s.deliver(t, s.clk.now(), pii)
	for role, want := range map[string][]string{
		db.RoleAdmin:   {`"date_of_birth": "1993-08-28"`, `"ash@example.com"`, `"account_number": "••6789"`, `123-45-6789`},
		db.RoleAuditor: {`"date_of_birth": "•••"`, `"emails": [`, `"account_number": "••6789"`, `SSN •••-••-••••`},
	} {
		cookie := s.login(t, role+"@example.com")
		body := html.UnescapeString(get(t, s, cookie, "/events/ev-pii").Body.String())
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: lacks %q", role, w)
			}
		}
		if strings.Contains(body, "000123456789") {
			t.Errorf("%s sees the account number", role)
		}
		if role == db.RoleAuditor && (strings.Contains(body, "1993") || strings.Contains(body, "ash@example.com")) {
			t.Error("auditor sees identity PII")
		}
	}
	cookie := s.login(t, "operator@example.com")
	body := get(t, s, cookie, "/events/ev-a3").Body.String()
	for _, want := range []string{
		"Direct deposit switch succeeded: $150.00 of each paycheck to Checking ••6789",
		`<span class="badge duplicate">delivered more than once</span>`, "<dt>Deliveries</dt><dd>2 ",
		`<span class="badge ok">valid</span>`, "v2=", "420900d5-2ffb-4ad9-b2a6-38ef975f9b21", "2023-11-22",
		`href="/accounts/` + accA + `"`, `href="/end-users/eu-1"`, `href="/events?link_token=tok-` + accA + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("event page lacks %q", want)
		}
	}
	if rec := s.do(t, http.MethodGet, "/events/nope", nil, cookie); rec.Code != http.StatusNotFound {
		t.Errorf("unknown event: %d", rec.Code)
	}
	body = get(t, s, cookie, "/events/rejected?reason=bad_signature").Body.String()
	if !strings.Contains(body, `<span class="badge rejected">wrong signature</span> <small class="code">bad_signature</small>`) || !strings.Contains(body, "wrong signature (1)") {
		t.Error("rejections page lacks the rejection")
	}
	body = get(t, s, cookie, "/events/rejected?reason=stale_timestamp").Body.String()
	if !strings.Contains(body, "No rejected deliveries with this reason") {
		t.Error("rejections empty state")
	}
}

func TestSearch(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	cookie := s.login(t, "auditor@example.com")
	for q, loc := range map[string]string{
		accB:             "/accounts/" + accB,
		" eu-2 ":         "/end-users/eu-2",
		"ev-c2":          "/events/ev-c2",
		"tok-" + accA:    "/events?link_token=tok-" + accA,
		"workday":        "/accounts?platform=p-wd",
		"acc-cccccccc-0": "/accounts/" + accC, // a unique prefix
	} {
		rec := s.do(t, http.MethodGet, "/search?q="+url.QueryEscape(q), nil, cookie)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != loc {
			t.Errorf("search %q: %d %q, want 303 %q", q, rec.Code, rec.Header().Get("Location"), loc)
		}
	}
	body := get(t, s, cookie, "/search?q=acc-").Body.String()
	if strings.Contains(body, "search-results") {
		t.Error("a 4-character query matched as a prefix")
	}
	body = get(t, s, cookie, "/search?q=tok-acc").Body.String()
	if got := strings.Count(body, `href="/events?link_token=`); got != 3 {
		t.Errorf("several matches: %d", got)
	}
	if !strings.Contains(body, `value="tok-acc"`) {
		t.Error("the search box lost the query")
	}
	body = get(t, s, cookie, "/search?q=zzzzzzzzzz").Body.String()
	if !strings.Contains(body, "Nothing matches") {
		t.Error("no empty state")
	}
}

func TestLive_Fragment(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	cookie := s.login(t, "operator@example.com")
	body := get(t, s, cookie, "/accounts/"+accA).Body.String()
	m := regexp.MustCompile(`sse-connect="/accounts/` + accA + `/live\?after=([^"&]+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no live stream on the account page")
	}
	after := m[1]
	s.deliver(t, s.clk.now().Add(time.Minute), jobEvent("ev-a9", "income.added", accA, "eu-1", "error", s.clk.now(), ""))
	rec := get(t, s, cookie, "/accounts/"+accA+"/live?after="+after)
	if !strings.Contains(rec.Body.String(), "Income job failed: the payroll platform was unavailable") {
		t.Errorf("fragment: %s", rec.Body.String())
	}
	next := rec.Header().Get("X-Timeline-Cursor")
	if rec := get(t, s, cookie, "/accounts/"+accA+"/live?after="+next); strings.TrimSpace(rec.Body.String()) != "" {
		t.Errorf("second poll repeats: %s", rec.Body.String())
	}
	// kind=staff leaves the webhook out.
	if rec := get(t, s, cookie, "/accounts/"+accA+"/live?kind=staff&after="+after); strings.Contains(rec.Body.String(), "Income job failed") {
		t.Error("kind=staff streams webhooks")
	}
}

// TestLive_Stream opens the SSE stream over a real connection, posts a
// webhook, reads the entry, and checks that closing Done (server shutdown)
// ends the stream.
func TestLive_Stream(t *testing.T) {
	s := newServer(t, startAt(browseStart))
	seedBrowse(t, s)
	srv := httptest.NewServer(s)
	defer srv.Close()
	cookie := s.login(t, "auditor@example.com")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/end-users/eu-1/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	s.deliver(t, s.clk.now().Add(time.Minute), jobEvent("ev-live", "direct_deposit_switch.added", accB, "eu-1", "error", s.clk.now(), ""))
	var msg bytes.Buffer
	deadline := time.After(time.Minute)
	for !strings.Contains(msg.String(), "Direct deposit switch failed") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended: %s", msg.String())
			}
			msg.WriteString(l + "\n")
		case <-deadline:
			t.Fatalf("no entry within 10 s: %s", msg.String())
		}
	}
	if !strings.Contains(msg.String(), "event: entry\nid: e") || !strings.Contains(msg.String(), `data: <li class="entry webhook"`) {
		t.Errorf("message framing:\n%s", msg.String())
	}
	close(s.done)
	for {
		select {
		case _, ok := <-lines:
			if !ok {
				return // the server ended the stream
			}
		case <-deadline:
			t.Fatal("the stream did not end after shutdown")
		}
	}
}

// TestLive_AcrossInstances: two servers on one PostgreSQL database, as two
// Linkdesk instances behind a proxy; a live timeline open on one shows a
// webhook the other stored, told by LISTEN/NOTIFY: the stream's periodic
// re-read is a day away, and its instance's listener is connected (and its
// wake of connecting spent) before the stream opens, so only a
// notification can make it read. Then the listening backend is terminated:
// the listener connects again and the next webhook still arrives.
func TestLive_AcrossInstances(t *testing.T) {
	dsn := dbtest.Postgres(t)
	a := newServer(t, startAt(browseStart), onDatabase(dsn), liveReread(24*time.Hour))
	b := newServer(t, startAt(browseStart), onDatabase(dsn))
	seedBrowse(t, b)
	srv := httptest.NewServer(a)
	defer srv.Close()
	cookie := a.login(t, "auditor@example.com")

	// listening waits for a's listener to have connected n times.
	listening := func(n uint64) db.ListenerStats {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			st := a.store.ListenerStats()
			if st.Connected && st.Connects >= n {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("listener of instance a: %+v, want connection %d", st, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	_, stop := a.store.Subscribe(db.TopicLive) // starts the listener
	defer stop()
	first := listening(1)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/end-users/eu-1/live", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The stream is open once its retry line arrives; then the other
	// instance stores a webhook.
	for l := range lines {
		if strings.HasPrefix(l, "retry:") {
			break
		}
	}
	var msg strings.Builder
	// await reads the stream until it has carried n entries containing text.
	await := func(text string, n int) {
		t.Helper()
		for strings.Count(msg.String(), text) < n {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended: %s", msg.String())
				}
				msg.WriteString(l + "\n")
			case <-ctx.Done():
				t.Fatalf("the other instance's webhook never reached the stream (%q): %s", text, msg.String())
			}
		}
	}
	before := a.store.ListenerStats().Notifications
	b.deliver(t, b.clk.now().Add(time.Minute), jobEvent("ev-other", "direct_deposit_switch.added", accB, "eu-1", "error", b.clk.now(), ""))
	await("Direct deposit switch failed", 1)
	if n := a.store.ListenerStats().Notifications; n <= before {
		t.Errorf("instance a received %d notifications before the webhook and %d after", before, n)
	}

	// Cut the listening connection, as a database restart would.
	admin, err := db.Connect(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `SELECT pg_terminate_backend(?)`, first.PID); err != nil {
		t.Fatal(err)
	}
	if again := listening(2); again.PID == first.PID {
		t.Fatalf("the listener is still on backend %d", first.PID)
	}
	b.deliver(t, b.clk.now().Add(time.Minute), jobEvent("ev-other-2", "direct_deposit_switch.added", accB, "eu-1", "error", b.clk.now(), ""))
	await("event: entry", 2)

	// /metrics tells operators the same.
	reg := prometheus.NewRegistry()
	web.NewMetrics(reg, a.store)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		name := f.GetName()
		if m := f.GetMetric(); len(m) == 1 && (strings.HasPrefix(name, "linkdesk_db_listener") || name == "linkdesk_db_notifications_total") {
			got[name] = m[0].GetGauge().GetValue() + m[0].GetCounter().GetValue()
		}
	}
	if got["linkdesk_db_listener_up"] != 1 || got["linkdesk_db_listener_connects_total"] < 2 || got["linkdesk_db_notifications_total"] < 2 {
		t.Errorf("listener metrics: %v", got)
	}
}
