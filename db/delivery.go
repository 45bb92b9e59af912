package db

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"linkdesk/pinwheel"
)

// Reasons a webhook delivery is refused, as stored in webhook_rejections and
// counted in rejection_counts and the metrics.
const (
	ReasonBodyTooLarge       = "body_too_large"
	ReasonMissingSignature   = "missing_signature"
	ReasonMalformedSignature = "malformed_signature"
	ReasonMissingTimestamp   = "missing_timestamp"
	ReasonMalformedTimestamp = "malformed_timestamp"
	ReasonBadSignature       = "bad_signature"
	ReasonStaleTimestamp     = "stale_timestamp"
	ReasonFutureTimestamp    = "future_timestamp"
	ReasonReadError          = "read_error"
	ReasonInvalidUTF8        = "invalid_utf8"
	ReasonInvalidJSON        = "invalid_json"
	ReasonInvalidEnvelope    = "invalid_envelope"
	ReasonMissingEventID     = "missing_event_id"
	ReasonMissingEvent       = "missing_event"
	ReasonPayloadNotObject   = "payload_not_object"
	ReasonTooDeep            = "nested_too_deep"
	ReasonAmbiguousKey       = "ambiguous_key"
)

// MaxWebhookDepth is the deepest nesting of objects and arrays a webhook
// body may have; a deeper one is refused (400, recorded as
// nested_too_deep). Pinwheel's bodies stay within a dozen levels (the
// envelope, its payload, a job's params, a list inside them: the
// recorded webhooks reach 4); 32 leaves room for whatever Pinwheel adds
// while refusing the thousands of levels an attack uses to make every
// later reader of the body (pages, exports, the projection's decoder)
// work harder than its size.
const MaxWebhookDepth = 32

// Limits on envelope fields: they become keys and index entries, so an
// absurd value is refused rather than stored.
const (
	maxEventIDLen = 255
	maxEventLen   = 128
	maxIDLen      = 255
)

// DeliveryError is why a body is not a webhook event. Reason is one of the
// Reason constants.
type DeliveryError struct {
	Reason string
	Err    error
}

