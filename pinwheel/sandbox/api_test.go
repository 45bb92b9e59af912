package sandbox_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestAPI_Auth(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, secret string
	}{
		{"missing secret", ""},
		{"wrong secret", "not-the-secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("GET", "/v1/accounts", nil, pinwheel.HeaderAPISecret, tc.secret)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			pe := r.apiError(t)
			if pe.Type != "UNAUTHORIZED_REQUEST" || pe.StatusCode != 401 {
				t.Errorf("got %+v, want UNAUTHORIZED_REQUEST 401", pe)
			}
		})
	}
}

func TestAPI_Headers(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	for _, v := range []string{pinwheel.Version20231122, pinwheel.Version20250708} {
		r := e.mustOK("GET", "/v1/accounts", nil, pinwheel.HeaderVersion, v)
		if got := r.Header.Get(pinwheel.HeaderVersion); got != v {
			t.Errorf("Pinwheel-Version echo %q, want %q", got, v)
		}
		id := r.Header.Get(pinwheel.HeaderRequestID)
		if !uuidRE.MatchString(id) || seen[id] {
			t.Errorf("X-Pinwheel-Request-Id %q not a fresh uuid", id)
		}
		seen[id] = true
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	// Errors carry a request id too.
	r := e.call("GET", "/v1/accounts", nil, pinwheel.HeaderAPISecret, "")
	if !uuidRE.MatchString(r.Header.Get(pinwheel.HeaderRequestID)) {
		t.Errorf("error response without request id")
	}
}

func TestAPI_Version(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, version string }{
		{"missing", ""},
		{"unknown", "2020-01-01"},
		{"garbage", "latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("GET", "/v1/accounts", nil, pinwheel.HeaderVersion, tc.version)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			pe := r.apiError(t)
			if pe.Type != "INVALID_REQUEST_PARAMETERS" || len(pe.Fields) == 0 || pe.Fields[0].Name != "Pinwheel-Version" {
				t.Errorf("got %+v", pe)
			}
		})
	}
	// Every known version is accepted.
	for _, v := range pinwheel.KnownVersions {
		e.mustOK("GET", "/v1/platforms", nil, pinwheel.HeaderVersion, v)
	}
}

func TestAPI_UnknownRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.call("GET", "/v1/nothing/here", nil)
	if r.Status != http.StatusNotFound || r.apiError(t).Type != "RECORD_NOT_FOUND" {
		t.Errorf("unknown route: %d %s", r.Status, r.Body)
	}
	r = e.call("DELETE", "/v1/link_tokens", nil)
	if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
		t.Errorf("wrong method: %d allow=%q %s", r.Status, r.Header.Get("Allow"), r.Body)
	}
	r.apiError(t)
	r = e.call("GET", "/nothing", nil)
	if r.Status != http.StatusNotFound || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown non-API path: %d %s", r.Status, r.Body)
	}
	r.apiError(t)
}

func TestAPI_AccountNotFound(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/v1/accounts/00000000-0000-4000-8000-000000000000",
		"/v1/accounts/00000000-0000-4000-8000-000000000000/identity",
		"/v1/accounts/00000000-0000-4000-8000-000000000000/paystubs",
		"/v1/accounts/not-a-uuid/direct_deposit_allocations",
	} {
		r := e.call("GET", path, nil)
		if r.Status != http.StatusNotFound {
			t.Errorf("%s: status %d", path, r.Status)
			continue
		}
		if pe := r.apiError(t); pe.Type != "RECORD_NOT_FOUND" || pe.StatusCode != 404 {
			t.Errorf("%s: %+v", path, pe)
		}
	}
	r := e.call("POST", "/v1/link_tokens", map[string]any{"org_name": "Linkdesk",
		"account_id": "00000000-0000-4000-8000-000000000000"})
	if r.Status != http.StatusNotFound || r.apiError(t).Type != "RECORD_NOT_FOUND" {
		t.Errorf("link token with unknown account: %d %s", r.Status, r.Body)
	}
}

