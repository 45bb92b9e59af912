package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
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

// Limits of POST /l/:id/events.
const (
	// launchEventsPerMinute is the sustained rate per launch link; a Link
	// session fires a few dozen events at most.
	launchEventsPerMinute = 60
	// maxLaunchBody is the largest request body accepted.
	maxLaunchBody = 16 << 10
	// launchMintTimeout bounds a mint-on-open call to Pinwheel.
	launchMintTimeout = 15 * time.Second
)

// launchLimiter is a token bucket per launch id, in process memory.
//
// Trade-off: an in-process bucket refuses a flood before it costs a write
// transaction (the writer is shared with webhook ingestion), at the price of
// forgetting its counts on restart and not being shared between processes,
// which Linkdesk, one process over SQLite, does not have. The durable bound
// is db.MaxLaunchEventsPerLink per link. Memory is bounded: when the map
// grows past maxBuckets, full (idle) buckets are dropped, and if that is not
// enough the map starts over.
type launchLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

const maxBuckets = 10000

func newLaunchLimiter(perMinute int) *launchLimiter {
	return &launchLimiter{rate: float64(perMinute) / 60, burst: float64(perMinute), buckets: map[string]*bucket{}, now: time.Now}
}

// allow takes one token from key's bucket.
func (l *launchLimiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *launchLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
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
// Link (minting a token first for a mint-on-open link); an expired, used or
// revoked one gets a plain page that never loads Link.
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
	props := views.LaunchProps{OrgName: org, Link: l.Link, State: l.State}
	switch l.State {
	case db.LaunchUsed:
		return h.render(c, http.StatusOK, views.LaunchClosed(p, props))
	case db.LaunchExpired, db.LaunchRevoked:
		return h.render(c, http.StatusGone, views.LaunchClosed(p, props))
	}
	if l.NeedsMint {
		if l.Token, err = h.mintOnOpen(ctx, c, l.Link, org); err != nil {
			props.State = views.LaunchUnavailable
			return h.render(c, http.StatusServiceUnavailable, views.LaunchClosed(p, props))
		}
	}
	if h.launches.allow(id) {
		if _, err := h.store.RecordLaunchEvent(ctx, id, db.EventPageOpened, nil); err != nil && !errors.Is(err, db.ErrTooManyEvents) {
			return err
		}
	}
	csp, script := h.launchCSP(p.Nonce)
	c.Response().Header().Set("Content-Security-Policy", csp)
	props.Token, props.ScriptURL, props.EventsURL = l.Token, script, "/l/"+id+"/events"
	return h.render(c, http.StatusOK, views.LaunchPage(p, props))
}

// errMintOnOpen is a mint-on-open that could not produce a token; the
// reason is in the audit trail and the link's launch events.
var errMintOnOpen = errors.New("handlers: mint on open failed")

// mintOnOpen mints a token for a mint-on-open link with its stored
// settings, records it, and returns it. A failure is audited and recorded as
// a mint_failed launch event (so staff see it on the token), and the user
// gets a page asking to try again later.
func (h *Handler) mintOnOpen(ctx context.Context, c echo.Context, lt db.LinkToken, org string) (string, error) {
	a := db.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Email: "launch page"}
	req, err := h.linkTokenRequest(ctx, settingsOf(lt), org)
	var kind string
	var res pinwheel.LinkToken
	switch {
	case errors.Is(err, errTargetArchived):
		kind = "deposit_account_archived"
	case err != nil:
		return "", err
	default:
		mctx, cancel := context.WithTimeout(ctx, launchMintTimeout)
		res, err = h.pw.CreateLinkToken(mctx, req)
		cancel()
	}
	if err != nil || kind != "" {
		f := mintFailure(err)
		if kind != "" {
			f.Kind = kind
		}
		f.AccountID, f.Jobs, f.Mode, f.TokenID = lt.AccountID, lt.Jobs, lt.Mode, lt.TokenID
		payload, _ := json.Marshal(map[string]any{"kind": f.Kind, "status": f.Status, "code": f.Code})
		_, _ = h.store.RecordLaunchEvent(ctx, lt.LaunchID, db.EventMintFailed, payload)
		if err := h.store.RecordMintFailure(ctx, a, f); err != nil {
			return "", err
		}
		return "", errMintOnOpen
	}
	m := db.MintResult{LinkTokenID: res.ID, Token: res.Token, ExpiresAt: res.Expires.Time, APIVersion: h.cfg.PinwheelVersion}
	if err := h.store.AddMint(ctx, a, lt.TokenID, m); err != nil {
		return "", err
	}
	return res.Token, nil
}

// launchEvent is the body of POST /l/:id/events.
type launchEvent struct {
	Name    string          `json:"name"`
	Payload json.RawMessage `json:"payload"`
}

// LaunchEventCreate handles POST /l/:id/events: one Link event from the
// launch page, as JSON {name, payload}. It answers 204 when stored; 404 for
// an unknown link, 400 for a bad body, 410 for a link that takes no more
// events (revoked or expired), 413 for a body over 16 KiB and 429 for a
// flood, in every case without changing anything.
func (h *Handler) LaunchEventCreate(c echo.Context) error {
	id := c.Param("id")
	c.Response().Header().Set("Cache-Control", "no-store")
	if !db.ValidLaunchID(id) {
		return echo.NewHTTPError(http.StatusNotFound, "Unknown link.")
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
	_, err = h.store.RecordLaunchEvent(c.Request().Context(), id, ev.Name, ev.Payload)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return echo.NewHTTPError(http.StatusBadRequest, "Send a Link event name (lower case) and a payload object of at most 8 KiB.")
	case errors.Is(err, db.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "Unknown link.")
	case errors.Is(err, db.ErrLinkClosed):
		return echo.NewHTTPError(http.StatusGone, "This link no longer takes events.")
	case errors.Is(err, db.ErrTooManyEvents):
		return echo.NewHTTPError(http.StatusTooManyRequests, "This link has reported too many events.")
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
