package pinwheel_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"linkdesk/pinwheel"
)

// derivedVectors are the five vectors of docs/pinwheel.md#signature-vectors. They were
// computed from Pinwheel's documented algorithm (Python hmac, cross-checked
// with openssl); they are derived vectors, NOT Pinwheel's own test suite.
// Bodies are JSON-escaped strings, signed as the UTF-8 bytes after decoding.
const derivedVectors = `[
 {"name": "derived-sandbox-account-added", "secret": "test_api_secret_0123456789abcdef", "timestamp": "1750802674",
  "body": "{\"event_id\": \"ec61a8b1-af27-4904-87e8-e5e2dbe25197\", \"event\": \"account.added\", \"payload\": {\"created_at\": \"2025-06-24T22:04:33.547314+00:00\", \"link_token_id\": \"a63c75ef-3e91-4fff-8147-78cf7efeddd2\", \"platform_id\": \"5965580e-380f-4b86-8a8a-7278c77f73cb\", \"connected\": true, \"monitoring_status\": \"active\", \"end_user_id\": \"6a927ef1-6c91-43c9-abbe-6728dc8ef877\", \"account_id\": \"934f6406-c332-4c05-a3e8-6a90765c842d\", \"platform_name\": \"Workday\"}}",
  "signature": "v2=f5510a0a520b497e58994e7214f74e48b82b000a2fcf8d423b6697264e053102"},
 {"name": "derived-sandbox-identity-added", "secret": "test_api_secret_0123456789abcdef", "timestamp": "1750802674",
  "body": "{\"event_id\": \"b331e9ed-a273-48fa-8f5f-ec476870f8f4\", \"event\": \"identity.added\", \"payload\": {\"id\": \"5fd6446d-1739-4686-a454-f60a6ad65864\", \"name\": \"identity\", \"timestamp\": \"2025-06-24T22:04:34.383896+00:00\", \"outcome\": \"success\", \"error_code\": null, \"error_type\": null, \"link_token_id\": \"a63c75ef-3e91-4fff-8147-78cf7efeddd2\", \"params\": {}, \"account_id\": \"934f6406-c332-4c05-a3e8-6a90765c842d\", \"end_user_id\": \"6a927ef1-6c91-43c9-abbe-6728dc8ef877\"}}",
  "signature": "v2=d53eeaff89c417d68d5c81d37e0e9dc9d22b45b4af2b7b1c4f4e241cccc46731"},
 {"name": "derived-empty-body", "secret": "secret", "timestamp": "1609205925", "body": "",
  "signature": "v2=6efd29ef0f75fd953fe185900266c92228f9849ae5cbaae4d1696d7cace7d848"},
 {"name": "derived-unicode-body", "secret": "secret", "timestamp": "1609205925",
  "body": "{\"event\": \"identity.added\", \"payload\": {\"full_name\": \"Jos\u00e9 \u00c1lvarez \u2014 \u6f22\u5b57 \ud83d\ude80\"}}",
  "signature": "v2=5c7d5973b78d0194c6c43120169c07e77e8c844213494b6c1a62faa59bbf599f"},
 {"name": "derived-whitespace-body", "secret": "secret", "timestamp": "1609205925",
  "body": "{\n  \"event\" : \"account.added\",\t\"payload\":{ }\r\n}\n",
  "signature": "v2=194b14bdf3375b9c33bfd3faf9b2e9c509f793196933681496aee9e2f0edfe7d"}
]`

