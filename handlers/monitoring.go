package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// The monitoring board (/monitoring) and its reconnect links: see
// db/health.go and db/reconnect.go.

// boardDays is how many days the board's chart shows.
const boardDays = 30

// parseWaitingQuery reads the board's filter from the URL.
func parseWaitingQuery(c echo.Context) (db.WaitingQuery, error) {
	q := db.WaitingQuery{Status: strings.TrimSpace(c.QueryParam("status")), Platform: strings.TrimSpace(c.QueryParam("platform"))}
	cur, err := db.ParseCursor(c.QueryParam("after"))
	if err != nil {
		return q, badCursor()
	}
	q.After = cur
	return q, nil
}

// boardURL is the board's URL of a filter and cursor.
func boardURL(q db.WaitingQuery, after db.Cursor) string {
	v := url.Values{}
	setIf(v, "status", q.Status)
	setIf(v, "platform", q.Platform)
	setIf(v, "after", after.String())
	return withQuery("/monitoring", v) + "#waiting"
}

// MonitoringIndex handles GET /monitoring: accounts by status and platform,
// status changes over 30 days, the accounts needing action (longest wait
// first, keyset paged with ?after=, filtered by ?status= and ?platform=),
// the reconnect form and the batches sent.
func (h *Handler) MonitoringIndex(c echo.Context) error {
	q, err := parseWaitingQuery(c)
	if err != nil {
		return err
	}
	props := views.MonitoringProps{Q: q, Filtered: q.Status != "" || q.Platform != "", CanWrite: staff(c).CanWrite(),
		Form: views.ReconnectForm{Jobs: []string{db.DefaultReconnectJob}, Language: "en", Reason: "Monitoring needs the user to log in again"}}
	status, err := h.board(c.Request().Context(), &props)
	if err != nil {
		return err
	}
	return h.render(c, status, views.MonitoringIndex(h.page(c, "Account health"), props))
}

// board fills the board's data for props.Q; an invalid filter becomes an
// inline error and 422.
func (h *Handler) board(ctx context.Context, props *views.MonitoringProps) (int, error) {
	var err error
	props.Now = h.store.Now()
	if props.Platforms, props.Totals, err = h.store.StatusByPlatform(ctx); err != nil {
		return 0, err
	}
	if props.Days, err = h.store.StatusTransitions(ctx, boardDays); err != nil {
		return 0, err
	}
	if props.Batches, _, err = h.store.ListReconnectBatches(ctx, 0, 10); err != nil {
		return 0, err
	}
	var next db.Cursor
	props.Rows, next, err = h.store.WaitingAccounts(ctx, props.Q)
	if fe := filterErrors(err); fe != nil {
		props.Errors = fe
		props.Q.Status = ""
		return http.StatusUnprocessableEntity, nil
	}
	if err != nil {
		return 0, err
	}
	if !next.IsZero() {
		props.Next = boardURL(props.Q, next)
	}
	if props.Count, err = h.store.CountWaiting(ctx, props.Q); err != nil {
		return 0, err
	}
	total := props.Count
	if props.Filtered {
		if total, err = h.store.CountWaiting(ctx, db.WaitingQuery{}); err != nil {
			return 0, err
		}
	}
	boardCount(props, total)
	return http.StatusOK, nil
}

// boardCount fills in the count line and the chips of the accounts
// needing action, from the filter (the URL's on a GET, the form's on a
// POST that failed: the re-rendered board looks the same); total is what
// the board lists unfiltered.
func boardCount(props *views.MonitoringProps, total int64) {
	q := url.Values{}
	setIf(q, "status", props.Q.Status)
	setIf(q, "platform", props.Q.Platform)
	props.List = listCount(props.Count, false, total, len(props.Rows), props.Filtered, "account needing action", "accounts needing action")
	if props.Q.Status != "" {
		props.Chips = append(props.Chips, chipOf("/monitoring", q, "status", "Status", views.StatusLabel(props.Q.Status), props.Totals[props.Q.Status]))
	}
	if props.Q.Platform != "" {
		name := props.Q.Platform
		for _, pl := range props.Platforms {
			if pl.PlatformID == props.Q.Platform {
				name = views.PlatformLabel(pl)
			}
		}
		props.Chips = append(props.Chips, chipOf("/monitoring", q, "platform", "Platform", name, -1))
	}
	if len(props.Chips) == 1 {
		props.Chips[0].N = props.Count
	}
}

// ReconnectCreate handles POST /monitoring/reconnect: a batch of reconnect
// links for the accounts ticked (scope=selected) or every account the
// filter lists (scope=all). A form that fails re-renders the board with
// inline messages (422); a batch goes to its page.
func (h *Handler) ReconnectCreate(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The request was not understood.")
	}
	f := c.Request().PostForm
	in := db.ReconnectRequest{
		AccountIDs: f["account"], All: f.Get("scope") == "all",
		Query: db.WaitingQuery{Status: f.Get("status"), Platform: f.Get("platform")},
		Jobs:  f["jobs"], Language: f.Get("language"), Reason: f.Get("reason"),
	}
	b, err := h.store.CreateReconnectBatch(c.Request().Context(), actor(c), in)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		props := views.MonitoringProps{Q: in.Query, CanWrite: true, Filtered: in.Query.Status != "" || in.Query.Platform != "",
			Form: views.ReconnectForm{Jobs: in.Jobs, Language: in.Language, Reason: in.Reason, Selected: in.AccountIDs, Errors: views.Errors(fe)}}
		if _, err := h.board(c.Request().Context(), &props); err != nil {
			return err
		}
		return h.render(c, http.StatusUnprocessableEntity, views.MonitoringIndex(h.page(c, "Account health"), props))
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Making "+views.Plural(b.Total, "reconnect link", "reconnect links")+"; nothing reaches Pinwheel until a user opens theirs.")
	return c.Redirect(http.StatusSeeOther, views.BatchPath(b.ID))
}

