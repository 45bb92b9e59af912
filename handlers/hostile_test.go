package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// Hostile structure (issue: "hostile structure must not cost more than its
// size"): nested bodies at several depths through each intake, and the
// pages that show them measured in bytes written and bytes allocated.

// ---- fixtures for the route table test ----

// sampleRejection is a rejected delivery whose body was kept (a valid
// signature over a body that is not an event).
func sampleRejection(t *testing.T, s *testServer) string {
	t.Helper()
	rec := s.postWebhook(t, s.clk.now(), `{"event_id": "rejected-sample", "event": "account.added", "payload": "not an object"}`)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("sample rejection: %d %s", rec.Code, rec.Body.String())
	}
	return strconv.FormatInt(s.waitRejection(t, db.ReasonPayloadNotObject), 10)
}

// sampleLaunchEvent is a launch event of the sample token.
func sampleLaunchEvent(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	d, err := s.store.LinkByID(ctx, sampleToken(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) > 0 {
		return strconv.FormatInt(d.Events[0].ID, 10)
	}
	e, err := s.store.RecordLaunchEvent(ctx, d.LaunchID, "open", []byte(`{"screen": "intro"}`))
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(e.ID, 10)
}

// sampleSnapshot is an identity snapshot of the sample account, stored as
// the fetch worker stores one.
func sampleSnapshot(t *testing.T, s *testServer) string {
	t.Helper()
	ctx := context.Background()
	sampleAccount(t, s)
	if o, err := s.store.AccountOverview(ctx, sampleAccountID); err == nil {
		if sn, ok := o.Latest[db.FetchIdentity]; ok {
			return strconv.FormatInt(sn.ID, 10)
		}
	}
	s.ingest(t, fmt.Sprintf(`{"event_id": "sample-identity", "event": "identity.added", "payload": {"id": "j", "name": "identity", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "t", "params": {}, "account_id": %q, "end_user_id": "sample_end_user"}}`,
		time.Now().UTC().Format(time.RFC3339), sampleAccountID))
	jobs, err := s.store.ClaimJobs(ctx, db.FetchJobKinds, 50, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var results []db.JobOutcome
	for _, j := range jobs {
		if fj, _ := db.ReadFetchJob(j); fj.Data == db.FetchIdentity && fj.AccountID == sampleAccountID {
			body := fmt.Sprintf(`{"id": "i", "account_id": %q, "full_name": "Sam Ple", "date_of_birth": "1990-01-01", "last_four_ssn": "1234", "emails": ["sam@example.com"]}`, sampleAccountID)
			results = append(results, db.JobOutcome{Job: j, Effect: db.SnapshotFetched{Body: []byte(body)}})
		}
	}
	if err := s.store.FinishJobs(ctx, results); err != nil {
		t.Fatal(err)
	}
	o, err := s.store.AccountOverview(ctx, sampleAccountID)
	if err != nil {
		t.Fatal(err)
	}
	sn, ok := o.Latest[db.FetchIdentity]
	if !ok {
		t.Fatal("no identity snapshot")
	}
	return strconv.FormatInt(sn.ID, 10)
}

// ---- helpers ----

// postWebhook posts a signed webhook body received at the clock's time at
// and returns the answer.
func (s *testServer) postWebhook(t *testing.T, at time.Time, body string) *httptest.ResponseRecorder {
	t.Helper()
	s.clk.set(at)
	ts := strconv.FormatInt(at.Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pinwheel", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(pinwheel.HeaderTimestamp, ts)
	req.Header.Set(pinwheel.HeaderSignature, pinwheel.Sign(testSecret, ts, []byte(body)))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// waitRejection waits until a rejection of reason is recorded (the
// Ingester records them in the background) and returns the newest's id.
func (s *testServer) waitRejection(t *testing.T, reason string) int64 {
	t.Helper()
	var id int64
	waitFor(t, "rejection "+reason, func() bool {
		rows, _, err := s.store.ListRejections(context.Background(), reason, 0, 1)
		if err == nil && len(rows) > 0 {
			id = rows[0].ID
		}
		return id != 0
	})
	return id
}

// nestedJSON is a JSON value depth levels deep (arrays around an object
// holding an account number and padding), about size bytes long.
func nestedJSON(depth, size int) string {
	inner := `{"account_number": "123456789", "note": "` + strings.Repeat("x", max(0, size-2*depth-60)) + `"}`
	return strings.Repeat("[", depth-1) + inner + strings.Repeat("]", depth-1)
}

// identityEvent is an identity.added job event of the sample account whose
// params are value.
func identityEvent(eventID, value string) string {
	return fmt.Sprintf(`{"event_id": %q, "event": "identity.added", "payload": {"id": "j", "name": "identity", "timestamp": %q, "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "t", "account_id": %q, "end_user_id": "sample_end_user", "params": %s}}`,
		eventID, time.Now().UTC().Format(time.RFC3339), sampleAccountID, value)
}

// pageCost serves target and returns the bytes of the answer and the bytes
// allocated while serving it (the process allocates little else meanwhile:
// the test's server is idle).
func (s *testServer) pageCost(t *testing.T, target string, cookie *http.Cookie) (status, written int, allocated uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := s.do(t, http.MethodGet, target, nil, cookie)
	runtime.ReadMemStats(&after)
	return rec.Code, rec.Body.Len(), after.TotalAlloc - before.TotalAlloc
}

// pageBounds are what a page showing one hostile document may cost: the
// cap of the largest document it shows (pii.CapPage, 256 KiB) plus the
// page around it, and allocations a small multiple of that. The pages of
// the issue cost 160 MB to 1.8 GB.
const (
	maxPageBytes     = 1 << 20
	maxPageAllocated = 48 << 20
)

// ---- webhooks ----

func TestHostile_WebhookDepths(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	admin := s.login(t, "admin@example.com")
	auditor := s.login(t, "auditor@example.com")
	const size = 18 << 10
	// The envelope and its payload are two levels; params adds the rest.
	for _, depth := range []int{1, 12, db.MaxWebhookDepth - 2, db.MaxWebhookDepth - 1, 100, 5000} {
		t.Run(strconv.Itoa(depth+2), func(t *testing.T) {
			eventID := "deep-" + strconv.Itoa(depth)
			body := identityEvent(eventID, nestedJSON(depth, size))
			rec := s.postWebhook(t, s.clk.now(), body)
			if depth+2 > db.MaxWebhookDepth {
				if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "deeper than") {
					t.Fatalf("depth %d: %d %s, want 400", depth+2, rec.Code, rec.Body.String())
				}
				id := s.waitRejection(t, db.ReasonTooDeep)
				for _, target := range []string{"/events/rejected", "/events/rejected?reason=" + db.ReasonTooDeep} {
					s.checkPage(t, target, admin, size)
				}
				if _, err := s.store.EventByEventID(context.Background(), eventID); err == nil {
					t.Errorf("refused event %s was stored", eventID)
				}
				s.checkRaw(t, "/events/rejected/"+strconv.FormatInt(id, 10)+"/raw", admin, auditor)
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("depth %d: %d %s, want 200", depth+2, rec.Code, rec.Body.String())
			}
			for _, target := range []string{"/events/" + eventID, "/accounts/" + sampleAccountID, "/end-users/sample_end_user",
				"/accounts/" + sampleAccountID + "/live?after=e0.a0.l0", "/events"} {
				s.checkPage(t, target, admin, size)
				s.checkPage(t, target, auditor, size)
			}
			s.checkRaw(t, "/events/"+eventID+"/raw", admin, auditor)
		})
	}
}

// checkPage serves target and checks its cost against the bounds.
func (s *testServer) checkPage(t *testing.T, target string, cookie *http.Cookie, input int) {
	t.Helper()
	status, written, allocated := s.pageCost(t, target, cookie)
	t.Logf("%-60s %d: %7d bytes written, %9d allocated", target, status, written, allocated)
	if status != http.StatusOK {
		t.Errorf("%s: status %d", target, status)
	}
	if written > maxPageBytes {
		t.Errorf("%s: %d bytes for a body of %d", target, written, input)
	}
	if allocated > maxPageAllocated {
		t.Errorf("%s: %d bytes allocated for a body of %d", target, allocated, input)
	}
}

// checkRaw downloads a document's whole JSON: masked (account numbers for
// everyone), one line, and refused to another site.
func (s *testServer) checkRaw(t *testing.T, target string, admin, auditor *http.Cookie) {
	t.Helper()
	for _, c := range []*http.Cookie{admin, auditor} {
		rec := s.do(t, http.MethodGet, target, nil, c)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body.String())
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment;") || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", target, rec.Header())
		}
		if !json.Valid(rec.Body.Bytes()) || strings.Contains(rec.Body.String(), "123456789") || strings.Count(rec.Body.String(), "\n") > 0 {
			t.Errorf("%s: not masked compact JSON: %.200s", target, rec.Body.String())
		}
	}
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(admin)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("%s from another site: %d, want 403", target, rec.Code)
	}
}

