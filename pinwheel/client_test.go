package pinwheel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

const testSecret = "sk_test_0123"

// recorded is one request as the fake Pinwheel server saw it.
type recorded struct {
	Method string
	Path   string // escaped
	Query  url.Values
	Header http.Header
	Body   string
}

// harness is a fake Pinwheel API on loopback speaking the documented wire
// format, plus a client whose retry waits are recorded instead of slept.
type harness struct {
	srv    *httptest.Server
	client *pinwheel.Client

	mu    sync.Mutex
	reqs  []recorded
	waits []time.Duration
}

// newHarness starts a server whose handler gets each request and its
// 0-based index. cfg may set HTTPClient and MaxRetries; the rest is filled in.
func newHarness(t *testing.T, cfg pinwheel.Config, handle func(w http.ResponseWriter, r *http.Request, n int)) *harness {
	t.Helper()
	h := &harness{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, recorded{r.Method, r.URL.EscapedPath(), r.URL.Query(), r.Header.Clone(), string(body)})
		h.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(h.srv.Close)

	cfg.BaseURL = h.srv.URL + "/v1/"
	cfg.Secret = testSecret
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.waits = append(h.waits, d)
		return ctx.Err()
	}
	h.client = pinwheel.New(cfg)
	return h
}

func (h *harness) requests() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

func (h *harness) recordedWaits() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.waits...)
}

