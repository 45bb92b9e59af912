package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// The parts of every staff page that come from the staff member and the
// deployment: the environment banner, the time zone, the live stream.

// envKey is the echo context key of the Pinwheel environment's name.
const envKey = "linkdesk.env"

// PageContext puts what every page's layout shows about the deployment
// into the request (the error handler's pages too): the Pinwheel
// environment of the banner.
func (h *Handler) PageContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(envKey, string(h.cfg.PinwheelMode))
		return next(c)
	}
}

// pageStaffParts fills in the signed-in staff member's header: the open
// alerts, their time zone and the page's default live stream (toasts
// only), from the toast position now, in one read (db.PageHeader). A
// failure here leaves the page in UTC, without the alerts badge and
// without toasts rather than failing it.
func (h *Handler) pageStaffParts(c echo.Context, p *views.Page) {
	st := staff(c)
	if st == nil {
		return
	}
	hdr, err := h.store.PageHeader(c.Request().Context(), st.ID)
	if err != nil {
		return
	}
	p.OpenAlerts = hdr.OpenAlerts
	if hdr.TimeZone != db.DefaultTimeZone {
		p.TZ = hdr.TimeZone
	}
	p.Live = "/live?" + url.Values{"toasts": {hdr.Toast.String()}}.Encode()
}

// location is the staff member's time zone (UTC when unset or unknown).
func (h *Handler) location(c echo.Context) *time.Location {
	st := staff(c)
	if st == nil {
		return time.UTC
	}
	tz, err := h.store.StaffTimeZone(c.Request().Context(), st.ID)
	if err != nil {
		return time.UTC
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return time.UTC
	}
	return loc
}

// AccountShowSelf handles GET /account: the staff member's own account,
// their time zone and a way to change their password.
func (h *Handler) AccountSelf(c echo.Context) error {
	tz, err := h.store.StaffTimeZone(c.Request().Context(), staff(c).ID)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.AccountSelf(h.page(c, "Your account"), views.PreferencesForm{TimeZone: tz}))
}

// TimeZoneUpdate handles POST /account/time-zone: every role may choose
// its own time zone. Audited.
func (h *Handler) TimeZoneUpdate(c echo.Context) error {
	f := views.PreferencesForm{TimeZone: c.FormValue("time_zone")}
	err := h.store.SetStaffTimeZone(c.Request().Context(), actor(c), f.TimeZone)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		return h.render(c, http.StatusUnprocessableEntity, views.AccountSelf(h.page(c, "Your account"), f))
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Times are now shown in "+f.TimeZone+".")
	return c.Redirect(http.StatusSeeOther, "/account")
}

// OptionalStaff loads the signed-in staff member, if any, for a route open
// to everyone whose page still shows who is signed in: the page of an
// unknown URL, which then offers the search box and the navigation. It
// never redirects, and checks the session as RequireStaff does.
func (h *Handler) OptionalStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := h.session(c)
		id, _ := s.Values["staff_id"].(int64)
		seen, _ := s.Values["seen"].(int64)
		login, _ := s.Values["login"].(int64)
		epoch, _ := s.Values["epoch"].(int64)
		now := h.store.Now()
		if id != 0 && now.Sub(time.Unix(seen, 0)) <= sessionIdle && now.Sub(time.Unix(login, 0)) <= sessionMaxAge {
			if st, err := h.store.StaffByID(c.Request().Context(), id); err == nil && st.Active && st.SessionEpoch == epoch && !st.MustChangePassword {
				c.Set(staffKey, &st)
			}
		}
		return next(c)
	}
}