// TestHostile_StoredRowsRenderSafely puts bodies no intake accepts today
// straight into the database (as rows stored before the limits, or by a
// path that forgets them), and checks every page that shows them.
func TestHostile_StoredRowsRenderSafely(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	launchEventID := sampleLaunchEvent(t, s)
	rejectionID := sampleRejection(t, s)
	admin := s.login(t, "admin@example.com")
	auditor := s.login(t, "auditor@example.com")
	s.ingest(t, identityEvent("legacy", `{}`))

	raw, err := db.Connect(s.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const size = 60 << 10
	for _, depth := range []int{12, 1000, 20000} {
		t.Run(strconv.Itoa(depth), func(t *testing.T) {
			deep := nestedJSON(depth, max(size, 3*depth))
			body := identityEvent("legacy", deep)
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`UPDATE events SET body = ? WHERE event_id = 'legacy'`, []any{body}},
				{`UPDATE launch_events SET payload = ? WHERE id = ?`, []any{`{"deep": ` + deep + `}`, launchEventID}},
				{`UPDATE webhook_rejections SET body = ?, body_size = ? WHERE id = ?`, []any{[]byte(body), len(body), rejectionID}},
			} {
				if _, err := raw.Exec(q.sql, q.args...); err != nil {
					t.Fatal(err)
				}
			}
			token := sampleToken(t, s)
			for _, target := range []string{"/events/legacy", "/accounts/" + sampleAccountID, "/end-users/sample_end_user",
				"/accounts/" + sampleAccountID + "/live?after=e0.a0.l0", "/events/rejected", "/tokens/" + token} {
				s.checkPage(t, target, admin, len(body))
				s.checkPage(t, target, auditor, len(body))
			}
			if depth <= 10000 { // beyond, encoding/json (and so json.Valid) gives up
				s.checkRaw(t, "/events/legacy/raw", admin, auditor)
				s.checkRaw(t, "/events/rejected/"+rejectionID+"/raw", admin, auditor)
				s.checkRaw(t, "/tokens/"+token+"/events/"+launchEventID+"/raw", admin, auditor)
			}
			for _, format := range []string{"csv", "jsonl"} {
				rec := s.do(t, http.MethodGet, "/events/export."+format, nil, auditor)
				if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "123456789") {
					t.Errorf("export.%s: %d, %d bytes", format, rec.Code, rec.Body.Len())
				}
				if rec.Body.Len() > 4*len(body)+(64<<10) {
					t.Errorf("export.%s: %d bytes for a body of %d", format, rec.Body.Len(), len(body))
				}
			}
		})
	}
}