// reply writes a JSON response with Pinwheel's headers.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(pinwheel.HeaderRequestID, "req-123")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON got %s, want %s", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestClient_Calls(t *testing.T) {
	list := func(items ...string) string {
		return `{"data":[` + strings.Join(items, ",") + `],"meta":{"count":` + fmt.Sprint(len(items)) + `,"next_cursor":null}}`
	}
	one := func(item string) string { return `{"data":` + item + `}` }

	tests := []struct {
		name   string
		call   func(ctx context.Context, c *pinwheel.Client) (any, error)
		method string
		path   string
		query  string
		body   string // "" = no body expected
		status int
		resp   string
		check  func(t *testing.T, got any)
	}{
		{
			name: "create link token",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				return c.CreateLinkToken(ctx, pinwheel.LinkTokenCreate{
					OrgName:         "Report My Income",
					RequiredJobs:    []string{pinwheel.JobPaystubs},
					EndUserID:       "6a927ef1-6c91-43c9-abbe-6728dc8ef877",
					SkipIntroScreen: ptr(true),
					Language:        "en",
					EmployerID:      "5a8cfb92-3373-4e65-b41b-54e821e79671",
				})
			},
			method: "POST", path: "/v1/link_tokens", body: linkTokenRequestObserved,
			resp: linkTokenResponseObserved,
			check: func(t *testing.T, got any) {
				tok := got.(pinwheel.LinkToken)
				if tok.ID != "a63c75ef-3e91-4fff-8147-78cf7efeddd2" || tok.Mode != "sandbox" || tok.SmartBranchURL != nil {
					t.Errorf("got %+v", tok)
				}
				want := time.Date(2025, 6, 24, 23, 4, 28, 391042000, time.UTC)
				if !tok.Expires.Equal(want) {
					t.Errorf("expires got %v, want %v", tok.Expires, want)
				}
			},
		},
		{
			name:   "account escapes its id",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return c.Account(ctx, "a/b c?d") },
			method: "GET", path: "/v1/accounts/a%2Fb%20c%3Fd",
			resp: one(accountObserved),
			check: func(t *testing.T, got any) {
				a := got.(pinwheel.Account)
				if a.ID != "934f6406-c332-4c05-a3e8-6a90765c842d" || !a.Connected || a.MonitoringStatus != pinwheel.StatusActive {
					t.Errorf("got %+v", a)
				}
				if got := a.DataUpdatedAt[pinwheel.JobEmployment].String(); got != "2025-06-24T22:04:41.075640+00:00" {
					t.Errorf("data_updated_at.employment got %s", got)
				}
				if len(a.DataRefreshedAt) != 6 {
					t.Errorf("data_refreshed_at got %d keys, want 6", len(a.DataRefreshedAt))
				}
			},
		},
		{
			name: "accounts page with filter",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				as, _, err := c.AccountsPage(ctx, pinwheel.AccountsFilter{Connected: ptr(false), MonitoringStatus: "degraded", Limit: 50}, "cur 1")
				return as, err
			},
			method: "GET", path: "/v1/accounts", query: "connected=false&monitoring_status=degraded&limit=50&cursor=cur+1",
			resp: list(accountObserved),
			check: func(t *testing.T, got any) {
				if n := len(got.([]pinwheel.Account)); n != 1 {
					t.Errorf("got %d accounts, want 1", n)
				}
			},
		},
		{
			name: "identity",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				id, meta, err := c.Identity(ctx, "acc1")
				if err == nil && (meta.RefreshedAt == nil || meta.RefreshedAt.String() != "2025-06-24T22:04:34.548440+00:00") {
					return nil, fmt.Errorf("refreshed_at got %v", meta.RefreshedAt)
				}
				return id, err
			},
			method: "GET", path: "/v1/accounts/acc1/identity", resp: identityObserved,
			check: func(t *testing.T, got any) {
				id := got.(pinwheel.Identity)
				if id.FullName != "Ash Userton" || *id.LastFourSSN != "1234" || id.Address.Line2 != nil ||
					*id.Address.City != "New York City" || id.PhoneNumbers[0].Type != nil || id.Emails[0] != "user_good@example.com" {
					t.Errorf("got %+v", id)
				}
			},
		},
		{
			name: "employment",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				e, _, err := c.Employment(ctx, "acc1")
				return e, err
			},
			method: "GET", path: "/v1/accounts/acc1/employment", resp: employmentObserved,
			check: func(t *testing.T, got any) {
				e := got.(pinwheel.Employment)
				if e.EmployerName != "Acme Corporation" || *e.Status != "employed" || e.TerminationDate != nil ||
					e.Title != nil || *e.EmployerPhoneNumber.Type != "work" {
					t.Errorf("got %+v", e)
				}
			},
		},
		{
			name: "income",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				i, _, err := c.Income(ctx, "acc1")
				return i, err
			},
			method: "GET", path: "/v1/accounts/acc1/income", resp: incomeObserved,
			check: func(t *testing.T, got any) {
				i := got.(pinwheel.Income)
				if i.CompensationAmount != 1000 || i.CompensationUnit != "hourly" || *i.PayFrequency != "bi-weekly" {
					t.Errorf("got %+v", i)
				}
			},
		},
		{
			name: "direct deposit allocations",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				d, _, err := c.DirectDepositAllocations(ctx, "acc1")
				return d, err
			},
			method: "GET", path: "/v1/accounts/acc1/direct_deposit_allocations", resp: ddaSpec,
			check: func(t *testing.T, got any) {
				d := got.(pinwheel.DDAllocations)
				if len(d.Allocations) != 2 || *d.Allocations[0].Amount != 50000 || d.Allocations[1].Amount != nil ||
					d.Allocations[1].AllocationType != pinwheel.AllocationRemainder || *d.Allocations[1].Priority != 3 {
					t.Errorf("got %+v", d)
				}
			},
		},
		{
			name: "paystubs page",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				p, _, err := c.Paystubs(ctx, "acc1", pinwheel.PaystubsFilter{From: "2024-01-01", To: "2025-06-30", Limit: 100, Cursor: "gAAAA="})
				return p, err
			},
			method: "GET", path: "/v1/accounts/acc1/paystubs",
			query: "from_pay_date=2024-01-01&to_pay_date=2025-06-30&limit=100&cursor=gAAAA%3D",
			resp:  list(paystubObserved),
			check: func(t *testing.T, got any) {
				p := got.([]pinwheel.Paystub)[0]
				if p.GrossPayAmount != 50000 || p.NetPayAmount != 46000 || len(p.Taxes) != 4 || p.Taxes[1].Amount != 725 ||
					p.Deductions[0].Type != "unknown" || *p.Earnings[0].Hours != 10 || *p.TimeOff[1].UsedHours != 2 ||
					p.ExternalPaystubID != nil || *p.GrossPayYTD != 50000 || p.Document.ID == "" {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name:   "paystub",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return c.Paystub(ctx, "acc1", "ps/1") },
			method: "GET", path: "/v1/accounts/acc1/paystubs/ps%2F1", resp: one(paystubObserved),
			check: func(t *testing.T, got any) {
				if got.(pinwheel.Paystub).PayDate != "2025-06-24" {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "shifts page",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				s, _, err := c.Shifts(ctx, "acc1", pinwheel.ShiftsFilter{FromStartDate: "2025-01-01", ToEndDate: "2025-06-30", Limit: 2})
				return s, err
			},
			method: "GET", path: "/v1/accounts/acc1/shifts", query: "from_start_date=2025-01-01&to_end_date=2025-06-30&limit=2",
			resp: list(shiftObserved),
			check: func(t *testing.T, got any) {
				s := got.([]pinwheel.Shift)[0]
				wantFrom := time.Date(2025, 6, 24, 13, 0, 0, 0, time.UTC)
				if s.Type != "shift" || *s.Timezone != "America/New_York" || !s.Timestamps[0].From.Equal(wantFrom) || s.Earnings[0].Amount != 15000 {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name:   "webhooks",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return c.Webhooks(ctx) },
			method: "GET", path: "/v1/webhooks", resp: list(webhookSpec),
			check: func(t *testing.T, got any) {
				ws := got.([]pinwheel.Webhook)
				if len(ws) != 1 || ws[0].Version != "2023-04-18" || ws[0].EnabledEvents[1] != pinwheel.EventEmploymentAdded {
					t.Errorf("got %+v", ws)
				}
			},
		},
		{
			name:   "webhook",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return c.Webhook(ctx, "wh1") },
			method: "GET", path: "/v1/webhooks/wh1", resp: one(webhookSpec),
			check: func(t *testing.T, got any) {
				if got.(pinwheel.Webhook).ID != "ae0047bf-cd48-4f41-9fa2-2e578ca82969" {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "create webhook",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				return c.CreateWebhook(ctx, pinwheel.WebhookCreate{
					URL: "https://example.com/webhook_endpoint", Status: pinwheel.WebhookActive,
					EnabledEvents: []string{pinwheel.EventIncomeAdded, pinwheel.EventEmploymentAdded}, Version: "2023-04-18",
				})
			},
			method: "POST", path: "/v1/webhooks",
			body: `{"url":"https://example.com/webhook_endpoint","status":"active","enabled_events":["income.added","employment.added"],"version":"2023-04-18"}`,
			resp: one(webhookSpec),
		},
		{
			name: "update webhook",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				return c.UpdateWebhook(ctx, "wh1", pinwheel.WebhookUpdate{Status: ptr(pinwheel.WebhookPaused)})
			},
			method: "PUT", path: "/v1/webhooks/wh1", body: `{"status":"paused"}`, resp: one(webhookSpec),
		},
		{
			name:   "delete webhook",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return nil, c.DeleteWebhook(ctx, "wh1") },
			method: "DELETE", path: "/v1/webhooks/wh1", resp: `{}`,
		},
		{
			name: "platforms",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				var ps []pinwheel.Platform
				for p, err := range c.Platforms(ctx, pinwheel.PlatformsFilter{IncludeESPs: ptr(true), Type: pinwheel.PlatformPayroll, Limit: 5}) {
					if err != nil {
						return nil, err
					}
					ps = append(ps, p)
				}
				return ps, nil
			},
			method: "GET", path: "/v1/platforms", query: "include_esps=true&type=payroll&limit=5",
			resp: list(platformSample),
			check: func(t *testing.T, got any) {
				p := got.([]pinwheel.Platform)[0]
				if p.Name != "Workday" || p.SupportedJobs[2] != "company_census" || p.MinAmount != nil || *p.MaxPercentage != 100 ||
					p.LastUpdated.IsZero() {
					t.Errorf("got %+v", p)
				}
			},
		},
		{
			name:   "platform",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return c.Platform(ctx, "5965580e") },
			method: "GET", path: "/v1/platforms/5965580e", resp: one(platformSample),
		},
		{
			name: "jobs repeat array keys",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				var js []pinwheel.Job
				for j, err := range c.Jobs(ctx, pinwheel.JobsFilter{
					AccountID: "acc1", JobTypes: []string{pinwheel.JobIdentity, pinwheel.JobIncome}, Outcome: pinwheel.OutcomeError,
					From: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
				}) {
					if err != nil {
						return nil, err
					}
					js = append(js, j)
				}
				return js, nil
			},
			method: "GET", path: "/v1/jobs",
			query: "account_id=acc1&job_types=identity&job_types=income&outcome=error&from_timestamp=2025-06-01T00%3A00%3A00.000000%2B00%3A00",
			resp:  list(`{"id":"j1","name":"identity","timestamp":"2025-06-24T22:04:34.383896+00:00","outcome":"error","error_code":"accountLocked","error_type":"userActionRequired","link_token_id":"lt1","params":{}}`),
			check: func(t *testing.T, got any) {
				j := got.([]pinwheel.Job)[0]
				if *j.ErrorCode != "accountLocked" || j.Outcome != pinwheel.OutcomeError {
					t.Errorf("got %+v", j)
				}
			},
		},
		{
			name: "end user accounts",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				var as []pinwheel.Account
				for a, err := range c.EndUserAccounts(ctx, "user 1/x", 10) {
					if err != nil {
						return nil, err
					}
					as = append(as, a)
				}
				return as, nil
			},
			method: "GET", path: "/v1/end_users/user%201%2Fx/accounts", query: "limit=10", resp: list(accountObserved),
		},
		{
			name: "sandbox monitoring status",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				return c.SandboxSetMonitoringStatus(ctx, "acc1", pinwheel.StatusUserActionRequired)
			},
			method: "PATCH", path: "/v1/sandbox/accounts/acc1", body: `{"monitoring_status":"user_action_required"}`,
			resp: one(strings.Replace(accountObserved, `"active"`, `"user_action_required"`, 1)),
			check: func(t *testing.T, got any) {
				if s := got.(pinwheel.Account).MonitoringStatus; s != pinwheel.StatusUserActionRequired {
					t.Errorf("got %s", s)
				}
			},
		},
		{
			name: "disable monitoring",
			call: func(ctx context.Context, c *pinwheel.Client) (any, error) {
				return nil, c.DisableMonitoring(ctx, "acc1")
			},
			method: "POST", path: "/v1/accounts/acc1/disable_monitoring", status: http.StatusNoContent,
		},
		{
			name:   "disconnect",
			call:   func(ctx context.Context, c *pinwheel.Client) (any, error) { return nil, c.Disconnect(ctx, "acc1") },
			method: "POST", path: "/v1/accounts/acc1/disconnect", status: http.StatusNoContent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pinwheel.Config{Version: pinwheel.Version20250708}, func(w http.ResponseWriter, r *http.Request, n int) {
				status := tt.status
				if status == 0 {
					status = http.StatusOK
				}
				if status == http.StatusNoContent {
					w.WriteHeader(status)
					return
				}
				reply(w, status, tt.resp)
			})
			got, err := tt.call(t.Context(), h.client)
			if err != nil {
				t.Fatalf("call: %v", err)
			}

			reqs := h.requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path {
				t.Errorf("got %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			wantQuery, _ := url.ParseQuery(tt.query)
			if len(wantQuery) == 0 {
				wantQuery = url.Values{}
			}
			if !reflect.DeepEqual(r.Query, wantQuery) {
				t.Errorf("query got %v, want %v", r.Query, wantQuery)
			}
			if got := r.Header.Get("x-api-secret"); got != testSecret {
				t.Errorf("x-api-secret got %q, want %q", got, testSecret)
			}
			if got := r.Header.Get("Pinwheel-Version"); got != pinwheel.Version20250708 {
				t.Errorf("Pinwheel-Version got %q", got)
			}
			if got := r.Header.Get("Accept"); got != "application/json" {
				t.Errorf("Accept got %q", got)
			}
			wantCT := ""
			if tt.body != "" {
				wantCT = "application/json"
				jsonEqual(t, r.Body, tt.body)
			} else if r.Body != "" {
				t.Errorf("body got %q, want none", r.Body)
			}
			if got := r.Header.Get("Content-Type"); got != wantCT {
				t.Errorf("Content-Type got %q, want %q", got, wantCT)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func TestClient_DefaultVersion(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"data":`+accountObserved+`}`)
	})
	if _, err := h.client.Account(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if got := h.requests()[0].Header.Get(pinwheel.HeaderVersion); got != "2023-11-22" {
		t.Errorf("got %q, want 2023-11-22", got)
	}
}

// pagedAccounts serves accounts a1..a7 in pages of limit (3 pages for limit
// 3), with opaque cursors.
func pagedAccounts(w http.ResponseWriter, r *http.Request, _ int) {
	ids := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"}
	start := map[string]int{"": 0, "gAAAA-page2": 3, "gAAAA-page3": 6}[r.URL.Query().Get("cursor")]
	end := min(start+3, len(ids))
	var items []string
	for _, id := range ids[start:end] {
		items = append(items, strings.Replace(accountObserved, `"id":"934f6406-c332-4c05-a3e8-6a90765c842d"`, `"id":"`+id+`"`, 1))
	}
	next := "null"
	switch start {
	case 0:
		next = `"gAAAA-page2"`
	case 3:
		next = `"gAAAA-page3"`
	}
	reply(w, 200, fmt.Sprintf(`{"data":[%s],"meta":{"count":%d,"next_cursor":%s}}`, strings.Join(items, ","), len(items), next))
}

func TestClient_ListAccounts_ThreePages(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, pagedAccounts)
	var ids []string
	for a, err := range h.client.ListAccounts(t.Context(), pinwheel.AccountsFilter{Connected: ptr(true), Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	if want := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("got %v, want %v", ids, want)
	}
	reqs := h.requests()
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	for i, wantCursor := range []string{"", "gAAAA-page2", "gAAAA-page3"} {
		q := reqs[i].Query
		if q.Get("cursor") != wantCursor || q.Get("limit") != "3" || q.Get("connected") != "true" {
			t.Errorf("request %d query got %v, want cursor %q", i, q, wantCursor)
		}
	}
}

func TestClient_ListAccounts_StopEarly(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, pagedAccounts)
	n := 0
	for _, err := range h.client.ListAccounts(t.Context(), pinwheel.AccountsFilter{Limit: 3}) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 4 {
			break
		}
	}
	if got := len(h.requests()); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

func TestClient_AllPaystubs_Pages(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		next := `"c` + fmt.Sprint(n+1) + `"`
		if n == 2 {
			next = "null"
		}
		reply(w, 200, `{"data":[`+paystubObserved+`],"meta":{"refreshed_at":"2025-06-24T22:04:38.805798+00:00","count":1,"next_cursor":`+next+`}}`)
	})
	n := 0
	for _, err := range h.client.AllPaystubs(t.Context(), "acc1", pinwheel.PaystubsFilter{From: "2025-01-01", Cursor: "c0"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("got %d paystubs, want 3", n)
	}
	for i, r := range h.requests() {
		if want := fmt.Sprint("c", i); r.Query.Get("cursor") != want || r.Query.Get("from_pay_date") != "2025-01-01" {
			t.Errorf("request %d query got %v, want cursor %s", i, r.Query, want)
		}
	}
}

func TestClient_Pagination_RepeatedCursor(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"data":[`+webhookSpec+`],"meta":{"count":1,"next_cursor":"same"}}`)
	})
	_, err := h.client.Webhooks(t.Context())
	if err == nil {
		t.Fatal("got nil error, want a repeated-cursor error")
	}
	if got := len(h.requests()); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

