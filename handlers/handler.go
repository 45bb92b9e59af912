// Package handlers holds Linkdesk's echo handlers. They are thin: parse the
// input, call one Store method (or the odu Minter, which calls Pinwheel and
// then the Store), and render a views component. Errors are returned, never
// logged or rendered here: web's error handler turns them into responses.
package handlers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/pinwheel"
)

// Config is what handlers need to know about the deployment.
type Config struct {
	// BaseURL is the public URL of Linkdesk, e.g. http://127.0.0.1:8080.
	BaseURL string
	// SecureCookies sets the Secure flag (true when BaseURL is https).
	SecureCookies bool
	// SessionHashKey and SessionBlockKey sign and encrypt the session cookie.
	SessionHashKey, SessionBlockKey []byte
	// OldSessionKeys are older (hash, block) pairs, newest first: cookies
	// they made are still read (and re-issued under the newest keys when
	// saved), so rotating LINKDESK_SESSION_KEYS signs nobody out.
	OldSessionKeys [][2][]byte
	// LaunchBaseURL is the origin of launch pages when they have one of
	// their own (LINKDESK_LAUNCH_BASE_URL); "" means BaseURL. See
	// launchhost.go.
	LaunchBaseURL string
	// PinwheelMode is emulator, sandbox, development or production.
	PinwheelMode pinwheel.Mode
	// PinwheelSecret is the API secret: it authenticates API calls and
	// signs webhooks.
	PinwheelSecret string
	// WebhookTolerance is the accepted clock skew of X-Timestamp.
	WebhookTolerance time.Duration
	// EmulatorURL is the emulator's public base (emulator mode only).
	EmulatorURL string
	// PinwheelVersion is the Pinwheel-Version the client sends; it decides
	// how jobs are expressed in a Link token (required_jobs or features).
	PinwheelVersion string
	// LiveReread is how often a live stream reads without being told of
	// a change (a notification lost while a listener reconnected; panels
	// that change with time alone) on PostgreSQL; 0 means 30 s. On SQLite
	// streams read every second whatever it says (handlers/live.go).
	LiveReread time.Duration
	// LinkLifetime is how long a launch link that mints on open stays
	// usable (LINKDESK_LINK_LIFETIME); 0 means 7 days.
	LinkLifetime time.Duration
	// WriteTimeout is how long a response may take to reach the client
	// once it starts (web.New sets it on every response), and how long
	// each piece of a stream (an export, a live timeline) may take; 0
	// means DefaultWriteTimeout. Tests of slow readers set a short one.
	WriteTimeout time.Duration
}

// DefaultWriteTimeout is the write deadline of a response, and of each
// piece of a stream.
const DefaultWriteTimeout = 30 * time.Second

// Handler carries the dependencies of every handler.
type Handler struct {
	store    *db.Store
	cfg      Config
	sessions *sessions.CookieStore
	devices  *sessions.CookieStore // the device cookie (auth.go)
	log      *slog.Logger
	pw       *pinwheel.Client
	ingest   Ingester
	minter   *odu.Minter
	launches *launchLimiter
	exports  *exportLimiter
	// done is closed when the server shuts down; live streams end then.
	done <-chan struct{}
	// wake tells the job runner that jobs were queued (nil: it polls).
	wake func()
}

// Ingester stores verified webhook deliveries exactly once, answering after
// the commit, and records refused ones without waiting for the disk.
// *db.Ingester (the group-commit writer) implements it.
type Ingester interface {
	Ingest(ctx context.Context, d db.Delivery) (db.IngestResult, error)
	Reject(r db.Rejection)
}

// noIngester stands in when no Ingester is wired: webhooks get 503.
type noIngester struct{}

func (noIngester) Ingest(context.Context, db.Delivery) (db.IngestResult, error) {
	return db.IngestResult{}, db.ErrIngesterClosed
}

func (noIngester) Reject(db.Rejection) {}

// Deps are the collaborators handlers.New wires in.
type Deps struct {
	Store    *db.Store
	Logger   *slog.Logger
	Pinwheel *pinwheel.Client
	Ingest   Ingester
	// Done is closed when the server begins to shut down, so that
	// long-lived responses (live timelines over SSE) end: http.Server's
	// Shutdown waits for them but does not cancel their contexts. Nil means
	// never.
	Done <-chan struct{}
	// Wake tells the job runner that a request queued a job (a campaign
	// launch), so that it starts at once rather than at its next poll; nil
	// means the runner finds it by polling.
	Wake func()
	// Now is the clock of in-process limits (the launch-event buckets);
	// nil means time.Now. Tests pass a controlled clock so that a limit
	// never depends on how fast the machine runs the test.
	Now func() time.Time
}

