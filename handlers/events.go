package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/pii"
	"linkdesk/views"
)

// eventFilterKeys are the query parameters of the events log and export.
var eventFilterKeys = []string{"type", "outcome", "account", "end_user", "link_token", "from", "to", "status"}

// parseEventQuery reads the events log filters from the URL; values that do
// not parse become field errors.
func parseEventQuery(c echo.Context) (db.EventQuery, views.Errors) {
	q := db.EventQuery{
		Type: strings.TrimSpace(c.QueryParam("type")), Outcome: c.QueryParam("outcome"),
		AccountID: strings.TrimSpace(c.QueryParam("account")), EndUserID: strings.TrimSpace(c.QueryParam("end_user")),
		LinkTokenID: strings.TrimSpace(c.QueryParam("link_token")), Status: c.QueryParam("status"),
	}
	errs := views.Errors{}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		s := c.QueryParam(f.key)
		if s == "" {
			continue
		}
		t, err := parseFormTime(s)
		if err != nil {
			errs[f.key] = "Enter a date and time as YYYY-MM-DDTHH:MM (UTC)."
			continue
		}
		*f.dst = t
	}
	if q.Status == db.StatusAccepted {
		q.Status = ""
	}
	if err := q.Validate(); err != nil {
		for k, v := range filterErrors(err) {
			errs[k] = v
		}
	}
	return q, errs
}

// parseFormTime reads a time-range value: the datetime-local form (UTC),
// with or without seconds, or RFC 3339.
func parseFormTime(s string) (time.Time, error) {
	for _, layout := range []string{views.FormTimeLayout, "2006-01-02T15:04:05", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Parse(time.RFC3339, s)
}

// eventFilterQuery is the request's filter as a query string ("?…" or "").
func eventFilterQuery(c echo.Context) url.Values {
	v := url.Values{}
	for _, k := range eventFilterKeys {
		setIf(v, k, c.QueryParam(k))
	}
	return v
}

// EventsIndex handles GET /events: every event newest first, keyset paged
// (?before=<id>), filtered by type, outcome, account, end user, link token,
// receive time and status. ?status=rejected goes to the rejected
// deliveries, which are not events.
func (h *Handler) EventsIndex(c echo.Context) error {
	if c.QueryParam("status") == db.StatusRejected {
		return c.Redirect(http.StatusSeeOther, "/events/rejected")
	}
	q, errs := parseEventQuery(c)
	for _, p := range []struct {
		key string
		dst *int64
	}{{"before", &q.Before}, {"after", &q.After}} {
		if b := c.QueryParam(p.key); b != "" {
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n <= 0 {
				return badCursor()
			}
			*p.dst = n
		}
	}
	sort := listSort(c, "/events")
	q.Oldest = sort.Oldest
	filter := eventFilterQuery(c)
	props := views.EventsProps{Q: q, From: c.QueryParam("from"), To: c.QueryParam("to"), Errors: errs, Filtered: len(filter) > 0, Sort: sort}
	if len(filter) > 0 {
		props.Query = "?" + filter.Encode()
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		ctx := c.Request().Context()
		limit := 0
		if props.Filtered {
			limit = countLimit
		}
		page, err := h.store.EventLogPage(ctx, q, limit)
		if err != nil {
			return err
		}
		rows := page.Rows
		props.Rows = rows
		if page.More {
			key := "before"
			if q.Oldest {
				key = "after"
				filter.Set("order", orderOldest)
			}
			filter.Set(key, strconv.FormatInt(rows[len(rows)-1].ID, 10))
			props.Next = withQuery("/events", filter)
		}
		if err := h.eventsCount(c, &props, page.Count, page.CountMore); err != nil {
			return err
		}
	}
	return h.render(c, status, views.EventsIndex(h.page(c, "Events"), props))
}

// eventsCount fills in the count line and the chips of /events, given the
// count of a filtered list (up to countLimit, more when there are more).
func (h *Handler) eventsCount(c echo.Context, props *views.EventsProps, n int64, more bool) error {
	total, err := h.store.Totals(c.Request().Context())
	if err != nil {
		return err
	}
	props.Count = listCount(n, more, total["events"], len(props.Rows), props.Filtered, "event", "events")
	q := props.Q
	for _, f := range []struct{ key, label, value string }{
		{"type", "Type", views.EventLabel(q.Type)},
		{"outcome", "Outcome", views.OutcomeLabel(q.Outcome)},
		{"status", "Status", map[string]string{db.StatusDuplicate: "delivered more than once"}[q.Status]},
		{"account", "Account", views.ShortID(q.AccountID)},
		{"end_user", "End user", views.ShortID(q.EndUserID)},
		{"link_token", "Pinwheel token", views.ShortID(q.LinkTokenID)},
		{"from", "Received from", props.From},
		{"to", "Received before", props.To},
	} {
		if c.QueryParam(f.key) != "" && f.value != "" {
			props.Chips = append(props.Chips, chip(c, "/events", f.key, f.label, f.value, -1))
		}
	}
	if len(props.Chips) == 1 && !more {
		props.Chips[0].N = n
	}
	return nil
}

// EventShow handles GET /events/:event_id: the raw body (masked for the
// role), the headers kept, the signature verdict, the delivery count and
// links to the account, end user and link token.
func (h *Handler) EventShow(c echo.Context) error {
	id, err := pathParam(c, "event_id")
	if err != nil {
		return err
	}
	e, err := h.store.EventByEventID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.EventShow(h.page(c, e.Event), views.EventProps{E: e, Role: role(c)}))
}