func TestClient_Errors(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		wantType     string
		wantCode     string
		invalid      bool
		notFound     bool
		unauthorized bool
		rateLimited  bool
		server       bool
	}{
		{"validation", 400, errorRoutingNumber, pinwheel.TypeInvalidRequest, "INVALID_ROUTING_NUMBER", true, false, false, false, false},
		{"not found", 404, `{"error":{"type":"RECORD_NOT_FOUND","code":"ACCOUNT_NOT_FOUND","message":"Not found.","status_code":404}}`,
			pinwheel.TypeNotFound, "ACCOUNT_NOT_FOUND", false, true, false, false, false},
		{"unauthorized", 401, `{"error":{"type":"UNAUTHORIZED_REQUEST","code":"INVALID_API_SECRET","message":"Unauthorized.","status_code":401}}`,
			pinwheel.TypeUnauthorized, "INVALID_API_SECRET", false, false, true, false, false},
		{"forbidden without body", 403, ``, pinwheel.TypeUnknown, "", false, false, true, false, false},
		{"rate limited", 429, `{"error":{"type":"UNKNOWN_ERROR","code":"RATE_LIMITED","message":"Slow down.","status_code":429}}`,
			pinwheel.TypeUnknown, "RATE_LIMITED", false, false, false, true, false},
		{"server error html", 502, `<html><body>Bad Gateway</body></html>`, pinwheel.TypeUnknown, "", false, false, false, false, true},
		{"server error json", 500, `{"error":{"type":"UNKNOWN_ERROR","code":"INTERNAL","message":"Oops.","status_code":500}}`,
			pinwheel.TypeUnknown, "INTERNAL", false, false, false, false, true},
		{"error without type", 400, `{"error":{"code":"X"}}`, pinwheel.TypeUnknown, "X", true, false, false, false, false},
		{"error is a string", 404, `{"error":"nope"}`, pinwheel.TypeUnknown, "", false, true, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pinwheel.Config{MaxRetries: -1}, func(w http.ResponseWriter, r *http.Request, n int) {
				reply(w, tt.status, tt.body)
			})
			_, err := h.client.Account(t.Context(), "acc1")
			var e *pinwheel.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want *pinwheel.Error", err, err)
			}
			if e.Type != tt.wantType || e.Code != tt.wantCode || e.StatusCode != tt.status || e.RequestID != "req-123" {
				t.Errorf("got %+v, want type %s code %s status %d request id req-123", e, tt.wantType, tt.wantCode, tt.status)
			}
			if e.Message == "" {
				t.Error("got empty message")
			}
			wrapped := fmt.Errorf("handler: %w", err)
			checks := []struct {
				name string
				got  bool
				want bool
			}{
				{"IsInvalidRequest", pinwheel.IsInvalidRequest(wrapped), tt.invalid},
				{"IsNotFound", pinwheel.IsNotFound(wrapped), tt.notFound},
				{"IsUnauthorized", pinwheel.IsUnauthorized(wrapped), tt.unauthorized},
				{"IsRateLimited", pinwheel.IsRateLimited(wrapped), tt.rateLimited},
				{"IsServerError", pinwheel.IsServerError(wrapped), tt.server},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s got %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

func TestError_Fields(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 400, errorRoutingNumber)
	})
	_, err := h.client.CreateLinkToken(t.Context(), pinwheel.LinkTokenCreate{OrgName: "Linkdesk"})
	var e *pinwheel.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *pinwheel.Error", err)
	}
	want := []pinwheel.FieldError{{Name: "routing_number", Message: "Provided value doesn't match valid format."}}
	if !reflect.DeepEqual(e.Fields, want) {
		t.Errorf("fields got %+v, want %+v", e.Fields, want)
	}
	msg := err.Error()
	for _, s := range []string{"400", "INVALID_ROUTING_NUMBER", "routing_number", "req-123"} {
		if !strings.Contains(msg, s) {
			t.Errorf("Error() %q lacks %q", msg, s)
		}
	}
	if got := len(h.requests()); got != 1 {
		t.Errorf("got %d requests, want 1 (a 400 is never retried)", got)
	}
}