type vector struct {
	Name      string `json:"name"`
	Secret    string `json:"secret"`
	Timestamp string `json:"timestamp"`
	Body      string `json:"body"`
	Signature string `json:"signature"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	var vs []vector
	if err := json.Unmarshal([]byte(derivedVectors), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 5 {
		t.Fatalf("got %d vectors, want 5", len(vs))
	}
	return vs
}

func TestSign_DerivedVectors(t *testing.T) {
	wantLens := []int{440, 449, 0, 87, 48}
	for i, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if got := len(v.Body); got != wantLens[i] {
				t.Fatalf("body length got %d, want %d", got, wantLens[i])
			}
			if got := pinwheel.Sign(v.Secret, v.Timestamp, []byte(v.Body)); got != v.Signature {
				t.Errorf("got %s, want %s", got, v.Signature)
			}
			ts := mustUnix(t, v.Timestamp)
			if err := pinwheel.Verify(v.Secret, v.Signature, v.Timestamp, []byte(v.Body), ts, time.Minute); err != nil {
				t.Errorf("Verify: got %v, want nil", err)
			}
		})
	}
}

func mustUnix(t *testing.T, s string) time.Time {
	t.Helper()
	var n int64
	for _, c := range s {
		n = n*10 + int64(c-'0')
	}
	return time.Unix(n, 0)
}

func TestVerify_Rejects(t *testing.T) {
	v := loadVectors(t)[0]
	body := []byte(v.Body)
	now := mustUnix(t, v.Timestamp)
	tampered := []byte(strings.Replace(v.Body, "Workday", "Workdax", 1))
	upper := "v2=" + strings.ToUpper(strings.TrimPrefix(v.Signature, "v2="))

	tests := []struct {
		name   string
		secret string
		sig    string
		ts     string
		body   []byte
		now    time.Time
		tol    time.Duration
		want   error
	}{
		{"tampered body", v.Secret, v.Signature, v.Timestamp, tampered, now, time.Minute, pinwheel.ErrBadSignature},
		{"trailing newline", v.Secret, v.Signature, v.Timestamp, append([]byte(v.Body), '\n'), now, time.Minute, pinwheel.ErrBadSignature},
		{"wrong secret", "other_secret", v.Signature, v.Timestamp, body, now, time.Minute, pinwheel.ErrBadSignature},
		{"other timestamp", v.Secret, v.Signature, "1750802675", body, now, time.Minute, pinwheel.ErrBadSignature},
		{"missing signature", v.Secret, "", v.Timestamp, body, now, time.Minute, pinwheel.ErrMissingSignature},
		{"no prefix", v.Secret, strings.TrimPrefix(v.Signature, "v2="), v.Timestamp, body, now, time.Minute, pinwheel.ErrMalformedSignature},
		{"v1 prefix", v.Secret, "v1=" + strings.TrimPrefix(v.Signature, "v2="), v.Timestamp, body, now, time.Minute, pinwheel.ErrMalformedSignature},
		{"upper-case hex", v.Secret, upper, v.Timestamp, body, now, time.Minute, pinwheel.ErrMalformedSignature},
		{"short hex", v.Secret, v.Signature[:66], v.Timestamp, body, now, time.Minute, pinwheel.ErrMalformedSignature},
		{"non-hex", v.Secret, v.Signature[:66] + "g", v.Timestamp, body, now, time.Minute, pinwheel.ErrMalformedSignature},
		{"two signatures", v.Secret, v.Signature + "," + v.Signature, v.Timestamp, body, now, time.Minute, pinwheel.ErrMalformedSignature},
		{"missing timestamp", v.Secret, v.Signature, "", body, now, time.Minute, pinwheel.ErrMissingTimestamp},
		{"negative timestamp", v.Secret, v.Signature, "-1750802674", body, now, time.Minute, pinwheel.ErrMalformedTimestamp},
		{"float timestamp", v.Secret, v.Signature, "1750802674.0", body, now, time.Minute, pinwheel.ErrMalformedTimestamp},
		{"spaced timestamp", v.Secret, v.Signature, " 1750802674", body, now, time.Minute, pinwheel.ErrMalformedTimestamp},
		{"huge timestamp", v.Secret, v.Signature, "99999999999999999999", body, now, time.Minute, pinwheel.ErrMalformedTimestamp},
		{"stale", v.Secret, v.Signature, v.Timestamp, body, now.Add(61 * time.Second), time.Minute, pinwheel.ErrStaleTimestamp},
		{"future", v.Secret, v.Signature, v.Timestamp, body, now.Add(-61 * time.Second), time.Minute, pinwheel.ErrFutureTimestamp},
		{"stale default tolerance", v.Secret, v.Signature, v.Timestamp, body, now.Add(5*time.Minute + time.Second), 0, pinwheel.ErrStaleTimestamp},
		{"edge of window", v.Secret, v.Signature, v.Timestamp, body, now.Add(time.Minute), time.Minute, nil},
		{"edge of future window", v.Secret, v.Signature, v.Timestamp, body, now.Add(-time.Minute), time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pinwheel.Verify(tt.secret, tt.sig, tt.ts, tt.body, tt.now, tt.tol)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSign_VerifyRoundTrip(t *testing.T) {
	now := time.Unix(1750802674, 0)
	body := []byte(`{"event_id": "x", "event": "account.added", "payload": {}}`)
	sig := pinwheel.Sign("s3cret", "1750802674", body)
	if err := pinwheel.Verify("s3cret", sig, "1750802674", body, now, 0); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}
