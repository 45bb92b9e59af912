package handlers

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// Live timelines. The account and end user pages open a server-sent event
// stream (htmx's SSE extension) that prepends new timeline entries. The
// stream is driven by the database, not by in-process signals, so it stays
// correct with several Linkdesk processes on one database: each connection
// polls for entries above the positions it has sent (an index probe per
// source) every livePoll, and sends a comment as heartbeat every
// liveHeartbeat so that proxies keep the connection open. Each message's
// SSE id is the new position, so a reconnecting browser resumes where it
// left off (Last-Event-ID) and never gets an entry twice.

const (
	livePoll      = time.Second
	liveHeartbeat = 15 * time.Second
	// liveRecheck is how often a stream re-reads its viewer's staff row
	// when it has nothing to send (it also does before every entry it
	// sends): a deactivated or signed-out person's stream ends, a demoted
	// one's entries are masked for the new role, within this long.
	liveRecheck = 5 * time.Second
)

// timelineKind reads the ?kind= filter.
func timelineKind(c echo.Context) ([]string, string, error) {
	k := c.QueryParam("kind")
	if k == "" {
		return nil, "", nil
	}
	for _, x := range db.TimelineKinds {
		if x == k {
			return []string{k}, k, nil
		}
	}
	return nil, "", echo.NewHTTPError(http.StatusBadRequest, "Choose webhook, staff or link.")
}

// timeline reads the page of a timeline the request asks for (?before=,
// ?kind=) and the URLs of its next page and live stream.
func (h *Handler) timeline(c echo.Context, q db.TimelineQuery, base, live string) (views.TimelineProps, error) {
	kinds, kind, err := timelineKind(c)
	if err != nil {
		return views.TimelineProps{}, err
	}
	before, err := db.ParseTimelineCursor(c.QueryParam("before"))
	if err != nil {
		return views.TimelineProps{}, badCursor()
	}
	q.Kinds, q.Before = kinds, before
	pg, err := h.store.Timeline(c.Request().Context(), q)
	if err != nil {
		return views.TimelineProps{}, err
	}
	t := views.TimelineProps{Page: pg, Role: role(c), Kind: kind, Base: base, Account: q.AccountID}
	v := url.Values{}
	setIf(v, "kind", kind)
	if !pg.Next.IsZero() {
		nv := url.Values{"before": {pg.Next.String()}}
		setIf(nv, "kind", kind)
		t.Next = withQuery(base, nv) + "#timeline"
	}
	if before.IsZero() {
		v.Set("after", pg.Latest.String())
		t.Live = withQuery(live, v)
	}
	return t, nil
}

// AccountLive handles GET /accounts/:account_id/live: the account's new
// timeline entries as server-sent events (see live).
func (h *Handler) AccountLive(c echo.Context) error {
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	return h.live(c, db.TimelineQuery{AccountID: id})
}

// EndUserLive handles GET /end-users/:end_user_id/live: the end user's new
// timeline entries as server-sent events (see live).
func (h *Handler) EndUserLive(c echo.Context) error {
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	return h.live(c, db.TimelineQuery{EndUserID: id})
}

