package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// SettingsIndex handles GET /settings (admins): the organisation's name and
// deposit accounts.
func (h *Handler) SettingsIndex(c echo.Context) error {
	name, err := h.store.OrgName(c.Request().Context())
	if err != nil {
		return err
	}
	return h.settingsPage(c, http.StatusOK, views.OrgForm{Name: name}, views.DepositAccountForm{Type: db.AccountChecking}, nil)
}

// settingsPage renders the settings page with the given forms; a nil stale
// form shows the current threshold.
func (h *Handler) settingsPage(c echo.Context, status int, org views.OrgForm, acct views.DepositAccountForm, stale *views.StaleForm) error {
	list, err := h.store.ListDepositAccounts(c.Request().Context(), false)
	if err != nil {
		return err
	}
	if stale == nil {
		days, err := h.store.StaleDays(c.Request().Context())
		if err != nil {
			return err
		}
		stale = &views.StaleForm{Days: strconv.Itoa(days)}
	}
	return h.render(c, status, views.SettingsIndex(h.page(c, "Settings"), views.SettingsProps{Org: org, Accounts: list, Account: acct, Stale: *stale}))
}

// SettingsOrgUpdate handles POST /settings/org (admins).
func (h *Handler) SettingsOrgUpdate(c echo.Context) error {
	f := views.OrgForm{Name: c.FormValue("org_name")}
	err := h.store.SetOrgName(c.Request().Context(), actor(c), f.Name)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		return h.settingsPage(c, http.StatusUnprocessableEntity, f, views.DepositAccountForm{Type: db.AccountChecking}, nil)
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Organisation name saved.")
	return c.Redirect(http.StatusSeeOther, "/settings")
}

// DepositAccountCreate handles POST /settings/deposit-accounts (admins).
// The account number is never echoed back, not even with a form error.
func (h *Handler) DepositAccountCreate(c echo.Context) error {
	ctx := c.Request().Context()
	f := views.DepositAccountForm{Name: c.FormValue("name"), Type: c.FormValue("type"), RoutingNumber: c.FormValue("routing_number")}
	d, err := h.store.CreateDepositAccount(ctx, actor(c), db.DepositAccountCreate{
		Name: f.Name, Type: f.Type, RoutingNumber: f.RoutingNumber, AccountNumber: c.FormValue("account_number"),
	})
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		name, err := h.store.OrgName(ctx)
		if err != nil {
			return err
		}
		return h.settingsPage(c, http.StatusUnprocessableEntity, views.OrgForm{Name: name}, f, nil)
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Added "+d.Label()+".")
	return c.Redirect(http.StatusSeeOther, "/settings")
}

// DepositAccountArchive handles POST /settings/deposit-accounts/:id/archive
// (admins).
func (h *Handler) DepositAccountArchive(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := h.store.ArchiveDepositAccount(c.Request().Context(), actor(c), id)
	if err != nil {
		return err
	}
	h.flash(c, "ok", "Archived "+d.Label()+". Tokens already minted for it keep it.")
	return c.Redirect(http.StatusSeeOther, "/settings")
}
