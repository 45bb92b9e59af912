package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/pinwheel"
	"linkdesk/views"
)

// The launch page /l/:id is public: whoever holds the link (192 random
// bits) is the end user. It shows the organisation's name and what the user
// is asked to do, loads the Link script of the configured mode and opens
// Link with the link's token; static/js/launch.js reports each Link event to
// POST /l/:id/events.
//
// Nothing the public sends may cost more than a bounded amount: a
// mint-on-open link mints (odu.Minter.Open) one token at a time and at most
// db.MaxMintsPerLink in all, decided in the database (db.ClaimMint), and
// reported events can force a new token at most every db.MinRemintAge.

// Limits of the launch page and POST /l/:id/events.
const (
	// launchEventsPerMinute is the sustained rate per launch link (events
	// and page views); a Link session fires a few dozen events at most.
	launchEventsPerMinute = 60
	// launchEventsPerAddrMinute is the sustained rate of events per remote
	// address, whatever the link: it bounds what one client can make the
	// server read and write by cycling launch ids, while leaving room for
	// several users behind one NAT.
	launchEventsPerAddrMinute = 300
	// maxLaunchBody is the largest request body accepted.
	maxLaunchBody = 16 << 10
)

// launchLimiter is a token bucket per key (a launch id, or "addr " and a
// remote address), in process memory.
//
// Trade-off: an in-process bucket refuses a flood before it costs a query,
// at the price of forgetting its counts on restart and not being shared
// between processes. It is only the first line: the durable bounds are in
// the database (db.MaxLaunchEventsPerLink events and db.MaxMintsPerLink
// mints per link). Memory is bounded: when the map grows past maxBuckets,
// full (idle) buckets are dropped, and if that is not enough the map starts
// over.
type launchLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second of a launch id's bucket
	burst   float64
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens      float64
	at          time.Time
	rate, burst float64
}

const maxBuckets = 10000

func newLaunchLimiter(perMinute int) *launchLimiter {
	return &launchLimiter{rate: float64(perMinute) / 60, burst: float64(perMinute), buckets: map[string]*bucket{}, now: time.Now}
}

// allow takes one token from the bucket of launch id key.
func (l *launchLimiter) allow(key string) bool { return l.take(key, l.rate, l.burst) }

// allowAddr takes one token from the bucket of a remote address.
func (l *launchLimiter) allowAddr(addr string) bool {
	return l.take("addr "+addr, launchEventsPerAddrMinute/60.0, launchEventsPerAddrMinute)
}

func (l *launchLimiter) take(key string, rate, burst float64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: burst, at: now, rate: rate, burst: burst}
		l.buckets[key] = b
	}
	b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *launchLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*b.rate >= b.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		l.buckets = map[string]*bucket{}
	}
}

// launchHeaders keep the page and its bearer token out of caches, search
// engines and Referer headers (the launch id is in the URL).
func launchHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

// launchCSP allows, beyond our own origin, exactly the origin of the Link
// script of the configured mode, as a script source and as a frame source
// (the Link modal is an iframe from there).
func (h *Handler) launchCSP(nonce string) (csp, scriptURL string) {
	scriptURL = pinwheel.LinkScriptURL(h.cfg.PinwheelMode, h.cfg.EmulatorURL)
	origin := "'self'"
	if u, err := url.Parse(scriptURL); err == nil && u.Scheme != "" && u.Host != "" {
		origin = u.Scheme + "://" + u.Host
	}
	csp = "default-src 'self'; script-src 'self' 'nonce-" + nonce + "' " + origin + "; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; frame-src " + origin + "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return csp, scriptURL
}

