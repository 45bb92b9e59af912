package handlers

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/evidence"
	"linkdesk/views"
)

// AccountEvidence handles GET /accounts/:account_id/evidence.zip (admins
// and auditors): the account's evidence pack, streamed. Building it is
// audited before anything is read.
func (h *Handler) AccountEvidence(c echo.Context) error {
	return h.evidencePack(c, db.SubjectAccount, "account_id")
}

// EndUserEvidence handles GET /end-users/:end_user_id/evidence.zip
// (admins and auditors): the end user's evidence pack, all their accounts.
func (h *Handler) EndUserEvidence(c echo.Context) error {
	return h.evidencePack(c, db.SubjectEndUser, "end_user_id")
}

// fileSafe keeps what a file name may hold.
var fileSafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (h *Handler) evidencePack(c echo.Context, kind, param string) error {
	id, err := pathParam(c, param)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ev, err := h.store.StartEvidence(ctx, actor(c), kind, id)
	if err != nil {
		return err
	}
	res := c.Response()
	name := "linkdesk-evidence-" + strings.ReplaceAll(kind, "_", "-") + "-" + fileSafe.ReplaceAllString(id, "_") + "-" + ev.GeneratedAt.Format("20060102T150405Z") + ".zip"
	res.Header().Set("Content-Type", "application/zip")
	res.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	res.Header().Set("Cache-Control", "no-store")
	err = evidence.Write(ctx, res, h.store, ev, evidence.Options{Role: role(c), PinwheelSecret: h.cfg.PinwheelSecret})
	if err != nil && !res.Committed {
		res.Header().Del("Content-Disposition")
		res.Header().Del("Content-Type")
	}
	return err
}

// EraseNew handles GET /end-users/:end_user_id/erase (admins): the
// confirmation page of an erasure, with what it removes. An end user
// Linkdesk knows nothing about gets the page's refusal.
func (h *Handler) EraseNew(c echo.Context) error {
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	p, err := h.store.PreviewErasure(c.Request().Context(), id)
	props := views.ErasureProps{Preview: p}
	switch {
	case errors.Is(err, db.ErrNotFound):
		props.Unknown = true
	case err != nil:
		return err
	}
	return h.render(c, http.StatusOK, views.ErasureNew(h.page(c, "Erase "+id), props))
}

// EraseCreate handles POST /end-users/:end_user_id/erase (admins): with a
// reason and the confirmation ticked, it erases the end user's personal
// data (audited, with a tombstone) and returns to their page.
func (h *Handler) EraseCreate(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	props := views.ErasureProps{Reason: c.FormValue("reason"), Errors: views.Errors{}}
	if c.FormValue("confirm") != "yes" {
		props.Errors["confirm"] = "Tick the box to confirm: an erasure cannot be undone."
	}
	if strings.TrimSpace(props.Reason) == "" {
		props.Errors["reason"] = "Say why (the request's reference, who asked): it is kept with the tombstone."
	}
	if len(props.Errors) == 0 {
		e, err := h.store.EraseEndUser(ctx, actor(c), id, props.Reason)
		var fe db.FieldErrors
		switch {
		case errors.Is(err, db.ErrNotFound):
			return echo.NewHTTPError(http.StatusNotFound, "Linkdesk holds nothing about this end user: there is nothing to erase.")
		case errors.As(err, &fe):
			props.Errors = views.Errors(fe)
		case err != nil:
			return err
		default:
			h.flash(c, "ok", "Erased the personal data of "+id+" ("+e.At.Format(time.RFC3339)+"). The tombstone is below.")
			return c.Redirect(http.StatusSeeOther, views.EndUserPath(id))
		}
	}
	p, err := h.store.PreviewErasure(ctx, id)
	if errors.Is(err, db.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "Linkdesk holds nothing about this end user: there is nothing to erase.")
	}
	if err != nil {
		return err
	}
	props.Preview = p
	return h.render(c, http.StatusUnprocessableEntity, views.ErasureNew(h.page(c, "Erase "+id), props))
}