func TestHelpers_OnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), &pinwheel.TransportError{Op: "GET /a", Err: io.EOF}} {
		if pinwheel.IsNotFound(err) || pinwheel.IsServerError(err) || pinwheel.IsRateLimited(err) ||
			pinwheel.IsUnauthorized(err) || pinwheel.IsInvalidRequest(err) {
			t.Errorf("helper matched %v", err)
		}
	}
}

func TestClient_RetriesHonourRetryAfter(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 0:
			w.Header().Set("Retry-After", "2")
			reply(w, 429, `{"error":{"type":"UNKNOWN_ERROR","code":"RATE_LIMITED","message":"Too many.","status_code":429}}`)
		case 1:
			w.Header().Set("Retry-After", time.Now().Add(4*time.Second).UTC().Format(http.TimeFormat))
			reply(w, 503, `upstream unavailable`)
		case 2:
			reply(w, 500, `{"error":{"type":"UNKNOWN_ERROR","code":"INTERNAL","message":"Oops.","status_code":500}}`)
		default:
			reply(w, 200, `{"data":`+accountObserved+`}`)
		}
	})
	a, err := h.client.Account(t.Context(), "acc1")
	if err != nil {
		t.Fatal(err)
	}
	if a.PlatformID == "" {
		t.Error("got empty account")
	}
	if got := len(h.requests()); got != 4 {
		t.Fatalf("got %d requests, want 4", got)
	}
	waits := h.recordedWaits()
	if len(waits) != 3 {
		t.Fatalf("got waits %v, want 3", waits)
	}
	if waits[0] != 2*time.Second {
		t.Errorf("wait 0 got %v, want 2s (Retry-After seconds)", waits[0])
	}
	// An HTTP date has one-second resolution, so 4 s ahead is 3–4 s away.
	if waits[1] < 3*time.Second || waits[1] > 4*time.Second {
		t.Errorf("wait 1 got %v, want 3s–4s (Retry-After date)", waits[1])
	}
	// No Retry-After on the third failure: backoff for retry #2 is
	// 800 ms with equal jitter, so 400–800 ms.
	if waits[2] < 400*time.Millisecond || waits[2] > 800*time.Millisecond {
		t.Errorf("wait 2 got %v, want 400ms–800ms", waits[2])
	}
}

