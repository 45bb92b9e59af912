package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

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
// form shows the current threshold, and no retention form the periods in
// force.
func (h *Handler) settingsPage(c echo.Context, status int, org views.OrgForm, acct views.DepositAccountForm, stale *views.StaleForm, ret ...views.RetentionForm) error {
	ctx := c.Request().Context()
	list, err := h.store.ListDepositAccounts(ctx, false)
	if err != nil {
		return err
	}
	if stale == nil {
		days, err := h.store.StaleDays(ctx)
		if err != nil {
			return err
		}
		stale = &views.StaleForm{Days: strconv.Itoa(days)}
	}
	props := views.SettingsProps{Org: org, Accounts: list, Account: acct, Stale: *stale}
	if props.RetentionNow, err = h.store.Retention(ctx); err != nil {
		return err
	}
	if props.CampaignApproval, err = h.store.CampaignApprovalRequired(ctx); err != nil {
		return err
	}
	if len(ret) > 0 {
		props.Retention = ret[0]
	} else {
		props.Retention = views.RetentionFormOf(props.RetentionNow)
	}
	return h.render(c, status, views.SettingsIndex(h.page(c, "Settings"), props))
}

// RetentionUpdate handles POST /settings/retention (admins): how many days
// raw webhook bodies and launch-page event payloads are kept (empty:
// forever). Audited; the retention job applies it at once.
func (h *Handler) RetentionUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	f := views.RetentionForm{WebhookBodyDays: strings.TrimSpace(c.FormValue("webhook_body_days")), LaunchPayloadDays: strings.TrimSpace(c.FormValue("launch_payload_days"))}
	r, fe := db.ValidateRetention(f.WebhookBodyDays, f.LaunchPayloadDays)
	if fe != nil {
		f.Errors = views.Errors(fe)
		name, err := h.store.OrgName(ctx)
		if err != nil {
			return err
		}
		return h.settingsPage(c, http.StatusUnprocessableEntity, views.OrgForm{Name: name}, views.DepositAccountForm{Type: db.AccountChecking}, nil, f)
	}
	if err := h.store.SetRetention(ctx, actor(c), r); err != nil {
		return err
	}
	h.flash(c, "ok", "Retention saved: raw webhook bodies "+views.DaysText(r.WebhookBodyDays)+", launch-page payloads "+views.DaysText(r.LaunchPayloadDays)+".")
	return c.Redirect(http.StatusSeeOther, "/settings#retention")
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

// DepositAccountArchiveConfirm handles GET
// /settings/deposit-accounts/:id/archive (admins): what archiving does,
// and the button that does it.
func (h *Handler) DepositAccountArchiveConfirm(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	list, err := h.store.ListDepositAccounts(c.Request().Context(), false)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(list, func(d db.DepositAccount) bool { return d.ID == id })
	if i < 0 {
		return db.ErrNotFound
	}
	d := list[i]
	cf := views.Confirm{
		Title: "Archive " + d.Label() + "?",
		Effects: []string{
			"New direct deposit switches can no longer send pay to it.",
			"Links that mint when opened and would send pay to it can no longer mint: their end users are asked to get a new link.",
			"Tokens already minted for it keep it, and it stays listed here as archived. This cannot be undone: to use the account again, add it again.",
		},
		Action: "/settings/deposit-accounts/" + strconv.FormatInt(id, 10) + "/archive", Submit: "Archive " + d.Name, Cancel: "/settings#deposit-accounts", Danger: true,
	}
	if !d.Active {
		cf.Effects = []string{"It is archived already; nothing will change."}
	}
	return h.confirm(c, cf)
}
