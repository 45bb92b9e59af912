// Package web is Linkdesk's HTTP server: the echo instance, its middleware,
// the route table (routes.go) and the one error handler that turns errors
// into responses.
package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"linkdesk/db"
	"linkdesk/handlers"
	"linkdesk/views"
)

// Options configure the server.
type Options struct {
	Logger *slog.Logger
	// Metrics record requests and are served on /metrics; nil means a set
	// of its own on a new registry.
	Metrics *Metrics
	// Extra mounts additional handlers by path prefix (the in-process
	// emulator under "/sandbox/"), outside echo's middleware; nil for none.
	Extra map[string]http.Handler
	// MetricsElsewhere leaves /metrics out of this handler (404): serve
	// runs MetricsHandler on a listener of its own (LINKDESK_METRICS_ADDR).
	MetricsElsewhere bool
}

// MetricsHandler serves the Prometheus text format of m's registry (the
// listener of LINKDESK_METRICS_ADDR).
func MetricsHandler(m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{}))
	return mux
}

// New builds the whole HTTP handler: cross-origin protection around echo,
// echo's middleware chain, and every route.
func New(h *handlers.Handler, store *db.Store, opt Options) http.Handler {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Metrics == nil {
		opt.Metrics = NewMetrics(prometheus.NewRegistry(), store)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The client address is the socket's: X-Forwarded-For and X-Real-IP are
	// typed by the client and would let it dodge the sign-in throttle and
	// forge audit rows. Behind a proxy, trust its range here.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = errorHandler(opt.Logger, h)

	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: newRequestID}))
	e.Use(requestLog(opt.Logger))
	e.Use(opt.Metrics.middleware)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		opt.Logger.Error("panic", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err, "stack", string(stack))
		return err
	}}))
	e.Use(securityHeaders)
	e.Use(h.SeparateLaunchHost)
	// Body limits and the JSON error format are per route (routes.go).
	e.Use(h.PageContext)
	var reg *prometheus.Registry
	if !opt.MetricsElsewhere {
		reg = opt.Metrics.Registry()
	}
	routes(e, h, reg)

	// Extra handlers (the emulator under /sandbox/) sit beside echo, not
	// inside it: they are another service's pages with their own headers
	// (the Link iframe must be framable by the launch page).
	var root http.Handler = e
	if len(opt.Extra) > 0 {
		mux := http.NewServeMux()
		for prefix, handler := range opt.Extra {
			mux.Handle(prefix, handler)
		}
		mux.Handle("/", e)
		root = mux
	}
	cop := http.NewCrossOriginProtection()
	return writeDeadline(cop.Handler(root), h.WriteTimeout())
}

// writeDeadline gives every response a write deadline: from its first
// byte, the whole response must reach the client within timeout, or the
// connection is cut. A client that stops reading therefore holds a
// goroutine and its buffers for at most that long. http.Server's own
// WriteTimeout cannot do this job: it counts from the end of the request's
// headers and cannot be extended, which would end every live timeline
// (SSE) after that long. Streams move their deadline forward as they go
// instead (handlers' deadlineWriter and live).
func writeDeadline(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&deadlineResponse{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}, r)
	})
}

// deadlineResponse sets the write deadline at the first byte. Unwrap lets
// http.ResponseController (and echo's Response, which flushes through it)
// reach the connection's writer.
type deadlineResponse struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (d *deadlineResponse) start() {
	if !d.started {
		d.started = true
		d.rc.SetWriteDeadline(time.Now().Add(d.timeout)) // unsupported by test recorders: then none
	}
}

func (d *deadlineResponse) WriteHeader(code int) {
	d.start()
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineResponse) Write(p []byte) (int, error) {
	d.start()
	return d.ResponseWriter.Write(p)
}

// Flush flushes through the wrapped writer.
func (d *deadlineResponse) Flush() {
	d.start()
	d.rc.Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (d *deadlineResponse) Unwrap() http.ResponseWriter { return d.ResponseWriter }

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// requestLog writes one structured line per request. It logs the route
// pattern and path only: no query strings (they may carry IDs typed by
// staff), no headers, no bodies, no cookies.
func requestLog(log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			lvl := slog.LevelInfo
			if status >= 500 {
				lvl = slog.LevelError
			}
			log.Log(c.Request().Context(), lvl, "request",
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
				"method", c.Request().Method, "route", c.Path(), "status", status,
				"duration_ms", float64(time.Since(start).Microseconds())/1000, "bytes", c.Response().Size)
			return nil
		}
	}
}

// securityHeaders sets a nonce-based CSP and the other headers on every
// response. A handler may replace the CSP (the launch page allows the Link
// script's origin) through handlers.SetCSP.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		nonce := make([]byte, 16)
		rand.Read(nonce)
		n := base64.StdEncoding.EncodeToString(nonce)
		c.Set(handlers.NonceKey, n)
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", handlers.DefaultCSP(n))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		return next(c)
	}
}

