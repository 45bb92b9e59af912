package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
	"linkdesk/pinwheel/sandbox"
)

// The conformance suite replays what public sources recorded or documented
// (testdata/recorded, see its README) against the emulator and compares what
// a client can see: response structure, key order, number formats, headers,
// event sequences and error codes.

// dsacmsEvents are the events the recording's webhook subscribed to
// (DSACMS's pinwheel_webhook_manager.rb).
var dsacmsEvents = []string{"account.added", "paystubs.added", "paystubs.fully_synced", "employment.added",
	"income.added", "identity.added", "shifts.added"}

var hex64 = regexp.MustCompile(`^v2=[0-9a-f]{64}$`)

// checkAPIHeaders compares the headers a client sees with the recorded ones.
func checkAPIHeaders(t *testing.T, what string, got http.Header, rec map[string]string) {
	t.Helper()
	for _, h := range []string{"Content-Type", "Pinwheel-Version", "Content-Security-Policy", "Strict-Transport-Security"} {
		if got.Get(h) != rec[h] {
			t.Errorf("%s: %s %q, recorded %q", what, h, got.Get(h), rec[h])
		}
	}
	if !uuidRE.MatchString(got.Get("X-Pinwheel-Request-Id")) || !uuidRE.MatchString(rec["X-Pinwheel-Request-Id"]) {
		t.Errorf("%s: X-Pinwheel-Request-Id %q", what, got.Get("X-Pinwheel-Request-Id"))
	}
}