// RejectionsIndex handles GET /events/rejected: refused webhook deliveries
// with their reasons, newest first (?reason=, ?before=<id>).
func (h *Handler) RejectionsIndex(c echo.Context) error {
	ctx := c.Request().Context()
	props := views.RejectionsProps{Reason: c.QueryParam("reason"), Role: role(c)}
	var before int64
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return badCursor()
		}
		before = n
	}
	var err error
	if props.Reasons, err = h.store.RejectionReasons(ctx); err != nil {
		return err
	}
	rows, more, err := h.store.ListRejections(ctx, props.Reason, before, 50)
	if err != nil {
		return err
	}
	props.Rows = rows
	if more {
		v := url.Values{"before": {strconv.FormatInt(rows[len(rows)-1].ID, 10)}}
		setIf(v, "reason", props.Reason)
		props.Next = withQuery("/events/rejected", v)
	}
	var n, total int64
	for _, r := range props.Reasons {
		total += r.N
		if r.Value == props.Reason {
			n = r.N
		}
	}
	props.Count = listCount(n, false, total, len(rows), props.Reason != "", "rejected delivery", "rejected deliveries")
	if props.Reason != "" {
		props.Chips = append(props.Chips, chip(c, "/events/rejected", "reason", "Reason", views.RejectionLabel(props.Reason), n))
	}
	return h.render(c, http.StatusOK, views.RejectionsIndex(h.page(c, "Rejected deliveries"), props))
}

// eventCSVHeader are the columns of the events CSV export.
var eventCSVHeader = []string{"event_id", "event", "received_at", "occurred_at", "outcome", "account_id", "end_user_id", "link_token_id",
	"delivery_count", "last_received_at", "projection"}

// eventLine is one line of the events JSON Lines export.
type eventLine struct {
	EventID        string          `json:"event_id"`
	Event          string          `json:"event"`
	ReceivedAt     string          `json:"received_at"`
	OccurredAt     string          `json:"occurred_at,omitempty"`
	Outcome        string          `json:"outcome,omitempty"`
	AccountID      string          `json:"account_id,omitempty"`
	EndUserID      string          `json:"end_user_id,omitempty"`
	LinkTokenID    string          `json:"link_token_id,omitempty"`
	DeliveryCount  int             `json:"delivery_count"`
	LastReceivedAt string          `json:"last_received_at"`
	Projection     string          `json:"projection"`
	Body           json.RawMessage `json:"body"`
}

// EventsExportCSV handles GET /events/export.csv: the filtered events log
// (same filters as /events) as CSV, streamed newest first with flat memory,
// audited as events.exported. Every role may export.
func (h *Handler) EventsExportCSV(c echo.Context) error { return h.eventsExport(c, formatCSV) }

// EventsExportJSONL handles GET /events/export.jsonl: the filtered events
// log as JSON Lines, each with its body masked for the role (account
// numbers for everyone, identity data for auditors), streamed and audited
// like the CSV.
func (h *Handler) EventsExportJSONL(c echo.Context) error { return h.eventsExport(c, formatJSONL) }

// eventsExport streams the events log in format through the export
// skeleton (export.go).
func (h *Handler) eventsExport(c echo.Context, format string) error {
	q, errs := parseEventQuery(c)
	if len(errs) > 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "The filter is not valid; fix it on the events page first.")
	}
	x, err := h.startExport(c, "events", format, eventCSVHeader)
	if err != nil {
		return err
	}
	rl := role(c)
	rec := make([]string, len(eventCSVHeader))
	_, err = h.store.ExportEvents(c.Request().Context(), actor(c), q, format, format == formatJSONL, func(r db.ExportRow) error {
		if format == formatCSV {
			rec[0], rec[1], rec[2], rec[3], rec[4] = r.EventID, r.Event, r.ReceivedAt, r.OccurredAt, r.Outcome
			rec[5], rec[6], rec[7], rec[8], rec[9], rec[10] = r.AccountID, r.EndUserID, r.LinkTokenID, strconv.Itoa(r.DeliveryCount), r.LastReceivedAt, r.Projection
			return x.record(rec)
		}
		body, ok := pii.MaskJSONLine([]byte(r.Body), rl)
		if !ok {
			body = []byte("null")
		}
		return x.line(eventLine{EventID: r.EventID, Event: r.Event, ReceivedAt: r.ReceivedAt, OccurredAt: r.OccurredAt,
			Outcome: r.Outcome, AccountID: r.AccountID, EndUserID: r.EndUserID, LinkTokenID: r.LinkTokenID, DeliveryCount: r.DeliveryCount,
			LastReceivedAt: r.LastReceivedAt, Projection: r.Projection, Body: body})
	})
	return x.finish(err)
}
