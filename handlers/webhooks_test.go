package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/db"
	"linkdesk/handlers"
	"linkdesk/pinwheel"
)

// post sends body to the webhook route with the given headers.
func (s *testServer) post(body []byte, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/pinwheel", bytes.NewReader(body))
	req.RemoteAddr = "203.0.113.7:4000"
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// signed returns delivery headers signed with secret at time at.
func signed(secret string, at time.Time, body []byte) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return map[string]string{
		pinwheel.HeaderTimestamp: ts, pinwheel.HeaderSignature: pinwheel.Sign(secret, ts, body),
		pinwheel.HeaderVersion: "2023-11-22", pinwheel.HeaderWebhookID: "420900d5-2ffb-4ad9-b2a6-38ef975f9b21",
		"Cookie": "linkdesk=secret-cookie", pinwheel.HeaderAPISecret: "should-never-be-stored",
	}
}

// postSigned posts body signed now, as Pinwheel would, and returns the
// answer.
func (s *testServer) postSigned(body []byte) *httptest.ResponseRecorder {
	return s.post(body, signed(testSecret, s.clk.now(), body))
}

func identityBody(eventID, account string) []byte {
	return fmt.Appendf(nil, `{"event_id": %q, "event": "identity.added", "payload": {"id": "job-1", "name": "identity", "timestamp": "2025-06-24T22:04:34.383896+00:00", "outcome": "success", "error_code": null, "error_type": null, "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "params": {}, "account_id": %q, "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877"}}`, eventID, account)
}

func TestWebhookReceive_Accepts(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	body := identityBody("b331e9ed-a273-48fa-8f5f-ec476870f8f4", "934f6406-c332-4c05-a3e8-6a90765c842d")

	rec := s.postSigned(body)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"accepted"`) {
		t.Fatalf("first delivery: %d %s", rec.Code, rec.Body)
	}
	rec = s.postSigned(body)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"duplicate"`) {
		t.Fatalf("redelivery: %d %s", rec.Code, rec.Body)
	}
	e, err := s.store.EventByEventID(ctx, "b331e9ed-a273-48fa-8f5f-ec476870f8f4")
	if err != nil {
		t.Fatal(err)
	}
	if e.Body != string(body) || e.DeliveryCount != 2 || e.WebhookID != "420900d5-2ffb-4ad9-b2a6-38ef975f9b21" || e.APIVersion != "2023-11-22" ||
		!strings.HasPrefix(e.Signature, "v2=") || !e.SentAt.Equal(s.clk.now()) || e.AccountID != "934f6406-c332-4c05-a3e8-6a90765c842d" {
		t.Errorf("stored event = %+v", e)
	}

	// The recorded body (docs/pinwheel.md#signature-vectors), byte for byte, with its derived signature.
	ref := []byte(`{"event_id": "ec61a8b1-af27-4904-87e8-e5e2dbe25197", "event": "account.added", "payload": {"created_at": "2025-06-24T22:04:33.547314+00:00", "link_token_id": "a63c75ef-3e91-4fff-8147-78cf7efeddd2", "platform_id": "5965580e-380f-4b86-8a8a-7278c77f73cb", "connected": true, "monitoring_status": "active", "end_user_id": "6a927ef1-6c91-43c9-abbe-6728dc8ef877", "account_id": "934f6406-c332-4c05-a3e8-6a90765c842d", "platform_name": "Workday"}}`)
	if got := pinwheel.Sign("test_api_secret_0123456789abcdef", "1750802674", ref); got != "v2=f5510a0a520b497e58994e7214f74e48b82b000a2fcf8d423b6697264e053102" {
		t.Fatalf("reference vector: %s", got)
	}
	if rec := s.postSigned(ref); rec.Code != http.StatusOK {
		t.Fatalf("reference body: %d %s", rec.Code, rec.Body)
	}
	o, err := s.store.AccountOverview(ctx, "934f6406-c332-4c05-a3e8-6a90765c842d")
	a := o.Account
	if err != nil {
		t.Fatal(err)
	}
	if a.PlatformName != "Workday" || a.MonitoringStatus != "active" || a.EventCount != 2 {
		t.Errorf("account = %+v", a)
	}
}

