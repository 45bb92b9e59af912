package sandbox

import (
	"crypto/subtle"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// Faults are failure knobs for testing clients against a misbehaving
// Pinwheel. The zero value (the default) injects nothing.
type Faults struct {
	// Latency is added to every affected /v1 response.
	Latency time.Duration
	// ErrorRate is the share (0..1) of affected /v1 requests answered
	// 500 UNKNOWN_ERROR.
	ErrorRate float64
	// RateLimitRate is the share (0..1) of affected /v1 requests answered
	// 429 with a Retry-After header.
	RateLimitRate float64
	// RetryAfter is the Retry-After of those 429s; 0 means 1 s.
	RetryAfter time.Duration
	// DuplicateRate is the share (0..1) of webhook events delivered twice.
	DuplicateRate float64
	// Reorder delivers queued webhooks out of order (shuffled within a batch).
	Reorder bool
	// Paths limits Latency, ErrorRate and RateLimitRate to requests whose
	// path starts with one of these prefixes (e.g. "/v1/link_tokens");
	// empty means every /v1 request.
	Paths []string
}

// SetFaults replaces the fault knobs; it takes effect for the next request
// and the next delivery.
func (e *Emulator) SetFaults(f Faults) {
	f.Paths = slices.Clone(f.Paths)
	e.faultsMu.Lock()
	e.faults = f
	e.faultsMu.Unlock()
}

func (e *Emulator) currentFaults() Faults {
	e.faultsMu.RLock()
	defer e.faultsMu.RUnlock()
	return e.faults
}

// applyFaults injects latency and errors; it returns false when it has
// answered the request itself.
func (e *Emulator) applyFaults(w http.ResponseWriter, r *http.Request) bool {
	f := e.currentFaults()
	if len(f.Paths) > 0 && !slices.ContainsFunc(f.Paths, func(p string) bool { return strings.HasPrefix(r.URL.Path, p) }) {
		return true
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		e.writeError(w, unknownError())
		return false
	}
	if f.RateLimitRate > 0 && rand.Float64() < f.RateLimitRate {
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		e.writeRateLimit(w, ra)
		return false
	}
	return true
}

// RecordedRequest is one /v1 request as the emulator received it, for tests
// that assert the exact request a client sent.
type RecordedRequest struct {
	// Method is the HTTP method.
	Method string
	// Path is the path relative to the emulator's mount point (/v1/...).
	Path string
	// Query is the parsed query string.
	Query url.Values
	// Header is a copy of the request headers with x-api-secret redacted.
	Header http.Header
	// Body is the raw request body.
	Body []byte
	// Time is when the request arrived (Config.Now).
	Time time.Time
}

// maxRecorded is how many /v1 requests Requests keeps.
const maxRecorded = 200

// redacted replaces the API secret in recorded headers.
const redacted = "[REDACTED]"

func (e *Emulator) record(r *http.Request, body []byte) {
	h := r.Header.Clone()
	if h.Get(pinwheel.HeaderAPISecret) != "" {
		h.Set(pinwheel.HeaderAPISecret, redacted)
	}
	rec := RecordedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: h,
		Body: slices.Clone(body), Time: e.now()}
	e.reqMu.Lock()
	defer e.reqMu.Unlock()
	if len(e.requests) >= maxRecorded {
		e.requests = slices.Delete(e.requests, 0, len(e.requests)-maxRecorded+1)
	}
	e.requests = append(e.requests, rec)
}

// Requests returns the last ~200 /v1 requests received, oldest first, with
// the x-api-secret header redacted.
func (e *Emulator) Requests() []RecordedRequest {
	e.reqMu.Lock()
	defer e.reqMu.Unlock()
	return slices.Clone(e.requests)
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
