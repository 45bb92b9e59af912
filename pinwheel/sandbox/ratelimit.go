package sandbox

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"linkdesk/pinwheel"
)

// DefaultRateLimit is the /v1 requests per second each API secret may make
// when Config.RateLimit is 0. Pinwheel publishes no rate limit
// (docs/pinwheel.md#rate-limits); the only public figure, third-party and
// unverified, is 10 requests per second in sandbox, so we chose that.
const DefaultRateLimit = 10

// limiter is a token bucket per API secret on the emulator's clock
// (Config.Now), so a test that freezes or moves the clock decides exactly
// which request is refused. The bucket holds one second's worth of
// requests (at least one) and refills continuously.
type limiter struct {
	rate  float64 // tokens per second; <= 0: no limit
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate float64, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: max(1, math.Ceil(rate)), now: now, buckets: map[string]*bucket{}}
}

// take spends one token of key's bucket; when none is left it returns how
// long until one is.
func (l *limiter) take(key string) (ok bool, wait time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// rateLimited answers 429 when the request's secret has no token left. The
// answer's shape is not documented publicly (docs/pinwheel.md#undocumented):
// we chose the documented envelope with type UNKNOWN_ERROR (one of the four
// documented types; a rate limit fits none better) and the emulator-only code
// EMULATOR_RATE_LIMITED, and Retry-After in whole seconds, at least 1.
func (e *Emulator) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := e.limiter.take(r.Header.Get(pinwheel.HeaderAPISecret))
	if ok {
		return false
	}
	e.log.Debug("sandbox: rate limited", "method", r.Method, "path", r.URL.Path, "wait", wait)
	e.writeRateLimit(w, wait)
	return true
}

func (e *Emulator) writeRateLimit(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	e.writeError(w, apiError(http.StatusTooManyRequests, pinwheel.TypeUnknown, codeRateLimited,
		"Too many requests. Retry after "+strconv.Itoa(secs)+" s."))
}