func TestClient_RetryGivesUpAfterMaxRetries(t *testing.T) {
	h := newHarness(t, pinwheel.Config{MaxRetries: 2}, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 503, `{"error":{"type":"UNKNOWN_ERROR","code":"UNAVAILABLE","message":"Down.","status_code":503}}`)
	})
	_, _, err := h.client.Identity(t.Context(), "acc1")
	if !pinwheel.IsServerError(err) {
		t.Fatalf("got %v, want a server error", err)
	}
	if got := len(h.requests()); got != 3 {
		t.Errorf("got %d requests, want 3", got)
	}
	waits := h.recordedWaits()
	if len(waits) != 2 || waits[0] < 100*time.Millisecond || waits[0] > 200*time.Millisecond ||
		waits[1] < 200*time.Millisecond || waits[1] > 400*time.Millisecond {
		t.Errorf("got waits %v, want [100–200ms, 200–400ms]", waits)
	}
}

func TestClient_PutRetriedPostNot(t *testing.T) {
	fail := func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			reply(w, 500, `{"error":{"type":"UNKNOWN_ERROR","code":"X","message":"x","status_code":500}}`)
			return
		}
		reply(w, 200, `{"data":`+webhookSpec+`}`)
	}
	t.Run("put", func(t *testing.T) {
		h := newHarness(t, pinwheel.Config{}, fail)
		if _, err := h.client.UpdateWebhook(t.Context(), "wh1", pinwheel.WebhookUpdate{URL: ptr("https://x.example")}); err != nil {
			t.Fatal(err)
		}
		reqs := h.requests()
		if len(reqs) != 2 || reqs[1].Body != reqs[0].Body || reqs[1].Body == "" {
			t.Errorf("got %d requests (%v), want 2 with the same body", len(reqs), reqs)
		}
	})
	for _, tt := range []struct {
		name string
		call func(context.Context, *pinwheel.Client) error
	}{
		{"create webhook", func(ctx context.Context, c *pinwheel.Client) error {
			_, err := c.CreateWebhook(ctx, pinwheel.WebhookCreate{URL: "https://x.example"})
			return err
		}},
		{"create link token", func(ctx context.Context, c *pinwheel.Client) error {
			_, err := c.CreateLinkToken(ctx, pinwheel.LinkTokenCreate{OrgName: "Linkdesk"})
			return err
		}},
		{"sandbox patch", func(ctx context.Context, c *pinwheel.Client) error {
			_, err := c.SandboxSetMonitoringStatus(ctx, "acc1", pinwheel.StatusUserActionRequired)
			return err
		}},
		{"delete webhook", func(ctx context.Context, c *pinwheel.Client) error {
			return c.DeleteWebhook(ctx, "wh1")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, pinwheel.Config{}, fail)
			if err := tt.call(t.Context(), h.client); !pinwheel.IsServerError(err) {
				t.Fatalf("got %v, want the 500", err)
			}
			if got := len(h.requests()); got != 1 {
				t.Errorf("got %d requests, want 1", got)
			}
		})
	}
}