// errorHandler is the one place errors become responses.
func errorHandler(log *slog.Logger, h *handlers.Handler) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		reqID := c.Response().Header().Get(echo.HeaderXRequestID)
		if c.Response().Committed {
			log.Error("error after response committed", "request_id", reqID, "method", c.Request().Method, "route", c.Path(), "err", err)
			return
		}
		status, msg := classify(err)
		switch {
		case status >= 500:
			log.Error("request failed", "request_id", reqID, "method", c.Request().Method, "route", c.Path(), "err", err)
		case status == http.StatusBadRequest || status == http.StatusForbidden:
			log.Warn("request refused", "request_id", reqID, "method", c.Request().Method, "route", c.Path(), "status", status)
		}
		if status < 500 {
			reqID = ""
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			for k, v := range headersOf(he) {
				c.Response().Header().Set(k, v)
			}
		}
		if c.Request().Method == http.MethodHead {
			c.NoContent(status)
			return
		}
		if wantsJSONErrors(c) {
			c.JSON(status, map[string]string{"error": msg})
			return
		}
		var buf bytes.Buffer
		if handlers.IsLaunchPage(c) {
			// An end user's page: the organisation's, never the staff
			// console's.
			if err := h.LaunchErrorPage(c, status).Render(c.Request().Context(), &buf); err != nil {
				c.String(status, msg)
				return
			}
			c.HTMLBlob(status, buf.Bytes())
			return
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			views.ErrorAlert(msg, reqID).Render(c.Request().Context(), &buf)
			c.Response().Header().Set("HX-Retarget", "#flash")
			c.Response().Header().Set("HX-Reswap", "innerHTML")
			c.HTMLBlob(status, buf.Bytes())
			return
		}
		p := handlers.PageOf(c, http.StatusText(status))
		p.RequestID = reqID
		var page templ.Component
		switch {
		case status == http.StatusNotFound:
			p.Title = "Not found"
			what, query := notFoundWhat(c)
			if what != "" && msg == defaultMessage(http.StatusNotFound) {
				msg = what
			}
			p.Search = query
			page = views.ErrorPage(p, status, msg)
		default:
			page = views.ErrorPage(p, status, msg)
		}
		if err := page.Render(c.Request().Context(), &buf); err != nil {
			c.String(status, msg)
			return
		}
		c.HTMLBlob(status, buf.Bytes())
	}
}

// notFoundNouns name what each route's ID parameter identifies.
var notFoundNouns = map[string][2]string{
	"/accounts/:account_id":           {"account", "account_id"},
	"/accounts/:account_id/update":    {"account", "account_id"},
	"/end-users/:end_user_id":         {"end user", "end_user_id"},
	"/events/:event_id":               {"event", "event_id"},
	"/tokens/:token_id":               {"token", "token_id"},
	"/tokens/:token_id/revoke":        {"token", "token_id"},
	"/alerts/:alert_id":               {"alert", "alert_id"},
	"/campaigns/:campaign_id":         {"campaign", "campaign_id"},
	"/monitoring/reconnect/:batch_id": {"batch of reconnect links", "batch_id"},
}

// notFoundWhat says what a 404 did not find ("No account 9eeb1c2d…") and
// the text to prefill the search box with; "" for a route without a
// known subject.
func notFoundWhat(c echo.Context) (what, query string) {
	if n, ok := notFoundNouns[c.Path()]; ok {
		id := c.Param(n[1])
		if u, err := url.PathUnescape(id); err == nil {
			id = u
		}
		shown := id
		if r := []rune(id); len(r) > 40 {
			shown = string(r[:40]) + "…"
		}
		return "No " + n[0] + " " + printable(shown) + " is known to Linkdesk.", id
	}
	if c.Path() == "/*" || c.Path() == "" {
		path := c.Request().URL.Path
		if r := []rune(path); len(r) > 60 {
			path = string(r[:60]) + "…"
		}
		return "There is no page at " + path + ".", ""
	}
	return "", ""
}

// printable drops control characters from text typed into a URL.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return -1
		}
		return r
	}, s)
}

// headersOf returns headers an HTTPError asks for (Retry-After on 429).
func headersOf(he *echo.HTTPError) map[string]string {
	if ra, ok := he.Internal.(handlers.RetryAfter); ok {
		return map[string]string{"Retry-After": strconv.Itoa(int(ra))}
	}
	return nil
}

// classify maps an error to a status and a message we wrote ourselves; the
// error's own text is never shown.
func classify(err error) (int, string) {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		msg, ok := he.Message.(string)
		if !ok || he.Message == http.StatusText(he.Code) || msg == "" {
			msg = defaultMessage(he.Code)
		}
		return he.Code, msg
	case errors.Is(err, db.ErrNotFound):
		return http.StatusNotFound, "Not found."
	case errors.Is(err, db.ErrConflict):
		return http.StatusConflict, "That already exists."
	case errors.Is(err, context.Canceled):
		return 499, "Request cancelled."
	}
	return http.StatusInternalServerError, defaultMessage(500)
}

func defaultMessage(status int) string {
	switch status {
	case http.StatusNotFound:
		return "Not found."
	case http.StatusForbidden:
		return "You don't have access to this."
	case http.StatusMethodNotAllowed:
		return "That action is not allowed here."
	case http.StatusRequestEntityTooLarge:
		return "The request is too large."
	case http.StatusTooManyRequests:
		return "Too many requests. Try again later."
	case http.StatusBadRequest:
		return "The request was not understood."
	case http.StatusConflict:
		return "That already exists."
	}
	if status >= 500 {
		return "Something went wrong."
	}
	return http.StatusText(status)
}