func TestLinkToken_Validation(t *testing.T) {
	e := newEnv(t)
	target := map[string]any{"name": "My Checking", "type": "checking", "routing_number": "021000021", "account_number": "5675249802"}
	with := func(base map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(out, kv[i].(string))
			} else {
				out[kv[i].(string)] = kv[i+1]
			}
		}
		return out
	}
	v23 := map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"paystubs"}, "end_user_id": "u1"}
	v25 := map[string]any{"org_name": "Linkdesk", "solution": "Verify", "features": []string{"paystubs"}, "end_user_id": "u1"}
	badTarget := func(k, v string) map[string]any {
		tg := with(target, k, v)
		return map[string]any{"targets": []any{tg}}
	}
	for _, tc := range []struct {
		name    string
		version string
		body    any
		code    string
		field   string
	}{
		{"2023 missing required_jobs", "2023-11-22", with(v23, "required_jobs", nil), "INVALID_REQUEST_PARAMETERS", "required_jobs"},
		{"2023 rejects features", "2023-11-22", with(v23, "features", []string{"paystubs"}), "INVALID_REQUEST_PARAMETERS", "features"},
		{"2023 unknown job", "2023-11-22", with(v23, "required_jobs", []string{"bill_switch"}), "INVALID_REQUEST_PARAMETERS", "required_jobs"},
		{"2025 missing solution", "2025-07-08", with(v25, "solution", nil), "INVALID_REQUEST_PARAMETERS", "solution"},
		{"2025 bad solution", "2025-07-08", with(v25, "solution", "DepositSwitch"), "INVALID_REQUEST_PARAMETERS", "solution"},
		{"2025 missing features", "2025-07-08", with(v25, "features", nil), "INVALID_REQUEST_PARAMETERS", "features"},
		{"2025 rejects required_jobs", "2025-07-08", with(v25, "required_jobs", []string{"paystubs"}), "INVALID_REQUEST_PARAMETERS", "required_jobs"},
		{"org_name missing", "2023-11-22", with(v23, "org_name", nil), "INVALID_REQUEST_PARAMETERS", "org_name"},
		{"org_name too short", "2023-11-22", with(v23, "org_name", "ab"), "INVALID_REQUEST_PARAMETERS", "org_name"},
		{"org_name too long", "2023-11-22", with(v23, "org_name", strings.Repeat("x", 31)), "INVALID_REQUEST_PARAMETERS", "org_name"},
		{"end_user_id missing", "2023-11-22", with(v23, "end_user_id", nil), "INVALID_REQUEST_PARAMETERS", "end_user_id"},
		{"end_user_id blank", "2023-11-22", with(v23, "end_user_id", "   "), "INVALID_REQUEST_PARAMETERS", "end_user_id"},
		{"bad language", "2023-11-22", with(v23, "language", "fr"), "INVALID_REQUEST_PARAMETERS", "language"},
		{"bad platform_type", "2023-11-22", with(v23, "platform_type", "merchant"), "INVALID_REQUEST_PARAMETERS", "platform_type"},
		{"bad employer uuid", "2023-11-22", with(v23, "employer_id", "acme"), "INVALID_REQUEST_PARAMETERS", "employer_id"},
		{"bad routing number", "2023-11-22", with(v23, "allocation", badTarget("routing_number", "12345")), "INVALID_ROUTING_NUMBER", "routing_number"},
		{"routing number letters", "2023-11-22", with(v23, "allocation", badTarget("routing_number", "02100002A")), "INVALID_ROUTING_NUMBER", "routing_number"},
		{"account number letters", "2023-11-22", with(v23, "allocation", badTarget("account_number", "12AB567")), "EMULATOR_INVALID_ACCOUNT_NUMBER", "account_number"},
		{"2023 account number too short", "2023-11-22", with(v23, "allocation", badTarget("account_number", "12345")), "EMULATOR_INVALID_ACCOUNT_NUMBER", "account_number"},
		{"target type", "2023-11-22", with(v23, "allocation", badTarget("type", "brokerage")), "INVALID_REQUEST_PARAMETERS", "type"},
		{"dds target needs routing", "2023-11-22", with(v23, "required_jobs", []string{"direct_deposit_switch"},
			"allocation", map[string]any{"targets": []any{with(target, "routing_number", nil)}}), "INVALID_ROUTING_NUMBER", "routing_number"},
		{"amount without value", "2023-11-22", with(v23, "allocation", map[string]any{"type": "amount"}), "INVALID_REQUEST_PARAMETERS", "value"},
		{"amount below min", "2023-11-22", with(v23, "allocation", map[string]any{"type": "amount", "value": 10, "min_amount": 20}), "INVALID_REQUEST_PARAMETERS", "value"},
		{"wrong type", "2023-11-22", with(v23, "org_name", 42), "INVALID_REQUEST_PARAMETERS", "org_name"},
		{"malformed JSON", "2023-11-22", `{"org_name": "Linkdesk",`, "EMULATOR_INVALID_JSON_BODY", "body"},
		{"not an object", "2023-11-22", `[1, 2]`, "EMULATOR_INVALID_JSON_BODY", "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", "/v1/link_tokens", tc.body, pinwheel.HeaderVersion, tc.version)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			pe := r.apiError(t)
			code := tc.code
			if code == "INVALID_REQUEST_PARAMETERS" {
				code = "EMULATOR_VALIDATION_ERROR"
			}
			if pe.Type != "INVALID_REQUEST_PARAMETERS" || pe.Code != code || pe.StatusCode != 400 {
				t.Errorf("got type %s code %s, want code %s", pe.Type, pe.Code, tc.code)
			}
			if !slices.ContainsFunc(pe.Fields, func(f pinwheel.FieldError) bool { return f.Name == tc.field }) {
				t.Errorf("fields %+v lack %q", pe.Fields, tc.field)
			}
		})
	}

	// The documented example: routing number error, exact envelope shape.
	r := e.call("POST", "/v1/link_tokens", with(v23, "allocation", badTarget("routing_number", "1")))
	var raw map[string]map[string]any
	r.decode(t, &raw)
	for _, k := range []string{"type", "code", "message", "status_code", "fields"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("envelope lacks %q: %s", k, r.Body)
		}
	}

	// Valid requests of both versions pass, an ODU token needs no jobs.
	e.mustOK("POST", "/v1/link_tokens", v23)
	e.mustOK("POST", "/v1/link_tokens", v25, pinwheel.HeaderVersion, "2025-07-08")
	e.mustOK("POST", "/v1/link_tokens", with(v23, "required_jobs", []string{"direct_deposit_switch"},
		"allocation", map[string]any{"type": "amount", "value": 123.45, "min_amount": 50, "targets": []any{target}}))
}