// batchParam parses :batch_id.
func batchParam(c echo.Context) (int64, error) {
	n, err := strconv.ParseInt(c.Param("batch_id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, invalidID()
	}
	return n, nil
}

// ReconnectShow handles GET /monitoring/reconnect/:batch_id: the batch's
// progress (live while it runs), what it achieved, its exports and its
// members (keyset paged with ?after=<seq>).
func (h *Handler) ReconnectShow(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := batchParam(c)
	if err != nil {
		return err
	}
	var after int64
	if a := c.QueryParam("after"); a != "" {
		if after, err = strconv.ParseInt(a, 10, 64); err != nil || after < 0 {
			return badCursor()
		}
	}
	props := views.ReconnectProps{CanWrite: staff(c).CanWrite(), Now: h.store.Now()}
	if props.B, err = h.store.ReconnectBatchByID(ctx, id); err != nil {
		return err
	}
	if props.Tracking, err = h.store.ReconnectTrackingOf(ctx, id); err != nil {
		return err
	}
	var next int64
	if props.Members, next, err = h.store.ReconnectMembers(ctx, id, after, 100); err != nil {
		return err
	}
	if next > 0 {
		props.Next = views.BatchPath(id) + "?after=" + strconv.FormatInt(next, 10) + "#members"
	}
	return h.render(c, http.StatusOK, views.ReconnectShow(h.page(c, "Reconnect links #"+strconv.FormatInt(id, 10)), props))
}

// ReconnectLive handles GET /monitoring/reconnect/:batch_id/live: the
// batch's progress as server-sent events until it finishes (see watch).
func (h *Handler) ReconnectLive(c echo.Context) error {
	id, err := batchParam(c)
	if err != nil {
		return err
	}
	return h.watch(c, "progress", func(ctx context.Context) (templ.Component, bool, error) {
		b, err := h.store.ReconnectBatchByID(ctx, id)
		return views.ReconnectProgress(b), b.Finished(), err
	})
}

// reconnectCSVHeader are the columns of the links export.
var reconnectCSVHeader = []string{"account_id", "end_user_id", "platform", "monitoring_status", "launch_url", "link_expires_at", "token_id"}

// reconnectLine is one line of the JSON Lines export.
type reconnectLine struct {
	AccountID        string `json:"account_id"`
	EndUserID        string `json:"end_user_id"`
	Platform         string `json:"platform"`
	MonitoringStatus string `json:"monitoring_status"`
	LaunchURL        string `json:"launch_url"`
	LinkExpiresAt    string `json:"link_expires_at"`
	TokenID          string `json:"token_id"`
}

// ReconnectExportCSV handles GET /monitoring/reconnect/:batch_id/links.csv:
// the batch's launch links (not revoked) for a messaging tool, audited.
// Operators and admins only: each link opens Link for its user.
func (h *Handler) ReconnectExportCSV(c echo.Context) error { return h.reconnectExport(c, formatCSV) }

// ReconnectExportJSONL handles GET
// /monitoring/reconnect/:batch_id/links.jsonl: the same as JSON Lines.
func (h *Handler) ReconnectExportJSONL(c echo.Context) error {
	return h.reconnectExport(c, formatJSONL)
}

func (h *Handler) reconnectExport(c echo.Context, format string) error {
	id, err := batchParam(c)
	if err != nil {
		return err
	}
	if _, err := h.store.ReconnectBatchByID(c.Request().Context(), id); err != nil {
		return err
	}
	x, err := h.startExport(c, "reconnect-links-"+strconv.FormatInt(id, 10), format, reconnectCSVHeader)
	if err != nil {
		return err
	}
	rec := make([]string, len(reconnectCSVHeader))
	_, err = h.store.ExportReconnectLinks(c.Request().Context(), actor(c), id, format, func(r db.ReconnectLinkRow) error {
		l := reconnectLine{AccountID: r.AccountID, EndUserID: r.EndUserID, Platform: r.PlatformName, MonitoringStatus: r.Status,
			LaunchURL: h.launchURL(r.LaunchID), LinkExpiresAt: r.ExpiresAt.UTC().Format(db.TimeFormat), TokenID: r.TokenID}
		if format == formatCSV {
			rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], rec[6] = l.AccountID, l.EndUserID, l.Platform, l.MonitoringStatus, l.LaunchURL, l.LinkExpiresAt, l.TokenID
			return x.record(rec)
		}
		return x.line(l)
	})
	return x.finish(err)
}