// A 429 turns a request away before any work, so even a POST is retried
// after the server's Retry-After.
func TestClient_PostRetriedAfter429(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			reply(w, 429, `{"error":{"type":"UNKNOWN_ERROR","code":"EMULATOR_RATE_LIMITED","message":"Later.","status_code":429}}`)
			return
		}
		reply(w, 200, linkTokenResponseObserved)
	})
	tok, err := h.client.CreateLinkToken(t.Context(), pinwheel.LinkTokenCreate{OrgName: "Linkdesk", RequiredJobs: []string{"paystubs"}, EndUserID: "u1"})
	if err != nil || tok.ID == "" {
		t.Fatalf("got %+v, %v", tok, err)
	}
	reqs := h.requests()
	if len(reqs) != 2 || reqs[0].Body != reqs[1].Body {
		t.Errorf("got %d requests, want 2 with the same body", len(reqs))
	}
	if w := h.recordedWaits(); len(w) != 1 || w[0] != time.Second {
		t.Errorf("got waits %v, want [1s]", w)
	}
}

func TestClient_CreateLinkToken_NoRetryAfterTimeout(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, pinwheel.Config{HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}},
		func(w http.ResponseWriter, r *http.Request, n int) {
			// Hang until the client gives up (its connection closes) or the test ends.
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
	defer close(release)

	_, err := h.client.CreateLinkToken(t.Context(), pinwheel.LinkTokenCreate{OrgName: "Linkdesk", RequiredJobs: []string{"paystubs"}, EndUserID: "u1"})
	var te *pinwheel.TransportError
	if !errors.As(err, &te) {
		t.Fatalf("got %T %v, want *pinwheel.TransportError", err, err)
	}
	if te.NeverSent {
		t.Error("NeverSent got true after a timeout, want false")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("got %v, want a timeout", err)
	}
	if got := len(h.requests()); got != 1 {
		t.Errorf("server got %d requests, want exactly 1", got)
	}
	if w := h.recordedWaits(); len(w) != 0 {
		t.Errorf("got waits %v, want none", w)
	}
}