func TestWebhookReceive_Refuses(t *testing.T) {
	s := newServer(t)
	good := identityBody("e-1", "acc-1")
	big := append([]byte(`{"event_id": "big", "event": "x.y", "payload": {"pad": "`), bytes.Repeat([]byte("a"), handlers.MaxWebhookBody)...)
	big = append(big, `"}}`...)
	for _, tc := range []struct {
		name    string
		body    []byte
		headers map[string]string
		status  int
		reason  string
	}{
		{"bad signature", good, map[string]string{pinwheel.HeaderTimestamp: strconv.FormatInt(s.clk.now().Unix(), 10), pinwheel.HeaderSignature: "v2=" + strings.Repeat("0", 64)}, 401, db.ReasonBadSignature},
		{"wrong secret", good, signed("another secret", s.clk.now(), good), 401, db.ReasonBadSignature},
		{"stale timestamp", good, signed(testSecret, s.clk.now().Add(-6*time.Minute), good), 401, db.ReasonStaleTimestamp},
		{"future timestamp", good, signed(testSecret, s.clk.now().Add(6*time.Minute), good), 401, db.ReasonFutureTimestamp},
		{"missing headers", good, map[string]string{}, 401, db.ReasonMissingSignature},
		{"missing timestamp", good, map[string]string{pinwheel.HeaderSignature: pinwheel.Sign(testSecret, "", good)}, 401, db.ReasonMissingTimestamp},
		{"malformed signature", good, map[string]string{pinwheel.HeaderTimestamp: "1", pinwheel.HeaderSignature: "v1=abc"}, 401, db.ReasonMalformedSignature},
		{"malformed timestamp", good, map[string]string{pinwheel.HeaderTimestamp: "-5", pinwheel.HeaderSignature: pinwheel.Sign(testSecret, "-5", good)}, 401, db.ReasonMalformedTimestamp},
		{"body signed, then altered", append([]byte(" "), good...), signed(testSecret, s.clk.now(), good), 401, db.ReasonBadSignature},
		{"empty body", []byte{}, signed(testSecret, s.clk.now(), nil), 400, db.ReasonInvalidJSON},
		{"truncated JSON", good[:60], signed(testSecret, s.clk.now(), good[:60]), 400, db.ReasonInvalidJSON},
		{"payload not an object", []byte(`{"event_id": "p", "event": "identity.added", "payload": [1]}`), nil, 400, db.ReasonPayloadNotObject},
		{"missing event_id", []byte(`{"event": "identity.added", "payload": {}}`), nil, 400, db.ReasonMissingEventID},
		{"missing event", []byte(`{"event_id": "x", "payload": {}}`), nil, 400, db.ReasonMissingEvent},
		{"invalid UTF-8", []byte("{\"event_id\": \"\xc3\x28\", \"event\": \"identity.added\", \"payload\": {}}"), nil, 400, db.ReasonInvalidUTF8},
		{"1 MiB + 1 byte", bytes.Repeat([]byte("x"), handlers.MaxWebhookBody+1), nil, 413, db.ReasonBodyTooLarge},
		{"valid JSON over 1 MiB", big, nil, 413, db.ReasonBodyTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.headers
			if h == nil {
				h = signed(testSecret, s.clk.now(), tc.body)
			}
			var before int64
			if list, _, _ := s.store.ListRejections(context.Background(), "", 0, 1); len(list) == 1 {
				before = list[0].ID
			}
			rec := s.post(tc.body, h)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			var msg map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &msg); err != nil || msg["error"] == "" {
				t.Errorf("body %q, want a JSON error with a short reason", rec.Body)
			}
			var got db.WebhookRejection
			waitUntil(t, func() bool {
				list, _, _ := s.store.ListRejections(context.Background(), "", 0, 1)
				if len(list) == 1 && list[0].ID > before {
					got = list[0]
					return true
				}
				return false
			})
			if got.Reason != tc.reason {
				t.Errorf("reason %q, want %q", got.Reason, tc.reason)
			}
			if got.Status != tc.status || got.RemoteAddr != "203.0.113.7:4000" || len(got.BodySHA256) != 64 || got.BodySize < int64(min(len(tc.body), handlers.MaxWebhookBody)) {
				t.Errorf("rejection = %+v", got)
			}
			if strings.Contains(got.Headers, "secret-cookie") || strings.Contains(got.Headers, "should-never-be-stored") {
				t.Errorf("secrets stored in %s", got.Headers)
			}
			if keep := tc.status == 400; len(tc.body) > 0 && (got.Body != nil) != keep {
				t.Errorf("body kept = %v, want %v (only with a valid signature)", got.Body != nil, keep)
			}
		})
	}
	tot, _ := s.store.Totals(context.Background())
	if tot["events"] != 0 {
		t.Errorf("a refused delivery was stored: totals %v", tot)
	}
}

func TestWebhookReceive_FiveAtOnceStoredOnce(t *testing.T) {
	s := newServer(t)
	body := identityBody("five-1", "acc-5")
	var wg sync.WaitGroup
	codes := make(chan int, 5)
	for range 5 {
		wg.Go(func() { codes <- s.postSigned(body).Code })
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("status %d, want 200", c)
		}
	}
	e, err := s.store.EventByEventID(context.Background(), "five-1")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := s.store.AccountOverview(context.Background(), "acc-5")
	a := o.Account
	if e.DeliveryCount != 5 || a.EventCount != 1 {
		t.Errorf("delivery_count %d, account events %d; want 5 and 1", e.DeliveryCount, a.EventCount)
	}
}

