package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
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

// Live pages. Every staff page opens one server-sent event stream (htmx's
// SSE extension, connected on the layout's #app element) that carries
// what changed on that page:
//
//   - "entry": new timeline entries of an account or end user, newest
//     first (app.js moves each under its day's heading);
//   - one event per live panel ("account-allocations", "token",
//     "dash-figures", ...): the panel's new inside, swapped in place;
//   - "toast": a link the staff member created reached an outcome.
//
// The stream is driven by the database, not by in-process state, so it
// stays correct with several Linkdesk processes on one database. It reads
// again when told that something changed (db.Store.Subscribe on
// db.LiveTopics: on PostgreSQL a NOTIFY from whichever instance committed,
// see db/notify.go and migration 085) and, failing that, every
// Config.LiveReread (a notification lost while a listener reconnected); on
// SQLite, where only the main write paths announce themselves, every
// livePoll as well. Wakes coalesce: never more than one read per liveGap,
// however many commits. A read asks for timeline entries above the
// positions the stream has sent (an index probe per source), for a change
// of its page's stamp (db.AccountStamp and friends: a few index probes) and
// for finished links (an id range of the newest events). Panels are
// rendered again only when the stamp moves, and sent only when their HTML
// changed. It sends a comment as heartbeat every liveHeartbeat so that
// proxies keep the connection open. Each message's SSE id is the positions
// sent so far, so a reconnecting browser resumes where it left off
// (Last-Event-ID) and never gets an entry or a toast twice. A stream
// re-reads its viewer every liveRecheck and before everything it sends: a
// deactivated or signed-out person's stream ends, a demoted one's gets what
// the new role may see.

const (
	// livePoll is how often a stream reads on SQLite, told of a change or
	// not (not every write path there announces itself).
	livePoll = time.Second
	// liveGap is the least time between two reads of one stream: a burst
	// of commits (a busy ingest, a campaign launching) costs each stream
	// one read per liveGap, as the old one-second poll did, while one
	// change after a quiet spell is read at once.
	liveGap       = time.Second
	liveHeartbeat = 15 * time.Second
	// liveRecheck is how often a stream re-reads its viewer's staff row
	// when it has nothing to send (it also does before every message it
	// sends): a deactivated or signed-out person's stream ends, a demoted
	// one's entries are masked for the new role, within this long.
	liveRecheck = 5 * time.Second
)

// liveSource is what one page's stream watches, besides the toasts.
type liveSource struct {
	// timeline, when set, streams the entries of that timeline.
	timeline *db.TimelineQuery
	// stamp and panels, when set, stream the page's panels: panels are
	// rendered again whenever stamp changes.
	stamp  func(ctx context.Context) (string, error)
	panels func(ctx context.Context) ([]views.Panel, error)
}

// livePosition is where a stream is: its timeline cursor and toast cursor,
// as one SSE id ("e12.a3.l0~l4.e90").
type livePosition struct {
	timeline db.TimelineCursor
	toasts   db.ToastCursor
}

func (p livePosition) String() string { return p.timeline.String() + "~" + p.toasts.String() }

// parseLivePosition reads an SSE id; ok is false for one this stream did
// not write (the old timeline-only ids included: their toasts start now).
func parseLivePosition(s string) (livePosition, bool) {
	tl, to, found := strings.Cut(s, "~")
	var p livePosition
	var err error
	if p.timeline, err = db.ParseTimelineCursor(tl); err != nil {
		return p, false
	}
	if !found {
		return p, false
	}
	if p.toasts, err = db.ParseToastCursor(to); err != nil {
		return p, false
	}
	return p, true
}

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
// ?kind=, ?screens=) and the URLs of its next page and live stream (the
// live URL carries the page's positions, its stamp and its toast cursor).
func (h *Handler) timeline(c echo.Context, q db.TimelineQuery, base, live, stamp string) (views.TimelineProps, error) {
	kinds, kind, err := timelineKind(c)
	if err != nil {
		return views.TimelineProps{}, err
	}
	before, err := db.ParseTimelineCursor(c.QueryParam("before"))
	if err != nil {
		return views.TimelineProps{}, badCursor()
	}
	q.Kinds, q.Before, q.Screens = kinds, before, c.QueryParam("screens") == "1"
	pg, err := h.store.Timeline(c.Request().Context(), q)
	if err != nil {
		return views.TimelineProps{}, err
	}
	t := views.TimelineProps{Page: pg, Role: role(c), Kind: kind, Base: base, Account: q.AccountID, Loc: h.location(c), Screens: q.Screens}
	v := url.Values{}
	setIf(v, "kind", kind)
	if q.Screens {
		v.Set("screens", "1")
	}
	if !pg.Next.IsZero() {
		nv := url.Values{"before": {pg.Next.String()}}
		setIf(nv, "kind", kind)
		if q.Screens {
			nv.Set("screens", "1")
		}
		t.Next = withQuery(base, nv) + "#timeline"
	}
	if before.IsZero() {
		v.Set("after", pg.Latest.String())
		setIf(v, "stamp", stamp)
		if pos, err := h.store.ToastPosition(c.Request().Context()); err == nil {
			v.Set("toasts", pos.String())
		}
		t.Live = withQuery(live, v)
	}
	return t, nil
}