func TestClient_GetRetriedAfterTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newHarness(t, pinwheel.Config{HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}},
		func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 0 {
				select {
				case <-r.Context().Done():
				case <-release:
				}
				return
			}
			reply(w, 200, `{"data":`+accountObserved+`}`)
		})
	if _, err := h.client.Account(t.Context(), "acc1"); err != nil {
		t.Fatal(err)
	}
	if got := len(h.requests()); got != 2 {
		t.Errorf("got %d requests, want 2", got)
	}
}

// flakyDialer fails its first dial the way a refused connection does, then
// dials for real.
type flakyDialer struct {
	failures atomic.Int32
	fail     int32
	err      error
}

func (d *flakyDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.failures.Add(1) <= d.fail {
		return nil, d.err
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func TestClient_CreateLinkToken_RetriedWhenNeverSent(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}},
		{"dns failure", &net.DNSError{Err: "no such host", Name: "api.example", IsNotFound: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &flakyDialer{fail: 1, err: tt.err}
			client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
			h := newHarness(t, pinwheel.Config{HTTPClient: client}, func(w http.ResponseWriter, r *http.Request, n int) {
				reply(w, 200, linkTokenResponseObserved)
			})
			tok, err := h.client.CreateLinkToken(t.Context(), pinwheel.LinkTokenCreate{OrgName: "Linkdesk", RequiredJobs: []string{"paystubs"}, EndUserID: "u1"})
			if err != nil {
				t.Fatal(err)
			}
			if tok.ID == "" {
				t.Error("got empty token")
			}
			if got := d.failures.Load(); got != 2 {
				t.Errorf("got %d dials, want 2", got)
			}
			if got := len(h.requests()); got != 1 {
				t.Errorf("server got %d requests, want 1", got)
			}
			if got := len(h.recordedWaits()); got != 1 {
				t.Errorf("got %d waits, want 1", got)
			}
		})
	}
}

func TestClient_ConnectionRefused_IsNeverSent(t *testing.T) {
	// A port that was just closed refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var waits []time.Duration
	c := pinwheel.New(pinwheel.Config{
		BaseURL: "http://" + addr + "/v1", Secret: testSecret, MaxRetries: 2,
		Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil },
	})
	_, err = c.CreateLinkToken(t.Context(), pinwheel.LinkTokenCreate{OrgName: "Linkdesk"})
	var te *pinwheel.TransportError
	if !errors.As(err, &te) || !te.NeverSent {
		t.Fatalf("got %#v, want a *TransportError with NeverSent", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("got %v, want ECONNREFUSED in the chain", err)
	}
	if len(waits) != 2 {
		t.Errorf("got %d waits, want 2 (every retry used)", len(waits))
	}
}

func TestClient_RetryNeverSleepsPastDeadline(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "30")
		reply(w, 503, `{"error":{"type":"UNKNOWN_ERROR","code":"UNAVAILABLE","message":"Down.","status_code":503}}`)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := h.client.Account(ctx, "acc1")
	var e *pinwheel.Error
	if !errors.As(err, &e) || e.StatusCode != 503 || e.RetryAfter != 30*time.Second {
		t.Fatalf("got %v, want the 503 with RetryAfter 30s", err)
	}
	if got := len(h.requests()); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
	if w := h.recordedWaits(); len(w) != 0 {
		t.Errorf("got waits %v, want none", w)
	}
}

func TestClient_LongRetryAfterReturned(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "3600")
		reply(w, 429, `{"error":{"type":"UNKNOWN_ERROR","code":"RATE_LIMITED","message":"Later.","status_code":429}}`)
	})
	_, err := h.client.Account(t.Context(), "acc1")
	if !pinwheel.IsRateLimited(err) {
		t.Fatalf("got %v, want rate limited", err)
	}
	if got := len(h.requests()); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
}

func TestClient_ContextCancelledDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		reply(w, 500, `{}`)
	}))
	defer srv.Close()
	c := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/v1", Secret: testSecret,
		Sleep: func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }})
	_, err := c.Account(ctx, "acc1")
	if !pinwheel.IsServerError(err) {
		t.Fatalf("got %v, want the last server error", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
}

func TestClient_ContextDeadlineDuringRequest(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := h.client.Account(ctx, "acc1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded in the chain", err)
	}
	if got := len(h.requests()); got != 1 {
		t.Errorf("got %d requests, want 1", got)
	}
	if w := h.recordedWaits(); len(w) != 0 {
		t.Errorf("got waits %v, want none", w)
	}
}