func (e *DeliveryError) Error() string {
	if e.Err != nil {
		return "db: webhook " + e.Reason + ": " + e.Err.Error()
	}
	return "db: webhook " + e.Reason
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Delivery is one webhook request whose signature has been verified. Build
// it with ParseDelivery (which checks the envelope) and fill in the
// transport fields; then hand it to Ingester.Ingest.
type Delivery struct {
	// EventID and Event come from the envelope.
	EventID string
	Event   string
	// Body is the exact request body, stored as is.
	Body []byte

	// ReceivedAt is when the request arrived; zero means the Store's clock.
	ReceivedAt time.Time
	// SentAt is the X-Timestamp of the delivery; zero when unknown.
	SentAt time.Time
	// WebhookID, APIVersion and Signature are the X-Pinwheel-Webhook-Id,
	// Pinwheel-Version and X-Pinwheel-Signature headers.
	WebhookID  string
	APIVersion string
	Signature  string
	// Reconciled marks an event Linkdesk wrote from Pinwheel's API because
	// its webhook never came (reconcile.go): stored with origin
	// 'reconciled', shown as reconciled rather than received, and left out
	// of the webhook traffic counters.
	Reconciled bool

	p    payload
	perr error
	// sync is the params of a paystubs or shifts event (a job or a
	// milestone), nil for others or when they do not decode.
	sync *pinwheel.SyncParams
}

// payload holds the fields projections read. Every event shape is decoded
// into this one struct (account and job payloads share most keys), once, in
// the request's goroutine, so that the single committer only runs SQL.
type payload struct {
	AccountID        string          `json:"account_id"`
	EndUserID        string          `json:"end_user_id"`
	LinkTokenID      string          `json:"link_token_id"`
	CreatedAt        pinwheel.Time   `json:"created_at"`
	Timestamp        pinwheel.Time   `json:"timestamp"`
	UpdatedAt        pinwheel.Time   `json:"updated_at"`
	PlatformID       string          `json:"platform_id"`
	PlatformName     string          `json:"platform_name"`
	PlatformType     string          `json:"platform_type"`
	Connected        *bool           `json:"connected"`
	MonitoringStatus string          `json:"monitoring_status"`
	Name             string          `json:"name"`
	Outcome          string          `json:"outcome"`
	ErrorType        *string         `json:"error_type"`
	ErrorCode        *string         `json:"error_code"`
	Params           json.RawMessage `json:"params"`
	// Added and Deleted are the paystub or shift ids of a paystubs.added
	// or shifts.added.
	Added   []pinwheel.PaystubRef `json:"added"`
	Deleted []pinwheel.PaystubRef `json:"deleted"`
}

// envelope is the outer object; pointers tell a missing key from an empty one.
type envelope struct {
	EventID *string         `json:"event_id"`
	Event   *string         `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// ParseDelivery checks that body is a webhook event: valid UTF-8, nested at
// most MaxWebhookDepth levels, a JSON object with a string event_id and
// event and an object payload, each of these three keys present once and
// spelled exactly (encoding/json would otherwise match "EVENT" or take the
// last of two "event" keys, so a body could say one thing to us and
// another to any other reader). It decodes
// the payload fields projections need; a payload whose fields have the wrong
// types is still a valid delivery (stored, marked as failed to project),
// because refusing it would only make Pinwheel redeliver the same bytes.
func ParseDelivery(body []byte) (Delivery, error) {
	if !utf8.Valid(body) {
		return Delivery{}, &DeliveryError{Reason: ReasonInvalidUTF8}
	}
	depth, keys := scanEnvelope(body)
	if depth > MaxWebhookDepth {
		return Delivery{}, &DeliveryError{Reason: ReasonTooDeep, Err: fmt.Errorf("nested %d levels deep, more than %d", depth, MaxWebhookDepth)}
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Delivery{}, &DeliveryError{Reason: ReasonInvalidEnvelope, Err: err}
		}
		return Delivery{}, &DeliveryError{Reason: ReasonInvalidJSON, Err: err}
	}
	if err := checkEnvelopeKeys(keys); err != nil {
		return Delivery{}, &DeliveryError{Reason: ReasonAmbiguousKey, Err: err}
	}
	switch {
	case env.EventID == nil || *env.EventID == "":
		return Delivery{}, &DeliveryError{Reason: ReasonMissingEventID}
	case env.Event == nil || *env.Event == "":
		return Delivery{}, &DeliveryError{Reason: ReasonMissingEvent}
	case len(*env.EventID) > maxEventIDLen || len(*env.Event) > maxEventLen:
		return Delivery{}, &DeliveryError{Reason: ReasonInvalidEnvelope, Err: errors.New("event_id or event too long")}
	}
	p := bytes.TrimSpace(env.Payload)
	if len(p) == 0 || p[0] != '{' {
		return Delivery{}, &DeliveryError{Reason: ReasonPayloadNotObject}
	}
	d := Delivery{EventID: *env.EventID, Event: *env.Event, Body: body}
	if err := json.Unmarshal(p, &d.p); err != nil {
		d.perr = fmt.Errorf("payload: %w", err)
	} else if err := d.p.check(); err != nil {
		d.perr = err
	}
	if d.perr == nil && payDataOf(d.Event) != "" && len(d.p.Params) > 0 {
		// Params of an unexpected shape leave the sync without a window;
		// the event is still projected.
		var sp pinwheel.SyncParams
		if json.Unmarshal(d.p.Params, &sp) == nil {
			d.sync = &sp
		}
	}
	return d, nil
}

// envelopeKeys are the keys of the envelope Linkdesk reads.
var envelopeKeys = []string{"event_id", "event", "payload"}

// isEnvelopeKey reports whether k is an envelope key in any letter case.
func isEnvelopeKey(k string) bool {
	for _, want := range envelopeKeys {
		if strings.EqualFold(k, want) {
			return true
		}
	}
	return false
}

// checkEnvelopeKeys refuses a second occurrence of an envelope key, or one
// spelled in other letter cases.
func checkEnvelopeKeys(keys []string) error {
	seen := map[string]bool{}
	for _, k := range keys {
		for _, want := range envelopeKeys {
			if !strings.EqualFold(k, want) {
				continue
			}
			if k != want {
				return fmt.Errorf("key %q is %q in other letter cases", k, want)
			}
			if seen[want] {
				return fmt.Errorf("key %q appears twice", want)
			}
			seen[want] = true
		}
	}
	return nil
}

// scanEnvelope makes one pass over a JSON text: it returns the deepest
// nesting of objects and arrays, and those keys of the outermost object
// that are an envelope key in any letter case (decoded, so "\u0065vent"
// is "event"; a handful suffices to find a repeat). It assumes nothing
// about validity (the decoder checks that afterwards) and costs one
// comparison per byte, whatever the depth.
func scanEnvelope(b []byte) (depth int, keys []string) {
	level := 0
	expectKey := false // inside the outer object, where a key may start
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			level++
			depth = max(depth, level)
			expectKey = level == 1 && c == '{'
		case '}', ']':
			level--
			expectKey = false
		case ',':
			expectKey = level == 1
		case '"':
			start := i
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			// An escaped envelope key is at most 6 bytes per letter.
			if expectKey && i-start <= 64 && len(keys) < 8 {
				var k string
				if json.Unmarshal(b[start:min(i+1, len(b))], &k) == nil && isEnvelopeKey(k) {
					keys = append(keys, k)
				}
			}
			expectKey = false
		}
	}
	return depth, keys
}

func (p *payload) check() error {
	for name, v := range map[string]string{"account_id": p.AccountID, "end_user_id": p.EndUserID, "link_token_id": p.LinkTokenID, "platform_id": p.PlatformID} {
		if len(v) > maxIDLen {
			return fmt.Errorf("payload: %s longer than %d bytes", name, maxIDLen)
		}
	}
	for name, refs := range map[string][]pinwheel.PaystubRef{"added": p.Added, "deleted": p.Deleted} {
		for _, r := range refs {
			if r.ID == "" || len(r.ID) > maxIDLen {
				return fmt.Errorf("payload: an id of %s is empty or longer than %d bytes", name, maxIDLen)
			}
		}
	}
	return nil
}

// AccountID returns the payload's account_id ("" when absent or unreadable).
func (d Delivery) AccountID() string { return d.p.AccountID }

// EndUserID returns the payload's end_user_id.
func (d Delivery) EndUserID() string { return d.p.EndUserID }

// LinkTokenID returns the payload's link_token_id.
func (d Delivery) LinkTokenID() string { return d.p.LinkTokenID }

// OccurredAt is the event's own time: created_at of account.added, the
// timestamp of a job event; for account.monitoring_status.updated, whose
// payload has no time of its own (its fields are not documented publicly (docs/pinwheel.md#undocumented);
// the emulator sends the account.added field set, whose created_at is the
// account's creation),
// an updated_at or timestamp if present, else the X-Timestamp of the
// delivery, else the receive time. Zero only when nothing is known.
func (d Delivery) OccurredAt() time.Time {
	p := d.p
	switch {
	case d.Event == pinwheel.EventMonitoringStatusUpdated:
		for _, t := range []pinwheel.Time{p.UpdatedAt, p.Timestamp} {
			if !t.IsZero() {
				return t.UTC()
			}
		}
		if !d.SentAt.IsZero() {
			return d.SentAt.UTC()
		}
		return d.ReceivedAt.UTC()
	case !p.Timestamp.IsZero():
		return p.Timestamp.UTC()
	case !p.CreatedAt.IsZero():
		return p.CreatedAt.UTC()
	}
	return time.Time{}
}

// jobName is the job a job event reports: the payload's name, else the
// catalogue's job of the event, else the event name without its last
// segment (identity.added → identity).
func (d Delivery) jobName() string {
	if d.p.Name != "" {
		return d.p.Name
	}
	if e, ok := pinwheel.LookupEvent(d.Event); ok && e.Job != "" {
		return e.Job
	}
	if i := strings.LastIndexByte(d.Event, '.'); i > 0 {
		return d.Event[:i]
	}
	return d.Event
}

// origin is the events.origin of the delivery: NULL for one Pinwheel sent.
func (d Delivery) origin() sql.NullString {
	if d.Reconciled {
		return sql.NullString{String: OriginReconciled, Valid: true}
	}
	return sql.NullString{}
}

// OriginReconciled is the events.origin of an event Linkdesk wrote from
// Pinwheel's API (see Delivery.Reconciled).
const OriginReconciled = "reconciled"