func TestConformance_RecordedSession(t *testing.T) {
	e := newEnv(t, tidy)
	rc := newReceiver(t, e.clock.Now)
	hook := e.hook(rc, pinwheel.Version20231122, dsacmsEvents...)

	// GET /v1/search?q=foo&supported_jobs=paystubs: the same 25 employers, in
	// the recorded order, shaped as recorded.
	rec := recordedAPIByPath(t, "/v1/search")
	r := e.mustOK("GET", rec.Path, nil)
	checkAPIHeaders(t, "search", r.Header, rec.ResponseHeaders)
	ours, want := mustNode(t, "search", r.Body), mustNode(t, "recorded search", []byte(rec.ResponseBody))
	compareShape(t, "search", ours, want, "")
	ids := func(n node) []string {
		data, _ := n.get("data")
		var out []string
		for _, it := range data.items {
			id, _ := it.get("id")
			out = append(out, id.str)
		}
		return out
	}
	if !slices.Equal(ids(ours), ids(want)) {
		t.Errorf("search ids\n  ours     %v\n  recorded %v", ids(ours), ids(want))
	}

	// POST /v1/link_tokens with the recorded body.
	rec = recordedAPIByPath(t, "/v1/link_tokens")
	r = e.mustOK("POST", rec.Path, rec.RequestBody)
	checkAPIHeaders(t, "link token", r.Header, rec.ResponseHeaders)
	compareShape(t, "link token", mustNode(t, "link token", r.Body), mustNode(t, "recorded link token", []byte(rec.ResponseBody)), "")
	var tok pinwheel.Response[pinwheel.LinkToken]
	r.decode(t, &tok)

	// The Link session as recorded: the same callbacks in the same order with
	// the same payload shapes, up to the success screen.
	res, err := e.driver().Complete(context.Background(), tok.Data.Token, sandbox.SessionPlan{StayOpen: true})
	if err != nil || res.Outcome != "success" {
		t.Fatalf("session: %v %+v", err, res)
	}
	var callbacks []recordedCallback
	readTestdata(t, "link_callbacks.json", &callbacks)
	var recNames []string
	var recPayloads [][]byte
	for _, cb := range callbacks {
		if cb.CallbackName != "onEvent" {
			continue // the specialised callbacks repeat onEvent's payload
		}
		var name string
		_ = json.Unmarshal(cb.CallbackArguments[0], &name)
		recNames = append(recNames, name)
		recPayloads = append(recPayloads, cb.CallbackArguments[1])
	}
	if !slices.Equal(res.EventNames(), recNames) {
		t.Fatalf("Link events\n  ours     %v\n  recorded %v", res.EventNames(), recNames)
	}
	for i, ev := range res.Events {
		what := "Link " + ev.Name + " #" + strconv.Itoa(i)
		o, w := mustNode(t, what, ev.Payload), mustNode(t, "recorded "+what, recPayloads[i])
		compareShape(t, what, o, w, "")
		// Values the directory shares with the recording.
		for _, k := range []string{"screenName", "selectedEmployerId", "selectedEmployerName", "selectedPlatformId",
			"selectedPlatformName", "platformId", "job", "name"} {
			if wv, ok := w.get(k); ok {
				if ov, _ := o.get(k); ov.str != wv.str {
					t.Errorf("%s: %s %q, recorded %q", what, k, ov.str, wv.str)
				}
			}
		}
		if ev.Name == "other_event" {
			o, w := o.vals[1], w.vals[1] // payload: [{key, value|type...}]
			var ok, wk []string
			for _, it := range o.items {
				k, _ := it.get("key")
				ok = append(ok, k.str)
			}
			for _, it := range w.items {
				k, _ := it.get("key")
				wk = append(wk, k.str)
			}
			if !slices.Equal(ok, wk) {
				t.Errorf("%s entries %v, recorded %v", what, ok, wk)
			}
		}
	}

	// The webhooks: the recorded 12 in the recorded order (tidy delivery),
	// each body shaped as recorded and written by Python's json.dumps, with
	// the recorded headers.
	var hooks []recordedWebhook
	readTestdata(t, "webhooks.json", &hooks)
	waitFor(t, "12 deliveries", time.Minute, func() bool { return len(rc.all()) >= len(hooks) })
	got := rc.all()
	if len(got) != len(hooks) {
		t.Fatalf("%d deliveries, recorded %d", len(got), len(hooks))
	}
	var counts, recCounts []string
	for i, d := range got {
		rh := hooks[i]
		wantBody := mustNode(t, "recorded webhook", []byte(rh.Body))
		recEvent, _ := wantBody.get("event")
		what := "webhook #" + strconv.Itoa(i) + " " + d.Event.Event
		if d.Event.Event != recEvent.str {
			t.Errorf("%s: recorded %s", what, recEvent.str)
			continue
		}
		n := mustNode(t, what, d.Body)
		compareShape(t, what, n, wantBody, "")
		if pythonDumps(n) != string(d.Body) {
			t.Errorf("%s: not json.dumps output:\n%s", what, d.Body)
		}
		if d.Err != nil {
			t.Errorf("%s: signature: %v", what, d.Err)
		}
		h := d.Header
		for _, k := range []string{"Content-Type", "Accept", "Accept-Encoding", "Pinwheel-Version"} {
			if h.Get(k) != rh.Headers[k] {
				t.Errorf("%s: %s %q, recorded %q", what, k, h.Get(k), rh.Headers[k])
			}
		}
		if h.Get("X-Pinwheel-Webhook-Id") != hook.ID || !hex64.MatchString(h.Get("X-Pinwheel-Signature")) {
			t.Errorf("%s: webhook id %q signature %q", what, h.Get("X-Pinwheel-Webhook-Id"), h.Get("X-Pinwheel-Signature"))
		}
		if _, err := strconv.ParseInt(h.Get("X-Timestamp"), 10, 64); err != nil || len(h.Get("X-Timestamp")) != len(rh.Headers["X-Timestamp"]) {
			t.Errorf("%s: X-Timestamp %q", what, h.Get("X-Timestamp"))
		}
		if cl := h.Get("Content-Length"); cl != strconv.Itoa(len(d.Body)) {
			t.Errorf("%s: Content-Length %q for %d bytes", what, cl, len(d.Body))
		}
		if c, ok := n.get("payload.params.count"); ok {
			counts = append(counts, d.Event.Event+":"+c.str)
		}
		if c, ok := wantBody.get("payload.params.count"); ok {
			recCounts = append(recCounts, recEvent.str+":"+c.str)
		}
	}
	// Page sizes as recorded: paystubs 1, 1, 2, the rest; shifts 7, 23, 60.
	for i, c := range recCounts {
		if strings.HasPrefix(c, "shifts") || (strings.HasPrefix(c, "paystubs.added") && i < 4) {
			if i >= len(counts) || counts[i] != c {
				t.Errorf("page sizes\n  ours     %v\n  recorded %v", counts, recCounts)
				break
			}
		}
	}

	// The account and its data, read as the recording read them.
	acc := res.AccountID
	today := e.clock.Now().UTC()
	for _, prefix := range []string{"/v1/accounts/{id}/identity", "/v1/accounts/{id}/employment", "/v1/accounts/{id}/income",
		"/v1/accounts/{id}/paystubs", "/v1/accounts/{id}/shifts", "/v1/accounts/{id}", "/v1/platforms/"} {
		rec := recordedAPIByPath(t, prefix)
		path := strings.ReplaceAll(rec.Path, recordedAccount, acc)
		if prefix == "/v1/accounts/{id}/paystubs" {
			path = "/v1/accounts/" + acc + "/paystubs?from_pay_date=" + today.AddDate(0, 0, -90).Format(time.DateOnly) +
				"&to_pay_date=" + today.Format(time.DateOnly)
		}
		r := e.mustOK(rec.Method, path, nil)
		checkAPIHeaders(t, prefix, r.Header, rec.ResponseHeaders)
		compareShape(t, prefix, mustNode(t, prefix, r.Body), mustNode(t, "recorded "+prefix, []byte(rec.ResponseBody)), "")
	}

	// The documented error example, byte for byte (compact, as the API
	// writes its bodies).
	r = e.call("POST", "/v1/link_tokens", map[string]any{"org_name": "Report My Income", "required_jobs": []string{"paystubs"},
		"end_user_id": "u", "allocation": map[string]any{"targets": []any{map[string]any{"name": "Checking",
			"type": "checking", "routing_number": "12345", "account_number": "5675249802"}}}})
	if doc := compactNode(documented(t, "api_error")); r.Status != 400 || string(r.Body) != doc {
		t.Errorf("routing number error\n  ours       %d %s\n  documented %s", r.Status, r.Body, doc)
	}
}

