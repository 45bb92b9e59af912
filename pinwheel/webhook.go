package pinwheel

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// HTTP header names used by the API and by webhook deliveries. Header names
// are case-insensitive; these are the spellings Pinwheel sends.
const (
	// HeaderSignature carries "v2=<hex HMAC-SHA256>" on webhook deliveries.
	HeaderSignature = "X-Pinwheel-Signature"
	// HeaderTimestamp carries the delivery's Unix time in seconds; it is part of the signed message.
	HeaderTimestamp = "X-Timestamp"
	// HeaderWebhookID carries the id of the webhook subscription (not of the event).
	HeaderWebhookID = "X-Pinwheel-Webhook-Id"
	// HeaderVersion is the API version of a request, and the webhook version of a delivery.
	HeaderVersion = "Pinwheel-Version"
	// HeaderRequestID is Pinwheel's id for a response; quote it in support requests.
	HeaderRequestID = "X-Pinwheel-Request-Id"
	// HeaderAPISecret authenticates API requests.
	HeaderAPISecret = "x-api-secret"
)

// DefaultTolerance is the replay window Verify applies when given a
// tolerance ≤ 0. Pinwheel documents no window; ±5 minutes is our policy.
const DefaultTolerance = 5 * time.Minute

// Sentinel errors of Verify, distinct so a handler can log why a delivery was
// refused. All of them mean "answer 4xx and do not process".
var (
	ErrMissingSignature   = errors.New("pinwheel: missing webhook signature")
	ErrMalformedSignature = errors.New("pinwheel: malformed webhook signature")
	ErrMissingTimestamp   = errors.New("pinwheel: missing webhook timestamp")
	ErrMalformedTimestamp = errors.New("pinwheel: malformed webhook timestamp")
	ErrBadSignature       = errors.New("pinwheel: webhook signature mismatch")
	ErrStaleTimestamp     = errors.New("pinwheel: webhook timestamp too old")
	ErrFutureTimestamp    = errors.New("pinwheel: webhook timestamp in the future")
)

// signaturePrefix is the scheme tag of the only signature version Pinwheel uses.
const signaturePrefix = "v2="

// Sign returns the X-Pinwheel-Signature value for a delivery:
// "v2=" + hex(HMAC-SHA256(secret, "v2:" + timestamp + ":" + body)).
// The secret is the API secret of the mode; timestamp is used verbatim and
// body must be the exact bytes sent.
func Sign(secret string, timestamp string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(digest(secret, timestamp, body))
}

func digest(secret, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v2:" + timestamp + ":"))
	mac.Write(body)
	return mac.Sum(nil)
}

// Verify checks a webhook delivery: the signature header must be "v2=" and 64
// lower-case hex digits matching Sign(secret, timestampHeader, body)
// (compared in constant time), and the timestamp must be within tolerance of
// now in either direction (tolerance ≤ 0 means DefaultTolerance). The
// signature is checked before the clock, so a forged request never learns
// anything from a timing error. body must be the raw request bytes.
func Verify(secret, signatureHeader, timestampHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	if signatureHeader == "" {
		return ErrMissingSignature
	}
	got, ok := parseSignature(signatureHeader)
	if !ok {
		return ErrMalformedSignature
	}
	if timestampHeader == "" {
		return ErrMissingTimestamp
	}
	ts, ok := parseTimestamp(timestampHeader)
	if !ok {
		return ErrMalformedTimestamp
	}

	if !hmac.Equal(got, digest(secret, timestampHeader, body)) {
		return ErrBadSignature
	}

	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sent := time.Unix(ts, 0)
	switch {
	case now.Sub(sent) > tolerance:
		return ErrStaleTimestamp
	case sent.Sub(now) > tolerance:
		return ErrFutureTimestamp
	}
	return nil
}

// parseSignature returns the digest bytes of "v2=<64 lower-case hex>".
func parseSignature(h string) ([]byte, bool) {
	hexPart, ok := strings.CutPrefix(h, signaturePrefix)
	if !ok || len(hexPart) != 2*sha256.Size {
		return nil, false
	}
	for i := 0; i < len(hexPart); i++ {
		c := hexPart[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, false
		}
	}
	b, err := hex.DecodeString(hexPart)
	return b, err == nil
}

// parseTimestamp accepts decimal Unix seconds: digits only, no sign or space,
// at most 12 digits (far beyond any real date, and no overflow).
func parseTimestamp(s string) (int64, bool) {
	if len(s) > 12 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ErrMalformedEvent reports a webhook body that is not an event envelope.
var ErrMalformedEvent = errors.New("pinwheel: malformed webhook event")

// ParseEvent decodes a webhook body into its envelope. It fails only when the
// body is not a JSON object or lacks event_id or event; the payload is left
// raw for the typed accessors.
func ParseEvent(body []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if e.EventID == "" || e.Event == "" {
		return Event{}, fmt.Errorf("%w: missing event_id or event", ErrMalformedEvent)
	}
	return e, nil
}

// AccountPayload decodes the payload of account.added or
// account.monitoring_status.updated.
func (e Event) AccountPayload() (AccountPayload, error) {
	var p AccountPayload
	err := decodePayload(e, &p)
	return p, err
}

// JobPayload decodes the payload of a job event (identity.added,
// paystubs.added, direct_deposit_switch.added, …).
func (e Event) JobPayload() (JobPayload, error) {
	var p JobPayload
	err := decodePayload(e, &p)
	return p, err
}

func decodePayload(e Event, v any) error {
	p := bytes.TrimSpace(e.Payload)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return fmt.Errorf("%w: %s has no payload", ErrMalformedEvent, e.Event)
	}
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("pinwheel: decode %s payload: %w", e.Event, err)
	}
	return nil
}

// SwitchParams decodes Params of a direct_deposit_switch.added job. Missing
// or null params give zero SwitchParams.
func (p JobPayload) SwitchParams() (SwitchParams, error) {
	var s SwitchParams
	err := decodeParams(p, &s)
	return s, err
}

// SyncParams decodes Params of a paystubs/shifts job or *.fully_synced event.
// Missing or null params give zero SyncParams.
func (p JobPayload) SyncParams() (SyncParams, error) {
	var s SyncParams
	err := decodeParams(p, &s)
	return s, err
}

func decodeParams(p JobPayload, v any) error {
	if len(bytes.TrimSpace(p.Params)) == 0 {
		return nil
	}
	if err := json.Unmarshal(p.Params, v); err != nil {
		return fmt.Errorf("pinwheel: decode %s params: %w", p.Name, err)
	}
	return nil
}