// AccountLive handles GET /accounts/:account_id/live: the account page's
// stream (timeline entries, panels, toasts).
func (h *Handler) AccountLive(c echo.Context) error {
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	return h.live(c, liveSource{
		timeline: &db.TimelineQuery{AccountID: id},
		stamp:    func(ctx context.Context) (string, error) { return h.store.AccountStamp(ctx, id) },
		panels: func(ctx context.Context) ([]views.Panel, error) {
			props, err := h.accountPanels(c, ctx, id)
			if err != nil {
				return nil, err
			}
			return views.AccountPanels(PageOf(c, ""), props), nil
		},
	})
}

// EndUserLive handles GET /end-users/:end_user_id/live: the end user
// page's stream (timeline entries, panels, toasts).
func (h *Handler) EndUserLive(c echo.Context) error {
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	return h.live(c, liveSource{
		timeline: &db.TimelineQuery{EndUserID: id},
		stamp:    func(ctx context.Context) (string, error) { return h.store.EndUserStamp(ctx, id) },
		panels: func(ctx context.Context) ([]views.Panel, error) {
			o, err := h.store.EndUserOverview(ctx, id)
			if err != nil {
				return nil, err
			}
			return views.EndUserPanels(views.EndUserProps{O: o, Role: role(c)}), nil
		},
	})
}

// Live handles GET /live: the stream of a page without live panels, for
// the staff member's toasts.
func (h *Handler) Live(c echo.Context) error { return h.live(c, liveSource{}) }

