package pinwheel

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// API error types (the "type" of the error envelope). Programs should rely
// only on Type and Code; Message and Fields are for humans and may change.
const (
	TypeInvalidRequest = "INVALID_REQUEST_PARAMETERS"
	TypeNotFound       = "RECORD_NOT_FOUND"
	TypeUnauthorized   = "UNAUTHORIZED_REQUEST"
	TypeUnknown        = "UNKNOWN_ERROR"
)

// Error is an error response of the Pinwheel API, decoded from
// {"error": {type, code, message, status_code, fields}}. A response whose
// body is not that envelope still becomes an *Error with Type TypeUnknown.
//
// StatusCode is the HTTP status of the response (it wins over the body's
// status_code should they differ). RequestID and RetryAfter come from the
// response headers and are not part of the JSON.
type Error struct {
	Type       string        `json:"type"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	StatusCode int           `json:"status_code"`
	Fields     []FieldError  `json:"fields,omitempty"`
	RequestID  string        `json:"-"`
	RetryAfter time.Duration `json:"-"`
}

// FieldError is one entry of an API error's fields: a validation message
// about one request field.
type FieldError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// ErrorEnvelope is the JSON body of an API error response; the emulator
// writes it and the client reads it.
type ErrorEnvelope struct {
	Error *Error `json:"error"`
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pinwheel: %d %s", e.StatusCode, e.Type)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s: %s", f.Name, f.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// The HTTP status of each error type is not documented publicly (docs/pinwheel.md#undocumented)
// (docs/pinwheel.md#errors): we chose helpers that accept either the
// documented type or the plausible status (400, 401/403, 404), because they
// then keep working whichever Pinwheel sends. They never look at Code, whose
// values are undocumented but for INVALID_ROUTING_NUMBER.

// IsInvalidRequest reports whether err is an API error about the request's
// parameters (INVALID_REQUEST_PARAMETERS, or HTTP 400/422).
func IsInvalidRequest(err error) bool {
	e, ok := asError(err)
	return ok && (e.Type == TypeInvalidRequest ||
		e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity)
}

// IsNotFound reports whether err is an API error for a missing record
// (RECORD_NOT_FOUND, or HTTP 404).
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && (e.Type == TypeNotFound || e.StatusCode == http.StatusNotFound)
}

// IsUnauthorized reports whether err is an API error for a missing or wrong
// API secret (UNAUTHORIZED_REQUEST, or HTTP 401/403).
func IsUnauthorized(err error) bool {
	e, ok := asError(err)
	return ok && (e.Type == TypeUnauthorized ||
		e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// IsRateLimited reports whether err is an HTTP 429 API error.
func IsRateLimited(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusTooManyRequests
}

// IsServerError reports whether err is an HTTP 5xx API error.
func IsServerError(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode >= 500 && e.StatusCode <= 599
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e) && e != nil
	return e, ok
}

// TransportError is a failure to get any HTTP response: connection refused,
// DNS, TLS, timeout, cancelled context. Err is the underlying error (so
// errors.Is(err, context.DeadlineExceeded) works through it).
//
// NeverSent is true only when the request provably never reached Pinwheel
// (the dial, DNS lookup or TLS handshake failed); only then is it safe to
// resend a non-idempotent request such as POST /link_tokens.
type TransportError struct {
	Op        string
	Err       error
	NeverSent bool
}

// Error implements error.
func (e *TransportError) Error() string {
	if e.Err == nil {
		return "pinwheel: " + e.Op + ": transport error"
	}
	return "pinwheel: " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *TransportError) Unwrap() error { return e.Err }

// neverSent reports whether a transport error happened before any byte of
// the request could have reached the server.
func neverSent(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	// TLS handshake failures: the HTTP request is written only after the
	// handshake completes.
	var (
		recErr    tls.RecordHeaderError
		alertErr  tls.AlertError
		verifyErr *tls.CertificateVerificationError
		authErr   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verifyErr),
		errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &certErr):
		return true
	}
	// net/http reports a handshake timeout with an unexported type, so the
	// message is the only handle on it.
	return strings.Contains(err.Error(), "TLS handshake timeout")
}