// LaunchShow handles GET /l/:id: the public launch page. A live link opens
// Link (minting a token first for a mint-on-open link that needs one); an
// expired, used, revoked or closed one gets a plain page that never loads
// Link, and so does a live one that cannot have a token right now (429 or
// 503, with Retry-After).
func (h *Handler) LaunchShow(c echo.Context) error {
	id := c.Param("id")
	if !db.ValidLaunchID(id) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	ctx := c.Request().Context()
	l, err := h.store.LaunchByID(ctx, id)
	if err != nil {
		return err
	}
	org, err := h.store.OrgName(ctx)
	if err != nil {
		return err
	}
	launchHeaders(c)
	p := PageOf(c, org)
	if l.State == db.LaunchLive && !h.launches.allow(id) {
		// Checked before anything that may mint.
		c.Response().Header().Set("Retry-After", "60")
		return h.render(c, http.StatusTooManyRequests, views.LaunchClosed(p, views.LaunchProps{OrgName: org, Link: l.Link, State: views.LaunchUnavailable}))
	}
	if l.NeedsMint {
		visitor := db.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Email: "launch page"}
		if l, err = h.minter.Open(ctx, visitor, l); err != nil {
			return err
		}
	}
	props := views.LaunchProps{OrgName: org, Link: l.Link, State: l.State}
	switch {
	case l.State == db.LaunchUsed:
		return h.render(c, http.StatusOK, views.LaunchClosed(p, props))
	case l.State != db.LaunchLive:
		return h.render(c, http.StatusGone, views.LaunchClosed(p, props))
	case l.Token == "":
		props.State = views.LaunchUnavailable
		c.Response().Header().Set("Retry-After", strconv.Itoa(retrySeconds(l.RetryAfter)))
		return h.render(c, http.StatusServiceUnavailable, views.LaunchClosed(p, props))
	}
	if _, err := h.store.RecordLaunchEvent(ctx, id, db.EventPageOpened, nil); err != nil && !errors.Is(err, db.ErrTooManyEvents) {
		return err
	}
	csp, script := h.launchCSP(p.Nonce)
	c.Response().Header().Set("Content-Security-Policy", csp)
	props.Token, props.ScriptURL, props.EventsURL = l.Token, script, "/l/"+id+"/events"
	return h.render(c, http.StatusOK, views.LaunchPage(p, props))
}

// retrySeconds is a Retry-After value: d rounded up, 10 s when unknown.
func retrySeconds(d time.Duration) int {
	if d <= 0 {
		return 10
	}
	return int(math.Ceil(d.Seconds()))
}

// launchEvent is the body of POST /l/:id/events.
type launchEvent struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload"`
}

// LaunchEventCreate handles POST /l/:id/events: one Link event from the
// launch page, as JSON {name, payload}. It answers 204 when stored; 404 for
// an unknown link, 400 for a bad body, 410 for a link that takes no more
// events (revoked, closed or expired), 413 for a body over 16 KiB and 429
// for a flood (per remote address, then per link), in every case without
// changing anything. The link is looked up on the read pool before anything
// else, so a made-up id never takes the writer.
func (h *Handler) LaunchEventCreate(c echo.Context) error {
	id := c.Param("id")
	c.Response().Header().Set("Cache-Control", "no-store")
	if !db.ValidLaunchID(id) {
		return echo.NewHTTPError(http.StatusNotFound, "Unknown link.")
	}
	if !h.launches.allowAddr(c.RealIP()) {
		return &echo.HTTPError{Code: http.StatusTooManyRequests, Message: "Too many events from this address; slow down.", Internal: RetryAfter(2)}
	}
	ctx := c.Request().Context()
	if err := h.store.CheckLaunchEvents(ctx, id); err != nil {
		return launchEventError(err)
	}
	if !h.launches.allow(id) {
		return &echo.HTTPError{Code: http.StatusTooManyRequests, Message: "Too many events for this link; slow down.", Internal: RetryAfter(2)}
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxLaunchBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The body could not be read.")
	}
	if len(body) > maxLaunchBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "The event is too large.")
	}
	var ev launchEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil || dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest, "Send a JSON object {name, payload}.")
	}
	if ev.Name == db.EventPageOpened || ev.Name == db.EventMintFailed {
		return echo.NewHTTPError(http.StatusBadRequest, "That event name is reserved.")
	}
	if _, err := h.store.RecordLaunchEvent(ctx, id, ev.Name, ev.Payload); err != nil {
		return launchEventError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// launchEventError maps a refused launch event to its answer.
func launchEventError(err error) error {
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return echo.NewHTTPError(http.StatusBadRequest, "Send a Link event name (lower case) and a payload: "+db.PayloadLimits+".")
	case errors.Is(err, db.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "Unknown link.")
	case errors.Is(err, db.ErrLinkClosed):
		return echo.NewHTTPError(http.StatusGone, "This link no longer takes events.")
	case errors.Is(err, db.ErrTooManyEvents):
		return echo.NewHTTPError(http.StatusTooManyRequests, "This link has reported too many events.")
	}
	return err
}
