package handlers

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/pii"
)

// Raw downloads: the whole of a stored JSON document whose page shows only
// its first part (pii.Render cuts at a cap). Each is the document as the
// viewer's role may see it (pii.WriteCompact: masked, on one line), through
// the download skeleton (same-origin only, no-store). They are reads like
// the pages they come from: every role, not audited.

// EventRaw handles GET /events/:event_id/raw: a webhook event's body.
func (h *Handler) EventRaw(c echo.Context) error {
	id, err := pathParam(c, "event_id")
	if err != nil {
		return err
	}
	e, err := h.store.EventByEventID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return h.rawJSON(c, "linkdesk-event-"+strconv.FormatInt(e.ID, 10), []byte(e.Body))
}

// RejectionRaw handles GET /events/rejected/:rejection_id/raw: a rejected delivery's
// body (kept only when its signature was valid).
func (h *Handler) RejectionRaw(c echo.Context) error {
	id, err := pathInt(c, "rejection_id")
	if err != nil {
		return err
	}
	r, err := h.store.RejectionByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if r.Body == nil {
		return echo.NewHTTPError(http.StatusNotFound, "This delivery's body was not kept: its signature was not valid.")
	}
	return h.rawJSON(c, "linkdesk-rejected-"+strconv.FormatInt(r.ID, 10), r.Body)
}

// LaunchEventRaw handles GET /tokens/:token_id/events/:launch_event_id/raw: a launch
// event's payload.
func (h *Handler) LaunchEventRaw(c echo.Context) error {
	token, err := pathParam(c, "token_id")
	if err != nil {
		return err
	}
	id, err := pathInt(c, "launch_event_id")
	if err != nil {
		return err
	}
	e, err := h.store.LaunchEventByID(c.Request().Context(), token, id)
	if err != nil {
		return err
	}
	return h.rawJSON(c, "linkdesk-launch-event-"+strconv.FormatInt(e.ID, 10), e.Payload)
}

// SnapshotRaw handles GET /accounts/:account_id/snapshots/:snapshot_id/raw: data
// fetched from Pinwheel. The date of birth and SSN last four stay hidden
// for every role, as on the account page before a Reveal.
func (h *Handler) SnapshotRaw(c echo.Context) error {
	account, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	id, err := pathInt(c, "snapshot_id")
	if err != nil {
		return err
	}
	sn, err := h.store.SnapshotByID(c.Request().Context(), account, id)
	if err != nil {
		return err
	}
	return h.rawJSON(c, "linkdesk-"+sn.Kind+"-"+strconv.FormatInt(sn.ID, 10), []byte(sn.Body), db.PIIDateOfBirth, db.PIISSNLastFour)
}

// rawJSON answers raw, masked for the viewer, as the download name.json.
func (h *Handler) rawJSON(c echo.Context, name string, raw []byte, hide ...string) error {
	if err := h.startDownload(c, name+".json", "application/json"); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pii.WriteCompact(&buf, raw, role(c), hide...); err != nil {
		h := c.Response().Header()
		h.Del("Content-Disposition")
		h.Del("Content-Type")
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "This document is not valid JSON: it cannot be masked, so it is not shown.")
	}
	return c.Blob(http.StatusOK, "application/json", buf.Bytes())
}
