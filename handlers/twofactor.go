package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// Two-factor sign-in (see db/twofactor.go): a person's own enrolment,
// recovery codes and turning it off; an admin's reset and the
// organisation's requirement are on /staff (staff.go).

// SecondFactorShow handles GET /account/second-factor: enrolment (a QR code
// of a pending secret) or the enrolled second factor.
func (h *Handler) SecondFactorShow(c echo.Context) error {
	return h.secondFactorPage(c, http.StatusOK, nil)
}

func (h *Handler) secondFactorPage(c echo.Context, status int, errs views.Errors) error {
	ctx := c.Request().Context()
	st := staff(c)
	required, err := h.store.SecondFactorRequired(ctx)
	if err != nil {
		return err
	}
	props := views.SecondFactorProps{Enrolled: st.SecondFactor, Required: required, Next: c.FormValue("next"), Errors: errs}
	if st.SecondFactor {
		if props.CodesLeft, err = h.store.RecoveryCodesLeft(ctx, st.ID); err != nil {
			return err
		}
		return h.render(c, status, views.SecondFactorPage(h.page(c, "Two-factor sign-in"), props))
	}
	org, err := h.store.OrgName(ctx)
	if err != nil {
		return err
	}
	e, err := h.store.PendingEnrolment(ctx, st.ID, "Linkdesk "+org)
	if err != nil {
		return err
	}
	props.Secret = e.Secret
	if props.QR, err = views.QRSVG(e.URL); err != nil {
		return err
	}
	return h.render(c, status, views.SecondFactorPage(h.page(c, "Two-factor sign-in"), props))
}

// SecondFactorEnrol handles POST /account/second-factor: the first code
// from the app turns the pending second factor on; the recovery codes are
// shown once.
func (h *Handler) SecondFactorEnrol(c echo.Context) error {
	st := staff(c)
	codes, err := h.store.ConfirmSecondFactor(c.Request().Context(), actor(c), st.ID, c.FormValue("code"))
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.secondFactorPage(c, http.StatusUnprocessableEntity, views.Errors(fe))
	case errors.Is(err, db.ErrNoSecondFactor):
		h.flash(c, "ok", "Two-factor sign-in is already on.")
		return c.Redirect(http.StatusSeeOther, "/account/second-factor")
	case err != nil:
		return err
	}
	st.SecondFactor, st.MustEnrolSecondFactor = true, false
	return h.render(c, http.StatusOK, views.RecoveryCodes(h.page(c, "Recovery codes"), codes, safeNext(c.FormValue("next"))))
}

// RecoveryCodesRenew handles POST /account/second-factor/recovery-codes:
// a current code from the app replaces the recovery codes.
func (h *Handler) RecoveryCodesRenew(c echo.Context) error {
	st := staff(c)
	codes, err := h.store.RenewRecoveryCodes(c.Request().Context(), actor(c), st.ID, c.FormValue("code"))
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.secondFactorPage(c, http.StatusUnprocessableEntity, views.Errors(fe))
	case errors.Is(err, db.ErrNoSecondFactor):
		h.flash(c, "error", "Turn on two-factor sign-in first.")
		return c.Redirect(http.StatusSeeOther, "/account/second-factor")
	case err != nil:
		return err
	}
	return h.render(c, http.StatusOK, views.RecoveryCodes(h.page(c, "Recovery codes"), codes, "/account/second-factor"))
}

// SecondFactorDisable handles POST /account/second-factor/disable: one's
// own password turns one's second factor off, unless the organisation
// requires it.
func (h *Handler) SecondFactorDisable(c echo.Context) error {
	st := staff(c)
	err := h.store.DisableSecondFactor(c.Request().Context(), actor(c), st.ID, c.FormValue("password"))
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.secondFactorPage(c, http.StatusUnprocessableEntity, views.Errors(fe))
	case errors.Is(err, db.ErrSecondFactorRequired):
		h.flash(c, "error", "Your organisation requires two-factor sign-in: it cannot be turned off.")
		return c.Redirect(http.StatusSeeOther, "/account/second-factor")
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Two-factor sign-in is off.")
	return c.Redirect(http.StatusSeeOther, "/account/second-factor")
}

// StaffSecondFactorReset handles POST /staff/:id/second-factor/reset
// (admins): for someone who lost their phone and their recovery codes.
func (h *Handler) StaffSecondFactorReset(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	err = h.store.ResetSecondFactor(c.Request().Context(), actor(c), id)
	switch {
	case errors.Is(err, db.ErrNoSecondFactor):
		h.flash(c, "error", "They have no second factor to reset.")
		return c.Redirect(http.StatusSeeOther, "/staff")
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Second factor reset. They sign in with their password and set up a new one; their sessions were ended.")
	return c.Redirect(http.StatusSeeOther, "/staff")
}

// SecondFactorRequiredUpdate handles POST /staff/second-factor-required
// (admins): require a second factor of everyone, or not.
func (h *Handler) SecondFactorRequiredUpdate(c echo.Context) error {
	on := c.FormValue("required") == "on"
	if err := h.store.SetSecondFactorRequired(c.Request().Context(), actor(c), on); err != nil {
		return err
	}
	msg := "Two-factor sign-in is no longer required."
	if on {
		msg = "Two-factor sign-in is required: staff without it set it up at their next sign-in."
	}
	h.flash(c, "ok", msg)
	return c.Redirect(http.StatusSeeOther, "/staff")
}

// ThrottleClear handles POST /staff/throttles/clear (admins): forget one
// sign-in throttle.
func (h *Handler) ThrottleClear(c echo.Context) error {
	err := h.store.ClearThrottle(c.Request().Context(), actor(c), c.FormValue("scope"), c.FormValue("email"), c.FormValue("source"))
	switch {
	case errors.Is(err, db.ErrNotFound):
		h.flash(c, "error", "That throttle was already gone.")
	case err != nil:
		return err
	default:
		h.flash(c, "ok", "Throttle cleared: the next attempt is not held back.")
	}
	return c.Redirect(http.StatusSeeOther, "/staff")
}

// StaffSecondFactorResetConfirm handles GET
// /staff/:id/second-factor/reset (admins): what resetting someone's second
// factor does, and the button that does it.
func (h *Handler) StaffSecondFactorResetConfirm(c echo.Context) error {
	st, err := h.staffByParam(c)
	if err != nil {
		return err
	}
	cf := views.Confirm{
		Title:  "Reset the second factor of " + st.Name + "?",
		Action: "/staff/" + views.Itoa(st.ID) + "/second-factor/reset", Submit: "Reset second factor", Cancel: "/staff", Danger: true,
		Effects: []string{
			"Their authenticator app and recovery codes stop working at once, and they are signed out everywhere.",
			st.Name + " (" + st.Email + ") signs in with their password alone until they set up a new second factor (at their next sign-in if your organisation requires one).",
			"This cannot be undone: only they can set up a new one.",
		},
	}
	if !st.SecondFactor {
		cf.Effects = []string{st.Name + " has no second factor; nothing will change."}
	}
	return h.confirm(c, cf)
}
