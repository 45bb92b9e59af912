package db

import (
	"bytes"
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
)

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

// ParseDelivery checks that body is a webhook event: valid UTF-8, a JSON
// object with a string event_id and event and an object payload. It decodes
// the payload fields projections need; a payload whose fields have the wrong
// types is still a valid delivery (stored, marked as failed to project),
// because refusing it would only make Pinwheel redeliver the same bytes.
func ParseDelivery(body []byte) (Delivery, error) {
	if !utf8.Valid(body) {
		return Delivery{}, &DeliveryError{Reason: ReasonInvalidUTF8}
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Delivery{}, &DeliveryError{Reason: ReasonInvalidEnvelope, Err: err}
		}
		return Delivery{}, &DeliveryError{Reason: ReasonInvalidJSON, Err: err}
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