func TestWebhookReceive_ManySmallConcurrentRequests(t *testing.T) {
	s := newServer(t)
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := identityBody(fmt.Sprintf("many-%d", i), fmt.Sprintf("acc-%d", i%10))
			if i%3 == 0 {
				body = []byte(`{"event_id": "broken`)
			}
			rec := s.postSigned(body)
			want := http.StatusOK
			if i%3 == 0 {
				want = http.StatusBadRequest
			}
			if rec.Code != want {
				t.Errorf("request %d: status %d, want %d", i, rec.Code, want)
			}
		})
	}
	wg.Wait()
	tot, _ := s.store.Totals(context.Background())
	if tot["events"] != n-n/3 {
		t.Errorf("%d events stored, want %d", tot["events"], n-n/3)
	}
	waitUntil(t, func() bool {
		tot, _ := s.store.Totals(context.Background())
		return tot["rejections"] == n/3
	})
}

func TestWebhookReceive_StatusUpdateBeforeAccountAdded(t *testing.T) {
	s := newServer(t)
	upd := []byte(`{"event_id": "u-1", "event": "account.monitoring_status.updated", "payload": {"created_at": "2025-06-24T22:04:33.547314+00:00", "link_token_id": "t-1", "platform_id": "p-1", "connected": false, "monitoring_status": "user_action_required", "end_user_id": "eu-1", "account_id": "acc-1", "platform_name": "Workday"}}`)
	added := []byte(`{"event_id": "a-1", "event": "account.added", "payload": {"created_at": "` + s.clk.now().Format(pinwheel.TimeLayout) + `", "link_token_id": "t-1", "platform_id": "p-1", "connected": true, "monitoring_status": "active", "end_user_id": "eu-1", "account_id": "acc-1", "platform_name": "Workday"}}`)
	for _, b := range [][]byte{upd, added} {
		if rec := s.postSigned(b); rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	o, err := s.store.AccountOverview(context.Background(), "acc-1")
	a := o.Account
	if err != nil {
		t.Fatal(err)
	}
	if a.MonitoringStatus != "user_action_required" || a.Connected == nil || *a.Connected || a.CreatedAt.IsZero() {
		t.Errorf("account = %+v, want user_action_required, disconnected, created", a)
	}
}

func TestWebhookReceive_NeedsNoSession(t *testing.T) {
	s := newServer(t)
	rec := s.postSigned(identityBody("no-session", "acc-ns"))
	if rec.Code != http.StatusOK || rec.Header().Get("Location") != "" {
		t.Fatalf("status %d location %q, want 200 without a redirect", rec.Code, rec.Header().Get("Location"))
	}
}

func TestWebhookReceive_WithoutIngester(t *testing.T) {
	s := newServer(t, withoutIngester())
	if rec := s.postSigned(identityBody("x", "y")); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
}

// waitUntil polls cond until it holds, failing after 10 s.
func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzWebhookReceive drives the receive path with arbitrary bodies, signed
// or not and at any clock offset: it must answer 200, 400, 401 or 413 and
// never fail; a 200 needs a valid signature and an event envelope.
// Seed corpus: testdata/fuzz/FuzzWebhookReceive.
func FuzzWebhookReceive(f *testing.F) {
	f.Add([]byte(`{"event_id": "f-1", "event": "identity.added", "payload": {"account_id": "a", "outcome": "success"}}`), true, int64(0))
	f.Add([]byte(`{"event_id": "f-2", "event": "account.added", "payload": {"account_id": 1}}`), true, int64(0))
	f.Add([]byte(`{"event_id": "f-3", "event": "x", "payload": {}}`), false, int64(0))
	f.Add([]byte(`{"event_id": "f-4", "event": "x", "payload": {}}`), true, int64(400))
	f.Add([]byte("\xff"), true, int64(0))
	s := newServer(f)
	f.Fuzz(func(t *testing.T, body []byte, sign bool, skew int64) {
		at := s.clk.now().Add(time.Duration(skew%100000) * time.Second)
		h := signed(testSecret, at, body)
		if !sign {
			h = signed("not the secret", at, body)
		}
		rec := s.post(body, h)
		switch rec.Code {
		case http.StatusOK:
			if !sign || skew%100000 > 300 || skew%100000 < -300 {
				t.Fatalf("accepted an unsigned or stale delivery: %q", body)
			}
			if _, err := db.ParseDelivery(body); err != nil {
				t.Fatalf("accepted a body ParseDelivery refuses: %q", body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