func TestClient_RealSleepStopsAtDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "600")
		reply(w, 503, `{}`)
	}))
	defer srv.Close()
	c := pinwheel.New(pinwheel.Config{BaseURL: srv.URL + "/v1", Secret: testSecret})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.Account(ctx, "acc1")
	if !pinwheel.IsServerError(err) {
		t.Fatalf("got %v, want the 503", err)
	}
	// Waiting 10 minutes would outlive the 1-minute deadline, so the client must return
	// at once: the context is still alive when it does.
	if ctx.Err() != nil {
		t.Errorf("returned after the deadline (%v), want an immediate return", ctx.Err())
	}
}

func TestClient_BadSuccessBodies(t *testing.T) {
	for _, body := range []string{``, `not json`, `{}`, `{"data":null}`, `{"data":"string"}`, `{"data":[1,2]}`, `[]`} {
		t.Run(body, func(t *testing.T) {
			h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
				reply(w, 200, body)
			})
			if _, err := h.client.Account(t.Context(), "acc1"); err == nil {
				t.Error("got nil error")
			}
			if got := len(h.requests()); got != 1 {
				t.Errorf("got %d requests, want 1 (bad bodies are not retried)", got)
			}
		})
	}
}

func TestClient_LenientDecoding(t *testing.T) {
	body := `{"data":{"id":"acc9","created_at":"2025-06-24 22:04:33+00:00","platform_id":"p1","connected":false,
		"monitoring_status":"brand_new_status","data_updated_at":{"identity":null,"new_product":"2025-06-24T22:04:34Z"},
		"data_refreshed_at":{},"tags":{"team":"a"},"unexpected":{"nested":[1,2,3]},"link_token_id":null},
		"meta":{"new_meta":true},"extra":1}`
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) { reply(w, 200, body) })
	a, err := h.client.Account(t.Context(), "acc9")
	if err != nil {
		t.Fatal(err)
	}
	if a.MonitoringStatus != "brand_new_status" || a.Tags["team"] != "a" || a.LinkTokenID != "" {
		t.Errorf("got %+v", a)
	}
	if !a.DataUpdatedAt["identity"].IsZero() || a.DataUpdatedAt["new_product"].IsZero() {
		t.Errorf("data_updated_at got %v", a.DataUpdatedAt)
	}
	if want := time.Date(2025, 6, 24, 22, 4, 33, 0, time.UTC); !a.CreatedAt.Equal(want) {
		t.Errorf("created_at got %v, want %v", a.CreatedAt, want)
	}
}

// PaystubPages and ShiftPages yield whole pages with their meta and keep
// each item as sent (a null amount stays null), following cursors from the
// filter's.
func TestClient_RawPages(t *testing.T) {
	h := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		next := `"c` + fmt.Sprint(n+1) + `"`
		if n == 1 {
			next = "null"
		}
		item := paystubObserved
		if strings.HasSuffix(r.URL.Path, "/shifts") {
			item = shiftObserved
		}
		if n == 1 {
			item = `{"id":"x","gross_pay_amount":null}`
		}
		reply(w, 200, `{"data":[`+item+`],"meta":{"refreshed_at":"2025-06-24T22:04:38.805798+00:00","count":1,"next_cursor":`+next+`}}`)
	})
	var got []string
	for page, err := range h.client.PaystubPages(t.Context(), "acc1", pinwheel.PaystubsFilter{From: "2025-01-01", Limit: 100, Cursor: "c0"}) {
		if err != nil {
			t.Fatal(err)
		}
		if page.Meta.RefreshedAt == nil || len(page.Items) != 1 {
			t.Fatalf("page %+v", page)
		}
		got = append(got, string(page.Items[0]))
	}
	if len(got) != 2 || got[1] != `{"id":"x","gross_pay_amount":null}` {
		t.Errorf("items %q", got)
	}
	for i, r := range h.requests() {
		if want := fmt.Sprint("c", i); r.Query.Get("cursor") != want || r.Query.Get("limit") != "100" || r.Query.Get("from_pay_date") != "2025-01-01" {
			t.Errorf("request %d query %v, want cursor %s", i, r.Query, want)
		}
	}

	h2 := newHarness(t, pinwheel.Config{}, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, `{"data":[`+shiftObserved+`],"meta":{"count":1,"next_cursor":null}}`)
	})
	n := 0
	for page, err := range h2.client.ShiftPages(t.Context(), "acc1", pinwheel.ShiftsFilter{FromEndDate: "2025-01-01", Limit: 50}) {
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Items)
	}
	if r := h2.requests(); n != 1 || len(r) != 1 || r[0].Query.Get("from_end_date") != "2025-01-01" || r[0].Query.Get("cursor") != "" {
		t.Errorf("shift pages: %d items, requests %+v", n, r)
	}
	m := 0
	for s, err := range h2.client.AllShifts(t.Context(), "acc1", pinwheel.ShiftsFilter{}) {
		if err != nil || s.ID == "" {
			t.Fatalf("AllShifts: %+v %v", s, err)
		}
		m++
	}
	if m != 1 {
		t.Errorf("AllShifts: %d", m)
	}
}