// compactNode encodes n as the API does (no spaces, UTF-8 kept).
func compactNode(n node) string {
	var b strings.Builder
	var enc func(n node)
	enc = func(n node) {
		switch n.kind {
		case "object":
			b.WriteByte('{')
			for i, k := range n.keys {
				if i > 0 {
					b.WriteByte(',')
				}
				kb, _ := json.Marshal(k)
				b.Write(kb)
				b.WriteByte(':')
				enc(n.vals[i])
			}
			b.WriteByte('}')
		case "array":
			b.WriteByte('[')
			for i, it := range n.items {
				if i > 0 {
					b.WriteByte(',')
				}
				enc(it)
			}
			b.WriteByte(']')
		case "string":
			sb, _ := json.Marshal(n.str)
			b.Write(sb)
		case "null":
			b.WriteString("null")
		default:
			b.WriteString(n.str)
		}
	}
	enc(n)
	return b.String()
}

// Every error the emulator answers uses one of the four documented types
// and either the documented code or one of the emulator-only codes, each of
// which docs/sandbox.md lists.
func TestConformance_ErrorTypesAndCodes(t *testing.T) {
	e := newEnv(t)
	acc := e.connect("eu-errors", "income")
	types := []string{"INVALID_REQUEST_PARAMETERS", "RECORD_NOT_FOUND", "UNAUTHORIZED_REQUEST", "UNKNOWN_ERROR"}
	allowed := append(slices.Clone(sandbox.DocumentedCodes), sandbox.EmulatorOnlyCodes...)
	seen := map[string]bool{}
	check := func(what string, r response) {
		t.Helper()
		if r.Status < 400 {
			t.Errorf("%s: status %d", what, r.Status)
			return
		}
		pe := r.apiError(t)
		if !slices.Contains(types, pe.Type) {
			t.Errorf("%s: type %q is not one of the four documented", what, pe.Type)
		}
		if !slices.Contains(allowed, pe.Code) {
			t.Errorf("%s: code %q is neither documented nor a listed emulator-only code", what, pe.Code)
		}
		if pe.Code != "INVALID_ROUTING_NUMBER" && !strings.HasPrefix(pe.Code, "EMULATOR_") {
			t.Errorf("%s: undocumented code %q not marked EMULATOR_", what, pe.Code)
		}
		if pe.StatusCode != r.Status {
			t.Errorf("%s: status_code %d, HTTP %d", what, pe.StatusCode, r.Status)
		}
		seen[pe.Code] = true
	}
	check("no secret", e.call("GET", "/v1/accounts", nil, pinwheel.HeaderAPISecret, ""))
	check("no version", e.call("GET", "/v1/accounts", nil, pinwheel.HeaderVersion, ""))
	check("validation", e.call("POST", "/v1/link_tokens", map[string]any{"org_name": "x"}))
	check("routing", e.call("POST", "/v1/link_tokens", map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"},
		"end_user_id": "u", "allocation": map[string]any{"targets": []any{map[string]any{"routing_number": "1"}}}}))
	check("account number", e.call("POST", "/v1/link_tokens", map[string]any{"org_name": "Linkdesk", "required_jobs": []string{"income"},
		"end_user_id": "u", "allocation": map[string]any{"targets": []any{map[string]any{"account_number": "12"}}}}))
	check("bad JSON", e.call("POST", "/v1/link_tokens", `{`))
	check("bad cursor", e.call("GET", "/v1/accounts?cursor=gAAAAABnope", nil))
	check("unknown account", e.call("GET", "/v1/accounts/00000000-0000-4000-8000-000000000000", nil))
	check("unknown route", e.call("GET", "/v1/nothing", nil))
	check("wrong method", e.call("DELETE", "/v1/link_tokens", nil))
	check("sandbox status", e.call("PATCH", "/v1/sandbox/accounts/"+acc, map[string]any{"monitoring_status": "degraded"}))
	for range 10 {
		e.call("POST", "/v1/webhooks", map[string]any{"url": "https://example.com/h", "status": "paused",
			"enabled_events": []string{"income.added"}, "version": "2023-11-22"})
	}
	check("11th webhook", e.call("POST", "/v1/webhooks", map[string]any{"url": "https://example.com/h", "status": "paused",
		"enabled_events": []string{"income.added"}, "version": "2023-11-22"}))
	e.emu.SetFaults(sandbox.Faults{ErrorRate: 1})
	check("server error", e.call("GET", "/v1/accounts", nil))
	e.emu.SetFaults(sandbox.Faults{RateLimitRate: 1})
	check("rate limited", e.call("GET", "/v1/accounts", nil))
	e.emu.SetFaults(sandbox.Faults{})
	for _, c := range allowed {
		if !seen[c] {
			t.Errorf("code %s never produced here: add a case", c)
		}
	}

	// docs/sandbox.md lists every emulator-only code, API and Link.
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sandbox.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(slices.Clone(sandbox.EmulatorOnlyCodes), sandbox.EmulatorOnlyLinkCodes...) {
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("docs/sandbox.md does not list %s", c)
		}
	}
}