// TestHostile_CutDocumentsLinkTheirDownload: a page showing part of a
// document says so and links the whole, masked.
func TestHostile_CutDocumentsLinkTheirDownload(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	admin := s.login(t, "admin@example.com")
	big := `{"notes": [` + strings.Repeat(`"`+strings.Repeat("y", 1000)+`", `, 300) + `"end"]}`
	if rec := s.postWebhook(t, s.clk.now(), identityEvent("big", big)); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	for target, link := range map[string]string{"/events/big": "/events/big/raw", "/accounts/" + sampleAccountID: "/events/big/raw"} {
		rec := s.do(t, http.MethodGet, target, nil, admin)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `href="`+link+`"`) || !strings.Contains(rec.Body.String(), "Shown: the first") {
			t.Errorf("%s: %d, no download link %s", target, rec.Code, link)
		}
	}
	rec := s.do(t, http.MethodGet, "/events/big/raw", nil, admin)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"end"`) {
		t.Errorf("raw: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// ---- launch events ----

func TestHostile_LaunchEventShapes(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	d, err := s.store.LinkByID(ctx, sampleToken(t, s))
	if err != nil {
		t.Fatal(err)
	}
	post := func(payload string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/l/"+d.LaunchID+"/events", strings.NewReader(`{"name": "other_event", "payload": `+payload+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "198.51.100.7:999"
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	keys := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"k%d": 1`, i)
		}
		return b.String() + "}"
	}
	for _, c := range []struct {
		name    string
		payload string
		want    int
	}{
		{"Link's own shape", `{"name": "screen_transition_expanded", "payload": [{"key": "screenName", "value": "LOGIN", "type": "string"}]}`, http.StatusNoContent},
		{"at the depth limit", `{"a":` + nestedJSON(db.MaxLaunchDepth-1, 0) + `}`, http.StatusNoContent},
		{"one level deeper", `{"a":` + nestedJSON(db.MaxLaunchDepth, 0) + `}`, http.StatusBadRequest},
		{"1000 levels", `{"a":` + nestedJSON(1000, 0) + `}`, http.StatusBadRequest},
		{"keys at the limit", keys(db.MaxLaunchKeys), http.StatusNoContent},
		{"too many keys", keys(db.MaxLaunchKeys + 1), http.StatusBadRequest},
		{"too many values", `{"a": [` + strings.Repeat("1,", db.MaxLaunchValues) + `1]}`, http.StatusBadRequest},
		{"a long string", `{"a": "` + strings.Repeat("z", db.MaxLaunchString+1) + `"}`, http.StatusBadRequest},
		{"a long key", `{"` + strings.Repeat("z", db.MaxLaunchString+1) + `": 1}`, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.clk.add(time.Minute) // a fresh per-link bucket
			before, _ := s.store.LinkByID(ctx, d.TokenID)
			rec := post(c.payload)
			if rec.Code != c.want {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body.String(), c.want)
			}
			after, _ := s.store.LinkByID(ctx, d.TokenID)
			stored := len(after.Events) - len(before.Events)
			if (c.want == http.StatusNoContent) != (stored == 1) {
				t.Errorf("%d events stored", stored)
			}
			if c.want == http.StatusBadRequest && !strings.Contains(rec.Body.String(), "nested at most") {
				t.Errorf("answer does not say the limits: %s", rec.Body.String())
			}
		})
	}
}

