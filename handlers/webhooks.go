package handlers

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/pinwheel"
)

// MaxWebhookBody is the largest webhook body accepted (413 above).
const MaxWebhookBody = 1 << 20

// webhookHeaders are the delivery headers worth keeping with a rejection.
// Anything else (cookies, Authorization, an x-api-secret sent by mistake)
// is never stored.
var webhookHeaders = []string{
	"Content-Type", "Content-Length", "User-Agent", pinwheel.HeaderVersion,
	pinwheel.HeaderWebhookID, pinwheel.HeaderTimestamp, pinwheel.HeaderSignature,
}

// verifyReasons maps pinwheel.Verify's errors to rejection reasons.
var verifyReasons = []struct {
	err    error
	reason string
}{
	{pinwheel.ErrMissingSignature, db.ReasonMissingSignature},
	{pinwheel.ErrMalformedSignature, db.ReasonMalformedSignature},
	{pinwheel.ErrMissingTimestamp, db.ReasonMissingTimestamp},
	{pinwheel.ErrMalformedTimestamp, db.ReasonMalformedTimestamp},
	{pinwheel.ErrBadSignature, db.ReasonBadSignature},
	{pinwheel.ErrStaleTimestamp, db.ReasonStaleTimestamp},
	{pinwheel.ErrFutureTimestamp, db.ReasonFutureTimestamp},
}

// rejectMessages are the short reasons answered to the sender.
var rejectMessages = map[string]string{
	db.ReasonBodyTooLarge:       "Body larger than 1 MiB.",
	db.ReasonMissingSignature:   "Missing X-Pinwheel-Signature.",
	db.ReasonMalformedSignature: "Malformed X-Pinwheel-Signature.",
	db.ReasonMissingTimestamp:   "Missing X-Timestamp.",
	db.ReasonMalformedTimestamp: "Malformed X-Timestamp.",
	db.ReasonBadSignature:       "Invalid signature.",
	db.ReasonStaleTimestamp:     "X-Timestamp too old.",
	db.ReasonFutureTimestamp:    "X-Timestamp in the future.",
	db.ReasonReadError:          "Could not read the body.",
	db.ReasonInvalidUTF8:        "Body is not valid UTF-8.",
	db.ReasonInvalidJSON:        "Body is not valid JSON.",
	db.ReasonInvalidEnvelope:    "Body is not an event envelope.",
	db.ReasonMissingEventID:     "Missing event_id.",
	db.ReasonMissingEvent:       "Missing event.",
	db.ReasonPayloadNotObject:   "payload is not an object.",
	db.ReasonTooDeep:            "Body nested deeper than " + strconv.Itoa(db.MaxWebhookDepth) + " levels.",
	db.ReasonAmbiguousKey:       "event, event_id or payload appears twice or in other letter cases.",
}

// webhookAck is the body of a 200.
type webhookAck struct {
	Status string `json:"status"`
}

// WebhookReceive handles POST /webhooks/pinwheel: read at most 1 MiB,
// verify the signature over the exact bytes, check the envelope, and answer
// 200 only once the event and its projection are committed. Refused
// deliveries are recorded (without waiting for the disk) and answered 413,
// 401 or 400 with a short reason.
func (h *Handler) WebhookReceive(c echo.Context) error {
	r := c.Request()
	received := h.store.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	switch {
	case err != nil:
		return h.rejectWebhook(c, received, http.StatusBadRequest, db.ReasonReadError, body, false)
	case len(body) > MaxWebhookBody:
		return h.rejectWebhook(c, received, http.StatusRequestEntityTooLarge, db.ReasonBodyTooLarge, body, false)
	}

	sig, ts := r.Header.Get(pinwheel.HeaderSignature), r.Header.Get(pinwheel.HeaderTimestamp)
	if err := pinwheel.Verify(h.cfg.PinwheelSecret, sig, ts, body, received, h.cfg.WebhookTolerance); err != nil {
		return h.rejectWebhook(c, received, http.StatusUnauthorized, verifyReason(err), body, false)
	}

	d, err := db.ParseDelivery(body)
	var de *db.DeliveryError
	if errors.As(err, &de) {
		return h.rejectWebhook(c, received, http.StatusBadRequest, de.Reason, body, true)
	}
	d.ReceivedAt = received
	sent, _ := strconv.ParseInt(ts, 10, 64) // Verify checked it
	d.SentAt = time.Unix(sent, 0).UTC()
	d.WebhookID, d.APIVersion, d.Signature = r.Header.Get(pinwheel.HeaderWebhookID), r.Header.Get(pinwheel.HeaderVersion), sig

	res, err := h.ingest.Ingest(r.Context(), d)
	switch {
	case errors.Is(err, db.ErrIngesterClosed):
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Shutting down; deliver again.")
	case err != nil:
		return err
	case res.Duplicate:
		return c.JSON(http.StatusOK, webhookAck{Status: "duplicate"})
	}
	return c.JSON(http.StatusOK, webhookAck{Status: "accepted"})
}

// rejectWebhook records a refused delivery and returns the error answered.
func (h *Handler) rejectWebhook(c echo.Context, at time.Time, status int, reason string, body []byte, keepBody bool) error {
	r := c.Request()
	hd := map[string]string{}
	for _, k := range webhookHeaders {
		if v := r.Header.Get(k); v != "" {
			hd[k] = truncateRunes(v, 200)
		}
	}
	var size int64
	if status == http.StatusRequestEntityTooLarge && r.ContentLength > 0 {
		size = r.ContentLength
	}
	h.ingest.Reject(db.Rejection{
		At: at, Reason: reason, Status: status, RemoteAddr: r.RemoteAddr, Headers: hd,
		Body: body, BodySize: size, KeepBody: keepBody,
	})
	return echo.NewHTTPError(status, rejectMessages[reason])
}

func verifyReason(err error) string {
	for _, v := range verifyReasons {
		if errors.Is(err, v.err) {
			return v.reason
		}
	}
	return db.ReasonBadSignature
}

// truncateRunes shortens s to at most n bytes without splitting a rune.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