// New builds the Handler.
func New(d Deps, cfg Config) *Handler {
	if cfg.WebhookTolerance == 0 {
		cfg.WebhookTolerance = 5 * time.Minute
	}
	pairs := [][]byte{cfg.SessionHashKey, cfg.SessionBlockKey}
	for _, p := range cfg.OldSessionKeys {
		pairs = append(pairs, p[0], p[1])
	}
	cs := sessions.NewCookieStore(pairs...)
	cs.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(sessionIdle / time.Second),
		HttpOnly: true,
		Secure:   cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
	cs.MaxAge(cs.Options.MaxAge)
	ds := sessions.NewCookieStore(pairs...)
	ds.Options = &sessions.Options{Path: "/", MaxAge: int(deviceMaxAge / time.Second), HttpOnly: true, Secure: cfg.SecureCookies, SameSite: http.SameSiteLaxMode}
	ds.MaxAge(ds.Options.MaxAge)
	if d.Ingest == nil {
		d.Ingest = noIngester{}
	}
	if cfg.LiveReread <= 0 {
		cfg.LiveReread = 30 * time.Second
	}
	if cfg.LinkLifetime <= 0 {
		cfg.LinkLifetime = odu.DefaultLinkLifetime
	}
	if cfg.PinwheelVersion == "" {
		cfg.PinwheelVersion = pinwheel.DefaultVersion
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	launches := newLaunchLimiter(launchEventsPerMinute)
	if d.Now != nil {
		launches.now = d.Now
	}
	minter := odu.New(odu.Config{Store: d.Store, Client: d.Pinwheel, APIVersion: cfg.PinwheelVersion, LinkLifetime: cfg.LinkLifetime})
	return &Handler{store: d.Store, cfg: cfg, sessions: cs, devices: ds, log: d.Logger, pw: d.Pinwheel, ingest: d.Ingest,
		minter: minter, launches: launches, exports: newExportLimiter(), done: d.Done, wake: d.Wake}
}

// WriteTimeout is the write deadline web.New gives every response.
func (h *Handler) WriteTimeout() time.Duration { return h.cfg.WriteTimeout }

// render renders c into a buffer first, so that a template error still
// becomes a clean 500 instead of half a page.
func (h *Handler) render(c echo.Context, status int, comp templ.Component) error {
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// pathID parses the :id path parameter as a positive integer (our own
// row IDs: staff, deposit accounts).
func pathID(c echo.Context) (int64, error) { return pathInt(c, "id") }

// pathInt parses the path parameter name as a positive integer.
func pathInt(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidID()
	}
	return id, nil
}

// pathParam returns the path parameter name as text (a Pinwheel ID, an
// end_user_id: anything up to 255 characters of UTF-8). Views escape IDs
// into one path segment; when the URL carries escapes echo routes on the
// raw path and leaves the parameter escaped, so it is unescaped here, and
// only then (a literal "%" must stay one).
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath != "" {
		u, err := url.PathUnescape(v)
		if err != nil {
			return "", invalidID()
		}
		v = u
	}
	if v == "" || utf8.RuneCountInString(v) > 255 || !utf8.ValidString(v) {
		return "", invalidID()
	}
	return v, nil
}

// invalidID is the error of a path ID that cannot be one.
func invalidID() error { return echo.NewHTTPError(http.StatusBadRequest, "Invalid ID.") }

// isHTMX reports whether the request came from htmx.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// together runs reads side by side and returns the first error in the
// order given. A detail page's timeline, "who saw this" and panels are
// independent reads, each a dozen short queries: on PostgreSQL every query
// is a round trip, and reading the three groups at once saves the page
// most of their waiting (docs/PERFORMANCE.md, PostgreSQL, "Fourth pass"). The request's
// query string is parsed first (echo parses it lazily, and reads may
// consult it); a panic in a read becomes its error instead of ending the
// process, since web's recover middleware only sees the request's own
// goroutine.
func together(c echo.Context, reads ...func() error) error {
	c.QueryParams()
	errs := make([]error, len(reads))
	run := func(i int) {
		defer func() {
			if r := recover(); r != nil {
				errs[i] = fmt.Errorf("handlers: read panicked: %v", r)
			}
		}()
		errs[i] = reads[i]()
	}
	var wg sync.WaitGroup
	for i := 1; i < len(reads); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(i)
		}()
	}
	if len(reads) > 0 {
		run(0)
	}
	// Every read ends before the request does: echo reuses c afterwards.
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