// ---- duplicate and case-variant envelope keys ----

func TestHostile_AmbiguousEnvelopeKeys(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	payload := `{"account_id": "` + sampleAccountID + `", "end_user_id": "sample_end_user", "monitoring_status": "active", "connected": true}`
	for _, c := range []struct{ name, body string }{
		{"event twice", `{"event_id": "amb-1", "event": "account.monitoring_status.updated", "event": "account.added", "payload": ` + payload + `}`},
		{"event_id twice", `{"event_id": "amb-2", "event_id": "amb-3", "event": "account.monitoring_status.updated", "payload": ` + payload + `}`},
		{"payload twice", `{"event_id": "amb-4", "event": "account.monitoring_status.updated", "payload": ` + payload + `, "payload": {}}`},
		{"Event", `{"event_id": "amb-5", "Event": "account.added", "event": "account.monitoring_status.updated", "payload": ` + payload + `}`},
		{"EVENT_ID alone", `{"EVENT_ID": "amb-6", "event": "account.monitoring_status.updated", "payload": ` + payload + `}`},
		{"escaped twin", `{"event_id": "amb-7", "event": "account.monitoring_status.updated", "\u0065vent": "account.added", "payload": ` + payload + `}`},
		{"Payload", `{"event_id": "amb-8", "event": "account.monitoring_status.updated", "Payload": {}, "payload": ` + payload + `}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := s.postWebhook(t, s.clk.now(), c.body)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("%d %s, want 400", rec.Code, rec.Body.String())
			}
			s.waitRejection(t, db.ReasonAmbiguousKey)
		})
	}
	n, err := s.store.Totals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n["events"] != 1 { // the sample account's account.added only
		t.Errorf("events stored: %d, want 1", n["events"])
	}
	// Unknown keys beside the envelope's are fine, as are keys that
	// merely contain an envelope key.
	ok := `{"event_id": "amb-ok", "event": "account.monitoring_status.updated", "payload": ` + payload + `, "payload_version": 2, "events": []}`
	if rec := s.postWebhook(t, s.clk.now(), ok); rec.Code != http.StatusOK {
		t.Errorf("plain envelope: %d %s", rec.Code, rec.Body.String())
	}
}

// ---- formula injection ----

func TestExport_FormulaInjection(t *testing.T) {
	s := newServer(t)
	cookie := s.login(t, "auditor@example.com")
	for i, ev := range []string{"=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"} {
		b, _ := json.Marshal(ev)
		s.ingest(t, fmt.Sprintf(`{"event_id": "f%d", "event": %s, "payload": {"account_id": "acc-%d"}}`, i, b, i))
	}
	rec := s.do(t, http.MethodGet, "/events/export.csv", nil, cookie)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	recs, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	escaped := 0
	for _, r := range recs[1:] {
		for _, cell := range r {
			if cell != "" && strings.ContainsAny(cell[:1], "=+-@\t\r") {
				t.Errorf("formula cell %q in %q", cell, r)
			}
		}
		if strings.HasPrefix(r[1], "'") {
			escaped++
		}
	}
	if escaped != 6 {
		t.Errorf("%d escaped cells, want 6:\n%s", escaped, rec.Body.String())
	}
}

// ---- exports from other sites ----

func TestExport_OnlyFromOwnPages(t *testing.T) {
	s := newServer(t)
	cookie := s.login(t, "operator@example.com")
	for _, site := range []string{"cross-site", "same-site"} {
		req := httptest.NewRequest(http.MethodGet, "/events/export.csv", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || rec.Header().Get("Content-Disposition") != "" {
			t.Errorf("%s: %d %v, want 403", site, rec.Code, rec.Header())
		}
	}
	rows, _, err := s.store.ListAudit(context.Background(), db.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Action == db.ActionEventsExported {
			t.Errorf("a refused export wrote an audit row: %+v", r)
		}
	}
	for _, site := range []string{"same-origin", "none", ""} {
		req := httptest.NewRequest(http.MethodGet, "/events/export.jsonl", nil)
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("%q: %d, want 200", site, rec.Code)
		}
	}
}

// TestPages_NoStore: staff pages and downloads are never cached.
func TestPages_NoStore(t *testing.T) {
	s := newServer(t)
	sampleAccount(t, s)
	cookie := s.login(t, "admin@example.com")
	for _, target := range []string{"/", "/accounts", "/accounts/" + sampleAccountID, "/customers", "/events", "/events/export.csv", "/staff", "/audit"} {
		rec := s.do(t, http.MethodGet, target, url.Values(nil), cookie)
		if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d Cache-Control %q", target, rec.Code, rec.Header().Get("Cache-Control"))
		}
	}
}