// live serves one page's stream. It starts from the positions in
// Last-Event-ID (a reconnect) or the page's (?after= for the timeline,
// ?toasts= for the toasts, ?stamp= for the panels); without them, from
// now. A request that does not accept text/event-stream gets one poll's
// timeline entries as an HTML fragment, newest first (polling clients,
// tests), with the next position in the X-Timeline-Cursor header; a page
// without a timeline gets its panels once.
//
// With ?watch=income (the income report) a timeline's stream also sends
// an "income" event whenever the report's data changed (db.IncomeVersion
// differs from ?v=, then from the last one sent): the page reloads its
// report part. The fragment answer carries the current version in
// X-Income-Version.
func (h *Handler) live(c echo.Context, src liveSource) error {
	ctx := c.Request().Context()
	viewer := *staff(c)
	loc := h.location(c)
	var pos livePosition
	resumed := false
	if id := c.Request().Header.Get("Last-Event-ID"); id != "" {
		pos, resumed = parseLivePosition(id)
		if !resumed {
			if tc, err := db.ParseTimelineCursor(id); err == nil {
				pos.timeline, resumed = tc, true
			}
		}
	}
	sse := strings.Contains(c.Request().Header.Get("Accept"), "text/event-stream")
	var wakes <-chan struct{}
	if sse {
		// Subscribed before the first read, so that a change committed
		// between that read and the loop still wakes it.
		var stop func()
		wakes, stop = h.liveWakes(ctx)
		defer stop()
	}
	watch := src.timeline != nil && c.QueryParam("watch") == "income"
	version := c.QueryParam("v")
	var scope, subject string
	if src.timeline != nil {
		q := src.timeline
		kinds, _, err := timelineKind(c)
		if err != nil {
			return err
		}
		q.Kinds, q.Screens = kinds, c.QueryParam("screens") == "1"
		scope, subject = db.ScopeAccount, q.AccountID
		if q.EndUserID != "" {
			scope, subject = db.ScopeEndUser, q.EndUserID
		}
		if !resumed {
			switch from := c.QueryParam("after"); {
			case from == "":
				if pos.timeline, err = h.store.TimelinePositions(ctx, *q); err != nil {
					return err
				}
			default:
				if pos.timeline, err = db.ParseTimelineCursor(from); err != nil {
					return badCursor()
				}
			}
		}
		if !sse {
			es, next, err := h.store.TimelineSince(ctx, *q, pos.timeline, 0)
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
			return h.render(c, http.StatusOK, views.TimelineEntries(es, viewer.Role, q.AccountID, loc))
		}
		// Check the subject exists before committing to a stream.
		if _, _, err := h.store.TimelineSince(ctx, *q, pos.timeline, 1); err != nil {
			return err
		}
	}
	if !sse {
		// A client that does not read event streams gets the page's panels
		// once, each in an element named like its event.
		if src.panels == nil {
			return c.NoContent(http.StatusOK)
		}
		panels, err := src.panels(ctx)
		if err != nil {
			return err
		}
		return h.render(c, http.StatusOK, views.PanelsOnce(panels))
	}
	if !resumed || pos.toasts == (db.ToastCursor{}) {
		if tc, err := db.ParseToastCursor(c.QueryParam("toasts")); err == nil {
			pos.toasts = tc
		} else if pos.toasts, err = h.store.ToastPosition(ctx); err != nil {
			return err
		}
	}

	// The panels as the page drew them: a reconnect, or a stamp that moved
	// since the page was drawn, sends them all once; otherwise only those
	// that change from now on.
	var stamp string
	sent := map[string][32]byte{}
	var pending []views.Panel
	if src.stamp != nil {
		var err error
		if stamp, err = src.stamp(ctx); err != nil {
			return err
		}
		panels, err := src.panels(ctx)
		if err != nil {
			return err
		}
		if resumed || stamp != c.QueryParam("stamp") {
			pending = panels
		} else if err := hashPanels(ctx, panels, sent); err != nil {
			return err
		}
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
	write := func(b []byte) bool {
		if _, err := out.Write(b); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	w.WriteHeader(http.StatusOK)
	if !write([]byte("retry: 3000\n\n")) {
		return nil
	}

	// checked re-reads the viewer before a message: false ends the stream.
	// Panels and entries then render for who they are now (their role).
	checked := func() bool {
		if !h.stillSignedIn(c, &viewer) {
			return false
		}
		c.Set(staffKey, &viewer)
		return true
	}
	toasted := map[string]bool{}
	send := func(event string, data []byte) bool { return write(sseMessage(event, pos.String(), data)) }
	var buf bytes.Buffer
	// sendPanels sends the panels whose HTML differs from what was sent.
	sendPanels := func(panels []views.Panel) (bool, error) {
		for _, p := range panels {
			buf.Reset()
			if err := p.Component.Render(ctx, &buf); err != nil {
				return false, err
			}
			sum := sha256.Sum256(buf.Bytes())
			if sent[p.Name] == sum {
				continue
			}
			sent[p.Name] = sum
			if !send(p.Name, buf.Bytes()) {
				return false, nil
			}
		}
		return true, nil
	}
	if len(pending) > 0 {
		if ok, err := sendPanels(pending); !ok || err != nil {
			return err
		}
	}

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
			if !write([]byte(": heartbeat\n\n")) {
				return nil
			}
		case <-recheck.C:
			if !checked() {
				return nil
			}
		case <-wakes:
			err := func() error {
				if q := src.timeline; q != nil {
					es, next, err := h.store.TimelineSince(ctx, *q, pos.timeline, 0)
					if err != nil {
						return err
					}
					if len(es) > 0 {
						if !checked() {
							return context.Canceled
						}
						buf.Reset()
						if err := views.TimelineEntries(es, viewer.Role, q.AccountID, loc).Render(ctx, &buf); err != nil {
							return err
						}
						pos.timeline = next
						if !send("entry", buf.Bytes()) {
							return context.Canceled
						}
					}
					if watch {
						v, err := h.store.IncomeVersion(ctx, scope, subject)
						if err != nil {
							return err
						}
						if v != version {
							if !send("income", []byte(v)) {
								return context.Canceled
							}
							version = v
						}
					}
				}
				if src.stamp != nil {
					now, err := src.stamp(ctx)
					if err != nil {
						return err
					}
					if now != stamp {
						if !checked() {
							return context.Canceled
						}
						stamp = now
						panels, err := src.panels(ctx)
						if err != nil {
							return err
						}
						if ok, err := sendPanels(panels); err != nil || !ok {
							return cmpErr(err)
						}
					}
				}
				done, next, err := h.store.FinishedLinks(ctx, viewer.ID, pos.toasts)
				if err != nil {
					return err
				}
				pos.toasts = next
				for _, l := range done {
					key := l.TokenID + " " + l.Lifecycle.State + " " + l.Lifecycle.OutcomeSource
					if toasted[key] {
						continue
					}
					toasted[key] = true
					buf.Reset()
					if err := views.Toast(l).Render(ctx, &buf); err != nil {
						return err
					}
					if !send("toast", buf.Bytes()) {
						return context.Canceled
					}
				}
				return nil
			}()
			if err != nil {
				if ctx.Err() != nil || err == context.Canceled {
					return nil
				}
				return err // logged by the error handler; the browser reconnects
			}
		}
	}
}

