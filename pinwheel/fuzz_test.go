package pinwheel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

// cannedTransport answers every request with the same status, Retry-After
// and body, without any network.
type cannedTransport struct {
	status     int
	retryAfter string
	body       []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{"Content-Type": {"application/json"}, pinwheel.HeaderRequestID: {"req-fuzz"}}
	if c.retryAfter != "" {
		h.Set("Retry-After", c.retryAfter)
	}
	return &http.Response{
		StatusCode: c.status, Header: h, Request: r,
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)),
	}, nil
}

// FuzzDecodeResponse feeds arbitrary responses through every decoder of the
// client: it must never panic, and a non-2xx status must always come back
// as an *Error carrying that status.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, "", []byte(`{"data":`+accountObserved+`}`))
	f.Add(200, "", []byte(identityObserved))
	f.Add(200, "", []byte(`{"data":[`+paystubObserved+`],"meta":{"count":1,"next_cursor":"c"}}`))
	f.Add(400, "", []byte(errorRoutingNumber))
	f.Add(429, "2", []byte(`{"error":{"type":"UNKNOWN_ERROR","status_code":"x"}}`))
	f.Add(503, "Tue, 24 Jun 2025 22:00:30 GMT", []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status < 0 {
			status = -status
		}
		status = 200 + status%400
		c := pinwheel.New(pinwheel.Config{
			BaseURL:    "http://pinwheel.invalid/v1",
			Secret:     "s",
			MaxRetries: 1,
			HTTPClient: &http.Client{Transport: cannedTransport{status, retryAfter, body}},
			Sleep:      func(context.Context, time.Duration) error { return nil },
		})
		ctx := context.Background()
		check := func(err error) {
			t.Helper()
			if status >= 200 && status <= 299 {
				return
			}
			var e *pinwheel.Error
			if !errors.As(err, &e) || e.StatusCode != status || e.Type == "" {
				t.Fatalf("status %d: got %#v, want *Error with that status", status, err)
			}
		}
		_, err := c.Account(ctx, "a")
		check(err)
		_, _, err = c.Identity(ctx, "a")
		check(err)
		_, _, err = c.Employment(ctx, "a")
		check(err)
		_, _, err = c.Income(ctx, "a")
		check(err)
		_, _, err = c.DirectDepositAllocations(ctx, "a")
		check(err)
		_, _, err = c.Paystubs(ctx, "a", pinwheel.PaystubsFilter{})
		check(err)
		_, _, err = c.Shifts(ctx, "a", pinwheel.ShiftsFilter{})
		check(err)
		_, err = c.CreateLinkToken(ctx, pinwheel.LinkTokenCreate{OrgName: "x"})
		check(err)
		_, err = c.Webhooks(ctx)
		check(err)
		for _, err := range c.Platforms(ctx, pinwheel.PlatformsFilter{}) {
			if err != nil {
				check(err)
			}
		}
		for _, err := range c.Jobs(ctx, pinwheel.JobsFilter{}) {
			if err != nil {
				check(err)
			}
		}
		check(c.Disconnect(ctx, "a"))
	})
}

// FuzzParseEvent checks that no webhook body panics the envelope or payload
// decoders, and that a parsed envelope survives re-encoding.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{eventAccountAdded, eventIdentityAdded, eventPaystubsAdded, eventDDSwitch, eventDDAllocations,
		`{"event_id":"x","event":"y","payload":null}`, `{"event_id":"x","event":"y","payload":{"added":["a"],"params":[]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := pinwheel.ParseEvent(body)
		if err != nil {
			if !errors.Is(err, pinwheel.ErrMalformedEvent) {
				t.Fatalf("got %v, want ErrMalformedEvent", err)
			}
			return
		}
		e.AccountPayload()
		if p, err := e.JobPayload(); err == nil {
			p.SwitchParams()
			p.SyncParams()
			json.Marshal(p)
		}
		b, err := json.Marshal(e)
		if err != nil {
			// Only a payload that is not valid JSON on its own can fail; the
			// decoder never hands one out.
			t.Fatalf("re-encode: %v", err)
		}
		again, err := pinwheel.ParseEvent(b)
		if err != nil || again.EventID != e.EventID || again.Event != e.Event {
			t.Fatalf("round trip got %+v, %v, want %+v", again, err, e)
		}
	})
}

// FuzzVerify checks that Verify never panics, accepts only Sign's output,
// and always accepts Sign's output for a well-formed timestamp.
func FuzzVerify(f *testing.F) {
	for _, v := range []vector{
		{Secret: "secret", Timestamp: "1609205925", Body: "", Signature: "v2=6efd29ef0f75fd953fe185900266c92228f9849ae5cbaae4d1696d7cace7d848"},
		{Secret: "secret", Timestamp: "-1", Body: "{}", Signature: "v2="},
		{Secret: "", Timestamp: "", Body: "x", Signature: "v2=ZZ"},
	} {
		f.Add(v.Secret, v.Signature, v.Timestamp, []byte(v.Body))
	}
	f.Fuzz(func(t *testing.T, secret, sig, ts string, body []byte) {
		now := time.Unix(1750802674, 0)
		if err := pinwheel.Verify(secret, sig, ts, body, now, time.Hour); err == nil && sig != pinwheel.Sign(secret, ts, body) {
			t.Fatalf("accepted %q, want only %q", sig, pinwheel.Sign(secret, ts, body))
		}
		var sec int64
		for _, c := range ts {
			if c < '0' || c > '9' || len(ts) > 12 {
				return
			}
			sec = sec*10 + int64(c-'0')
		}
		if ts == "" {
			return
		}
		if err := pinwheel.Verify(secret, pinwheel.Sign(secret, ts, body), ts, body, time.Unix(sec, 0), time.Minute); err != nil {
			t.Fatalf("rejected its own signature: %v", err)
		}
	})
}

// FuzzParseTime checks that timestamp parsing never panics and that what it
// accepts re-encodes to the same instant (at Pinwheel's microsecond precision).
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2025-06-24T22:04:33.547314+00:00", "2025-06-24 22:04:33+00:00", "2025-06-24T09:00:00-04:00",
		"2025-06-24T22:04:33.123456789Z", "2025-06-24T22:04:33", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := pinwheel.ParseTime(s)
		if err != nil || tm.IsZero() {
			return
		}
		b, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		var back pinwheel.Time
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("re-parse %s: %v", b, err)
		}
		if !back.Equal(tm.Truncate(time.Microsecond)) {
			t.Fatalf("round trip %q → %s → %v, want %v", s, b, back.Time, tm.Truncate(time.Microsecond))
		}
	})
}