func TestLinkToken_Shape(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	r := e.mustOK("POST", "/v1/link_tokens", map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"paystubs"},
		"end_user_id": "user-1"})
	var raw map[string]map[string]any
	r.decode(t, &raw)
	data := raw["data"]
	if v, ok := data["smart_branch_url"]; !ok || v != nil {
		t.Errorf("smart_branch_url must be present and null: %s", r.Body)
	}
	if data["mode"] != "sandbox" || !uuidRE.MatchString(fmt.Sprint(data["id"])) {
		t.Errorf("mode/id: %s", r.Body)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$`).MatchString(fmt.Sprint(data["expires"])) {
		t.Errorf("expires format: %v", data["expires"])
	}
	var tok pinwheel.Response[pinwheel.LinkToken]
	r.decode(t, &tok)
	if d := tok.Data.Expires.Sub(now.Add(time.Hour)); d < -time.Second || d > time.Second {
		t.Errorf("expires %v, want now+1h (%v)", tok.Data.Expires, now.Add(time.Hour))
	}
	parts := strings.Split(tok.Data.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header, claims map[string]any
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	if header["alg"] != "HS256" || header["typ"] != "JWT" {
		t.Errorf("header %v", header)
	}
	if claims["exp"].(float64)-claims["iat"].(float64) != 3600 {
		t.Errorf("claims %v", claims)
	}
	d := claims["data"].(map[string]any)
	if d["token_id"] != tok.Data.ID || d["end_user_id"] != "user-1" || d["org_name"] != "Linkdesk" {
		t.Errorf("claims data %v", d)
	}
}

func TestAPI_Pagination(t *testing.T) {
	e := newEnv(t)
	const n = 12
	var ids []string
	for i := range n {
		ids = append(ids, e.connect(fmt.Sprintf("end-user-%02d", i), "identity"))
	}

	t.Run("accounts", func(t *testing.T) {
		var got []string
		cursor := ""
		pages := 0
		for {
			var page struct {
				Data []pinwheel.Account
				Meta pinwheel.Meta
			}
			q := "/v1/accounts?limit=5"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			r := e.mustOK("GET", q, nil)
			r.decode(t, &page)
			if !strings.Contains(string(r.Body), `"next_cursor":`) {
				t.Errorf("meta lacks next_cursor key: %s", r.Body)
			}
			pages++
			if page.Meta.Count != len(page.Data) {
				t.Errorf("meta.count %d, len %d", page.Meta.Count, len(page.Data))
			}
			for _, a := range page.Data {
				got = append(got, a.ID)
			}
			if page.Meta.NextCursor == nil {
				break
			}
			cursor = *page.Meta.NextCursor
		}
		if pages != 3 || len(got) != n {
			t.Fatalf("pages %d, accounts %d", pages, len(got))
		}
		slices.Sort(got)
		want := slices.Clone(ids)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("filters and limits", func(t *testing.T) {
		var page struct{ Data []pinwheel.Account }
		e.mustOK("GET", "/v1/accounts?connected=true&monitoring_status=active&limit=100", nil).decode(t, &page)
		if len(page.Data) != n {
			t.Errorf("connected active: %d", len(page.Data))
		}
		e.mustOK("GET", "/v1/accounts?monitoring_status=degraded", nil).decode(t, &page)
		if len(page.Data) != 0 {
			t.Errorf("degraded: %d", len(page.Data))
		}
		e.mustOK("GET", "/v1/accounts", nil).decode(t, &page)
		if len(page.Data) != n {
			t.Errorf("default limit 25 page: %d", len(page.Data))
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=x", "monitoring_status=bogus", "connected=maybe", "cursor=!!!", "cursor=bm90LWpzb24="} {
			if r := e.call("GET", "/v1/accounts?"+q, nil); r.Status != http.StatusBadRequest {
				t.Errorf("%s: status %d", q, r.Status)
			}
		}
		e.mustOK("GET", "/v1/end_users/end-user-03/accounts", nil).decode(t, &page)
		if len(page.Data) != 1 || page.Data[0].ID != ids[3] {
			t.Errorf("end user accounts: %+v", page.Data)
		}
	})

	t.Run("paystubs", func(t *testing.T) {
		acc := ids[0]
		var all []pinwheel.Paystub
		cursor := ""
		for {
			var page struct {
				Data []pinwheel.Paystub
				Meta pinwheel.Meta
			}
			q := "/v1/accounts/" + acc + "/paystubs?limit=10"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			e.mustOK("GET", q, nil).decode(t, &page)
			if page.Meta.RefreshedAt == nil {
				t.Errorf("paystubs meta lacks refreshed_at")
			}
			all = append(all, page.Data...)
			if page.Meta.NextCursor == nil {
				break
			}
			cursor = *page.Meta.NextCursor
		}
		// 13 to 30 months of history on one of four schedules
		// (paydata.go): at least a monthly year's worth.
		if len(all) < 12 {
			t.Fatalf("a pay history of %d paystubs", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].PayDate >= all[i-1].PayDate {
				t.Fatalf("not reverse-chronological at %d: %s then %s", i, all[i-1].PayDate, all[i].PayDate)
			}
		}
		// Date filters are inclusive.
		from, to := all[10].PayDate, all[5].PayDate
		var page struct{ Data []pinwheel.Paystub }
		e.mustOK("GET", "/v1/accounts/"+acc+"/paystubs?from_pay_date="+from+"&to_pay_date="+to, nil).decode(t, &page)
		if len(page.Data) != 6 || page.Data[0].PayDate != to || page.Data[5].PayDate != from {
			t.Errorf("filtered: %d items", len(page.Data))
		}
		// A single paystub, and the same data again (deterministic).
		var one pinwheel.Response[pinwheel.Paystub]
		e.mustOK("GET", "/v1/accounts/"+acc+"/paystubs/"+all[3].ID, nil).decode(t, &one)
		a, _ := json.Marshal(one.Data)
		b, _ := json.Marshal(all[3])
		if string(a) != string(b) {
			t.Errorf("single paystub differs from list item")
		}
		if one.Data.NetPayAmount != one.Data.GrossPayAmount-one.Data.TotalTaxes-one.Data.TotalDeductions {
			t.Errorf("net pay does not add up: %+v", one.Data)
		}
	})
}

func TestAPI_RecordsRequests(t *testing.T) {
	e := newEnv(t)
	body := `{"org_name": "Linkdesk", "required_jobs": ["income"], "end_user_id": "recorded"}`
	e.mustOK("POST", "/v1/link_tokens", body, "X-Custom", "yes")
	reqs := e.emu.Requests()
	if len(reqs) == 0 {
		t.Fatal("no requests recorded")
	}
	got := reqs[len(reqs)-1]
	if got.Method != "POST" || got.Path != "/v1/link_tokens" || string(got.Body) != body {
		t.Errorf("recorded %s %s %s", got.Method, got.Path, got.Body)
	}
	if got.Header.Get("X-Custom") != "yes" || got.Header.Get(pinwheel.HeaderVersion) != "2023-11-22" {
		t.Errorf("headers %v", got.Header)
	}
	if s := got.Header.Get(pinwheel.HeaderAPISecret); s == testSecret || s == "" {
		t.Errorf("secret not redacted: %q", s)
	}
	for range 250 {
		e.call("GET", "/v1/platforms?limit=1", nil)
	}
	if n := len(e.emu.Requests()); n != 200 {
		t.Errorf("kept %d requests, want 200", n)
	}
}

func TestAPI_Webhooks(t *testing.T) {
	e := newEnv(t)
	good := map[string]any{"url": "https://example.com/hook", "status": "active", "enabled_events": []string{"account.added"},
		"version": "2023-11-22"}
	for _, tc := range []struct {
		name, field string
		kv          []any
	}{
		{"http not loopback", "url", []any{"url", "http://example.com/hook"}},
		{"missing version", "version", []any{"version", ""}},
		{"bad version", "version", []any{"version", "2021-01-01"}},
		{"no events", "enabled_events", []any{"enabled_events", []string{}}},
		{"unknown event", "enabled_events", []any{"enabled_events", []string{"nope.added"}}},
		{"bad status", "status", []any{"status", "ACTIVE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{}
			for k, v := range good {
				body[k] = v
			}
			body[tc.kv[0].(string)] = tc.kv[1]
			r := e.call("POST", "/v1/webhooks", body)
			if r.Status != http.StatusBadRequest || r.apiError(t).Fields[0].Name != tc.field {
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		})
	}
	var created pinwheel.Response[pinwheel.Webhook]
	e.mustOK("POST", "/v1/webhooks", good).decode(t, &created)
	loop := map[string]any{"url": "http://127.0.0.1:9/hook", "status": "paused", "enabled_events": []string{"income.added"},
		"version": "2025-07-08"}
	e.mustOK("POST", "/v1/webhooks", loop)
	id := created.Data.ID

	var got pinwheel.Response[pinwheel.Webhook]
	e.mustOK("PUT", "/v1/webhooks/"+id, map[string]any{"status": "paused", "enabled_events": []string{"income.added", "paystubs.added"}}).decode(t, &got)
	if got.Data.Status != "paused" || len(got.Data.EnabledEvents) != 2 || got.Data.Version != "2023-11-22" {
		t.Errorf("updated %+v", got.Data)
	}
	if r := e.call("PUT", "/v1/webhooks/"+id, map[string]any{"enabled_events": []string{}}); r.Status != http.StatusBadRequest {
		t.Errorf("empty enabled_events accepted: %d", r.Status)
	}
	var list struct {
		Data []pinwheel.Webhook
		Meta pinwheel.Meta
	}
	e.mustOK("GET", "/v1/webhooks", nil).decode(t, &list)
	if list.Meta.Count != 2 || list.Meta.NextCursor != nil {
		t.Errorf("list meta %+v", list.Meta)
	}
	r := e.mustOK("DELETE", "/v1/webhooks/"+id, nil)
	if string(r.Body) != "{}" {
		t.Errorf("delete body %s", r.Body)
	}
	if r := e.call("GET", "/v1/webhooks/"+id, nil); r.Status != http.StatusNotFound {
		t.Errorf("deleted webhook: %d", r.Status)
	}
	// Quota: at most 10.
	for range 9 {
		e.mustOK("POST", "/v1/webhooks", good)
	}
	if r := e.call("POST", "/v1/webhooks", good); r.Status != http.StatusBadRequest {
		t.Errorf("11th webhook: %d %s", r.Status, r.Body)
	}
}

func TestAPI_Directory(t *testing.T) {
	e := newEnv(t)
	var p pinwheel.Response[pinwheel.Platform]
	e.mustOK("GET", "/v1/platforms/5965580e-380f-4b86-8a8a-7278c77f73cb", nil).decode(t, &p)
	if p.Data.Name != "Workday" || p.Data.Type != "payroll" {
		t.Errorf("workday: %+v", p.Data)
	}
	var list struct {
		Data []pinwheel.Platform
		Meta pinwheel.Meta
	}
	e.mustOK("GET", "/v1/platforms?limit=5", nil).decode(t, &list)
	if len(list.Data) != 5 || list.Meta.NextCursor == nil {
		t.Errorf("platform page: %d", len(list.Data))
	}
	var search struct {
		Data []struct{ ID, Name, ResponseType string }
	}
	e.mustOK("GET", "/v1/search?q=mckee", nil).decode(t, &search)
	if len(search.Data) != 1 || search.Data[0].ID != "5a8cfb92-3373-4e65-b41b-54e821e79671" {
		t.Errorf("search: %+v", search.Data)
	}
	if r := e.call("GET", "/v1/search", nil); r.Status != http.StatusBadRequest {
		t.Errorf("search without q: %d", r.Status)
	}
}

func TestAPI_GarbageBodies(t *testing.T) {
	e := newEnv(t)
	acc := e.connect("eu-garbage", "income")
	var hook pinwheel.Response[pinwheel.Webhook]
	e.mustOK("POST", "/v1/webhooks", map[string]any{"url": "https://example.com/h", "status": "active",
		"enabled_events": []string{"income.added"}, "version": "2023-11-22"}).decode(t, &hook)
	bodies := []string{``, `null`, `"x"`, `{`, `[]`, `123`, `{"a":1}{"b":2}`, `{"org_name": ["x"]}`,
		`{"allocation": "x"}`, `{"allocation": {"targets": "x"}}`, `{"allocation": {"targets": [1]}}`,
		`{"required_jobs": "identity"}`, `{"tags": {"a": 1}}`, `{"skip_intro_screen": "yes"}`,
		`{"url": 5}`, `{"enabled_events": [1]}`, `{"monitoring_status": 5}`, `{"monitoring_status": null}`,
		"\xff\xfe", `{"org_name": "\u0000\u0000\u0000"}`}
	for _, target := range []struct{ method, path string }{
		{"POST", "/v1/link_tokens"},
		{"POST", "/v1/webhooks"},
		{"PUT", "/v1/webhooks/" + hook.Data.ID},
		{"PATCH", "/v1/sandbox/accounts/" + acc},
	} {
		for _, b := range bodies {
			r := e.call(target.method, target.path, b)
			if r.Status != http.StatusBadRequest && r.Status != http.StatusOK {
				t.Errorf("%s %s %q: status %d %s", target.method, target.path, b, r.Status, r.Body)
				continue
			}
			if r.Header.Get("Content-Type") != "application/json" || !json.Valid(r.Body) {
				t.Errorf("%s %s %q: not JSON: %s", target.method, target.path, b, r.Body)
			}
			if r.Status == http.StatusBadRequest {
				r.apiError(t)
			}
		}
	}
	// The link-api answers garbage with JSON too.
	for _, b := range bodies {
		for _, path := range []string{"/link-api/sessions", "/link-api/sessions/nope/login"} {
			resp, err := http.Post(e.base+path, "application/json", strings.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err != nil || resp.StatusCode < 400 || resp.StatusCode > 499 || v["error"] == nil {
				t.Errorf("%s %q: %d %v", path, b, resp.StatusCode, err)
			}
		}
	}
}