// live streams the timeline entries after the position in Last-Event-ID
// (a reconnect) or ?after= (the page's newest positions); without either it
// starts from now. A request that does not accept text/event-stream gets
// one poll's entries as an HTML fragment, newest first (polling clients,
// tests), with the next position in the X-Timeline-Cursor header.
//
// With ?watch=income (the income report) it also sends an "income" event
// whenever the report's data changed (db.IncomeVersion differs from ?v=,
// then from the last one sent): the page reloads its report part. The
// fragment answer carries the current version in X-Income-Version.
func (h *Handler) live(c echo.Context, q db.TimelineQuery) error {
	ctx := c.Request().Context()
	kinds, _, err := timelineKind(c)
	if err != nil {
		return err
	}
	q.Kinds = kinds
	from := c.Request().Header.Get("Last-Event-ID")
	if from == "" {
		from = c.QueryParam("after")
	}
	var after db.TimelineCursor
	if from == "" {
		after, err = h.store.TimelinePositions(ctx, q)
	} else if after, err = db.ParseTimelineCursor(from); err != nil {
		return badCursor()
	}
	if err != nil {
		return err
	}
	watch := c.QueryParam("watch") == "income"
	version := c.QueryParam("v")
	scope, subject := db.ScopeAccount, q.AccountID
	if q.EndUserID != "" {
		scope, subject = db.ScopeEndUser, q.EndUserID
	}
	if !strings.Contains(c.Request().Header.Get("Accept"), "text/event-stream") {
		es, next, err := h.store.TimelineSince(ctx, q, after, 0)
		if err != nil {
			return err
		}
		if watch {
			v, err := h.store.IncomeVersion(ctx, scope, subject)
			if err != nil {
				return err
			}
			c.Response().Header().Set("X-Income-Version", v)
		}
		c.Response().Header().Set("X-Timeline-Cursor", next.String())
		return h.render(c, http.StatusOK, views.TimelineEntries(es, role(c), q.AccountID))
	}
	// Check the subject exists before committing to a stream.
	if _, _, err := h.store.TimelineSince(ctx, q, after, 1); err != nil {
		return err
	}

	w := c.Response()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	// Each message moves the write deadline (web.New sets one per
	// response): a reader that stops reading is cut after the write
	// timeout; one that reads stays as long as it likes.
	out := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout}
	send := func(b []byte) bool {
		if _, err := out.Write(b); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	w.WriteHeader(http.StatusOK)
	if !send([]byte("retry: 3000\n\n")) {
		return nil
	}

	viewer := *staff(c)
	poll := time.NewTicker(livePoll)
	defer poll.Stop()
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	recheck := time.NewTicker(liveRecheck)
	defer recheck.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case <-beat.C:
			if !send([]byte(": heartbeat\n\n")) {
				return nil
			}
		case <-recheck.C:
			if !h.stillSignedIn(c, &viewer) {
				return nil
			}
		case <-poll.C:
			es, next, err := h.store.TimelineSince(ctx, q, after, 0)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err // logged by the error handler; the browser reconnects
			}
			if len(es) > 0 {
				// The viewer may have lost access, or their role, since
				// the last check: entries are rendered for who they are
				// now.
				if !h.stillSignedIn(c, &viewer) {
					return nil
				}
				buf.Reset()
				if err := views.TimelineEntries(es, viewer.Role, q.AccountID).Render(ctx, &buf); err != nil {
					return err
				}
				if !send(sseMessage("entry", next.String(), buf.Bytes())) {
					return nil
				}
				after = next
			}
			if !watch {
				continue
			}
			v, err := h.store.IncomeVersion(ctx, scope, subject)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if v != version {
				if !send(sseMessage("income", after.String(), []byte(v))) {
					return nil
				}
				version = v
			}
		}
	}
}

// sseMessage frames data as one server-sent event: each line of data
// becomes a "data:" line (the browser joins them with newlines again).
func sseMessage(event, id string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("event: " + event + "\n")
	b.WriteString("id: " + id + "\n")
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.TrimSuffix(line, []byte("\r")))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// errStreamEnded ends a watch whose viewer is no longer signed in.
var errStreamEnded = errors.New("stream ended")

// watch streams a fragment that changes over time (a batch's progress, a
// delivery log) as server-sent events named event: render builds it and
// says whether it is final; it is polled every livePoll and sent when its
// bytes changed, and the stream ends after the final one with a "done"
// event (the element closes its connection on it, sse-close, and the
// final markup carries no sse-connect, so the browser does not reconnect).
// A request that
// does not accept text/event-stream gets the fragment once. The same
// database-driven polling as the timelines: correct with several
// processes, no in-memory signal. Like the timelines' streams, it re-reads
// its viewer every liveRecheck and before each change it sends, and ends
// when they are no longer signed in.
func (h *Handler) watch(c echo.Context, event string, render func(ctx context.Context) (templ.Component, bool, error)) error {
	ctx := c.Request().Context()
	comp, final, err := render(ctx)
	if err != nil {
		return err
	}
	if !strings.Contains(c.Request().Header.Get("Accept"), "text/event-stream") {
		return h.render(c, http.StatusOK, comp)
	}
	w := c.Response()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Each write moves the write deadline on, as the timelines' do: the
	// stream lasts as long as its reader keeps reading.
	out := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: h.cfg.WriteTimeout}
	viewer := *staff(c)
	var last []byte
	send := func(comp templ.Component) error {
		var buf bytes.Buffer
		if err := comp.Render(ctx, &buf); err != nil {
			return err
		}
		if bytes.Equal(buf.Bytes(), last) {
			return nil
		}
		if last != nil && !h.stillSignedIn(c, &viewer) {
			return errStreamEnded
		}
		last = buf.Bytes()
		if _, err := out.Write(sseMessage(event, strconv.FormatInt(time.Now().UnixNano(), 10), last)); err != nil {
			return err
		}
		w.Flush()
		return nil
	}
	if _, err := out.Write([]byte("retry: 3000\n\n")); err != nil {
		return nil
	}
	finish := func() {
		if _, err := out.Write(sseMessage("done", "done", nil)); err == nil {
			w.Flush()
		}
	}
	if err := send(comp); err != nil {
		return nil
	}
	if final {
		finish()
		return nil
	}
	poll := time.NewTicker(livePoll)
	defer poll.Stop()
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	recheck := time.NewTicker(liveRecheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.done:
			return nil
		case <-beat.C:
			if _, err := out.Write([]byte(": heartbeat\n\n")); err != nil {
				return nil
			}
			w.Flush()
		case <-recheck.C:
			if !h.stillSignedIn(c, &viewer) {
				return nil
			}
		case <-poll.C:
			comp, final, err := render(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			if err := send(comp); err != nil {
				return nil
			}
			if final {
				finish()
				return nil
			}
		}
	}
}