// cmpErr turns "the client went away" (no error) into context.Canceled.
func cmpErr(err error) error {
	if err == nil {
		return context.Canceled
	}
	return err
}

// hashPanels records the HTML of panels as sent.
func hashPanels(ctx context.Context, panels []views.Panel, into map[string][32]byte) error {
	var buf bytes.Buffer
	for _, p := range panels {
		buf.Reset()
		if err := p.Component.Render(ctx, &buf); err != nil {
			return err
		}
		into[p.Name] = sha256.Sum256(buf.Bytes())
	}
	return nil
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

// liveURL is a page's stream URL with its stamp and toast position.
func (h *Handler) liveURL(c echo.Context, path, stamp string) string {
	v := url.Values{}
	setIf(v, "stamp", stamp)
	if pos, err := h.store.ToastPosition(c.Request().Context()); err == nil {
		v.Set("toasts", pos.String())
	}
	return withQuery(path, v)
}

// errStreamEnded ends a watch whose viewer is no longer signed in.
var errStreamEnded = errors.New("stream ended")

// watch streams a fragment that changes over time (a batch's progress, a
// delivery log) as server-sent events named event: render builds it and
// says whether it is final; it is rendered again whenever the timelines'
// streams would read (liveWakes: told of a change on any instance, or
// after the fallback re-read) and sent when its bytes changed, and the
// stream ends after the final one with a "done" event (the element closes
// its connection on it, sse-close, and the final markup carries no
// sse-connect, so the browser does not reconnect). A request that does not
// accept text/event-stream gets the fragment once. Like the timelines'
// streams, it re-reads its viewer every liveRecheck and before each change
// it sends, and ends when they are no longer signed in.
func (h *Handler) watch(c echo.Context, event string, render func(ctx context.Context) (templ.Component, bool, error)) error {
	ctx := c.Request().Context()
	var wakes <-chan struct{}
	if strings.Contains(c.Request().Header.Get("Accept"), "text/event-stream") {
		var stop func()
		wakes, stop = h.liveWakes(ctx)
		defer stop()
	}
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
		case <-wakes:
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

// liveWakes returns a channel that says when a stream should read the
// database again: after a commit announced on db.LiveTopics (on any
// instance, on PostgreSQL), or when no announcement came for
// Config.LiveReread (livePoll on SQLite, where not every write path
// announces itself); never twice within liveGap. stop ends it (the stream
// returns).
func (h *Handler) liveWakes(ctx context.Context) (<-chan struct{}, func()) {
	changes, cancel := h.store.Subscribe(db.LiveTopics...)
	reread := livePoll
	if h.store.AnnouncesEveryChange() {
		reread = h.cfg.LiveReread
	}
	ctx, stop := context.WithCancel(ctx)
	out := make(chan struct{}, 1)
	go func() {
		defer cancel()
		fallback := time.NewTimer(reread)
		defer fallback.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changes:
			case <-fallback.C:
			}
			select {
			case out <- struct{}{}:
			default: // a read is already due
			}
			fallback.Reset(reread) // runs through the gap: on SQLite a read every livePoll
			gap := time.NewTimer(liveGap)
			select {
			case <-ctx.Done():
				gap.Stop()
				return
			case <-gap.C:
			}
		}
	}()
	return out, stop
}
