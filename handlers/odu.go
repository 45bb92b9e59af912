package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/pinwheel"
	"linkdesk/views"
)

// On Demand Updates: staff mint a Link token carrying an account's
// account_id (or create a launch link that mints on open) from the mint
// form, with the pre-flight panel beside it.

const (
	// platformTimeout bounds the capability lookup of the pre-flight panel.
	platformTimeout = 3 * time.Second
	// platformMaxAge is how long cached capabilities are trusted.
	platformMaxAge = time.Hour
)

// User-facing texts of upstream failures.
const (
	msgUnauthorized = "Pinwheel refused our API secret. An admin should check LINKDESK_PINWHEEL_SECRET."
	msgBusy         = "Pinwheel is busy or unreachable right now. Nothing was created; try again in a minute."
)

// pinwheelFields maps Pinwheel's validation field names to mint form fields
// and a message of ours (Pinwheel's own texts may change and are not ours
// to show).
var pinwheelFields = map[string][2]string{
	"routing_number":    {"targets", "Pinwheel refused the routing number of the chosen deposit account; an admin should check it in Settings."},
	"account_number":    {"targets", "Pinwheel refused the account number of the chosen deposit account; an admin should check it in Settings."},
	"name":              {"targets", "Pinwheel refused the name of the chosen deposit account (2 to 30 characters)."},
	"type":              {"targets", "Pinwheel refused the type of the chosen deposit account or of the allocation."},
	"targets":           {"targets", "Pinwheel refused the chosen deposit accounts."},
	"value":             {"amount", "Pinwheel refused this amount."},
	"min_amount":        {"min_amount", "Pinwheel refused this minimum."},
	"required_jobs":     {"jobs", "Pinwheel refused these jobs."},
	"features":          {"jobs", "Pinwheel refused these jobs."},
	"solution":          {"jobs", "Pinwheel refused the solution chosen for these jobs."},
	"language":          {"language", "Pinwheel refused this language."},
	"skip_intro_screen": {"skip_intro", "Pinwheel refused this setting."},
	"org_name":          {"_form", "Pinwheel refused the organisation's name; an admin should set 3 to 30 characters in Settings."},
	"account_id":        {"_form", "Pinwheel refused this account ID."},
}

// describeMintError turns an upstream failure into a summary a person can
// act on and, for validation errors, messages on the form's fields.
func (h *Handler) describeMintError(err error) (string, views.Errors) {
	switch {
	case pinwheel.IsUnauthorized(err):
		return msgUnauthorized, nil
	case pinwheel.IsRateLimited(err), pinwheel.IsServerError(err):
		return msgBusy, nil
	case pinwheel.IsNotFound(err):
		return fmt.Sprintf("Pinwheel has no such account in %s mode. Nothing was created; the account may belong to another Pinwheel mode.", h.cfg.PinwheelMode), nil
	case pinwheel.IsInvalidRequest(err):
		var pe *pinwheel.Error
		errors.As(err, &pe)
		fields := views.Errors{}
		var other []string
		for _, f := range pe.Fields {
			m, ok := pinwheelFields[f.Name]
			if !ok {
				other = append(other, f.Name)
				continue
			}
			fields[m[0]] = m[1]
		}
		msg := "Pinwheel did not accept the request"
		if pe.Code != "" {
			msg += " (" + pe.Code + ")"
		}
		msg += ". Nothing was created: fix the highlighted fields and try again."
		if len(other) > 0 {
			msg += " Pinwheel also named: " + strings.Join(other, ", ") + "."
		}
		return msg, fields
	}
	var pe *pinwheel.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("Pinwheel answered with an unexpected status (%d). Nothing was created; try again in a minute.", pe.StatusCode), nil
	}
	return msgBusy, nil
}

// platformCaps returns the platform's capabilities from the cache when
// fresh, else from the API (and caches them). When the API fails, stale
// cached capabilities are still used; with none, Known is false and the
// panel says "capabilities unknown".
func (h *Handler) platformCaps(ctx context.Context, id string) (db.PlatformCaps, error) {
	if id == "" {
		return db.PlatformCaps{}, nil
	}
	cached, err := h.store.CachedPlatform(ctx, id)
	switch {
	case err == nil && h.store.Now().Sub(cached.FetchedAt) < platformMaxAge:
		return cached, nil
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return db.PlatformCaps{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, platformTimeout)
	defer cancel()
	p, perr := h.pw.Platform(pctx, id)
	if perr != nil {
		return cached, nil // zero (unknown) when nothing was cached
	}
	return h.store.CachePlatform(ctx, db.PlatformCaps{ID: p.ID, Name: p.Name, SupportedJobs: p.SupportedJobs})
}

// oduProps gathers the mint form's page: pre-flight facts, identity verdict,
// platform capabilities, deposit accounts, the organisation's name.
func (h *Handler) oduProps(ctx context.Context, accountID string) (views.ODUProps, error) {
	pre, err := h.store.Preflight(ctx, accountID)
	if err != nil {
		return views.ODUProps{}, err
	}
	props := views.ODUProps{AccountID: accountID, Pre: pre, APIVersion: h.cfg.PinwheelVersion, LinkLifetime: h.cfg.LinkLifetime}
	switch v, err := h.store.IdentityVerdict(ctx, accountID); {
	case err == nil:
		props.Verdict = &v
	case !errors.Is(err, db.ErrNotFound):
		return views.ODUProps{}, err
	}
	if props.Platform, err = h.platformCaps(ctx, pre.PlatformID); err != nil {
		return views.ODUProps{}, err
	}
	if props.Deposits, err = h.store.ListDepositAccounts(ctx, true); err != nil {
		return views.ODUProps{}, err
	}
	if len(props.Deposits) == 0 {
		// Who can add one: the active admins, by name.
		all, err := h.store.ListStaff(ctx)
		if err != nil {
			return views.ODUProps{}, err
		}
		for _, st := range all {
			if st.Active && st.IsAdmin() {
				props.Admins = append(props.Admins, st.Name)
			}
		}
	}
	props.OrgName, err = h.store.OrgName(ctx)
	return props, err
}

// oduContext is what ValidateODU checks the form against.
func oduContext(props views.ODUProps) db.ODUContext {
	cx := db.ODUContext{Preflight: props.Pre, Platform: props.Platform, DepositAccounts: props.Deposits}
	if props.Verdict != nil {
		cx.IdentityResult = props.Verdict.Result
	}
	return cx
}

// ODUNew handles GET /accounts/:account_id/update: the mint form and the
// pre-flight panel. ?job= preselects jobs (the identity check links here
// with job=identity).
func (h *Handler) ODUNew(c echo.Context) error {
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	props, err := h.oduProps(c.Request().Context(), id)
	if err != nil {
		return err
	}
	props.IsAdmin = staff(c).IsAdmin()
	props.Form = views.ODUForm{Jobs: c.QueryParams()["job"], Language: "en", AllocationMode: db.AllocationFixed}
	return h.render(c, http.StatusOK, views.ODUNew(h.page(c, "On Demand Update"), props))
}

// oduForm reads the mint form.
func oduForm(c echo.Context) views.ODUForm {
	fp, _ := c.FormParams()
	return views.ODUForm{
		Jobs: fp["jobs"], Targets: fp["targets"], AllocationMode: fp.Get("allocation_mode"),
		Amount: fp.Get("amount"), MinAmount: fp.Get("min_amount"), Language: fp.Get("language"),
		SkipIntro: fp.Get("skip_intro") != "", Reason: fp.Get("reason"),
		OverrideIdentity: fp.Get("override_identity") != "", OverrideReason: fp.Get("override_reason"),
	}
}

// ODUCreate handles POST /accounts/:account_id/update. With mode=mint it
// mints a token now (odu.Minter.Mint: one transaction stores it with its
// audit row, after Pinwheel answered); with mode=mint_on_open it creates a
// launch link that mints when the user opens it. A refusal by Pinwheel
// re-renders the form (422) with the input kept and leaves no token behind;
// a token minted but not stored is a 500 that says so.
func (h *Handler) ODUCreate(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	props, err := h.oduProps(ctx, id)
	if err != nil {
		return err
	}
	props.IsAdmin = staff(c).IsAdmin()
	props.Form = oduForm(c)
	n, fe := db.ValidateODU(props.Form.Request(), oduContext(props))
	if fe != nil {
		props.Form.Errors = views.Errors(fe)
		return h.render(c, http.StatusUnprocessableEntity, views.ODUNew(h.page(c, "On Demand Update"), props))
	}
	if c.FormValue("mode") == db.ModeMintOnOpen {
		l, err := h.minter.CreateOnOpen(ctx, actor(c), n)
		if err != nil {
			return err
		}
		h.flash(c, "ok", "Launch link created. It mints a token when the user opens it.")
		return c.Redirect(http.StatusSeeOther, views.TokenPath(l.TokenID))
	}
	l, err := h.minter.Mint(ctx, actor(c), n)
	var up *odu.UpstreamError
	var unrecorded *odu.UnrecordedError
	switch {
	case errors.As(err, &up):
		props.Summary, props.Form.Errors = h.describeMintError(up.Err)
		return h.render(c, http.StatusUnprocessableEntity, views.ODUNew(h.page(c, "On Demand Update"), props))
	case errors.As(err, &unrecorded):
		return &echo.HTTPError{Code: http.StatusInternalServerError, Message: msgMintUnrecorded(unrecorded.LinkTokenID), Internal: unrecorded.Err}
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Token minted. Open the launch link on the user's device or send it to them.")
	return c.Redirect(http.StatusSeeOther, views.TokenPath(l.TokenID))
}

// msgMintUnrecorded is what staff read when a minted token could not be
// stored.
func msgMintUnrecorded(linkTokenID string) string {
	return "Pinwheel minted a Link token (link_token_id " + linkTokenID + "), but Linkdesk could not save it, so no link shows it. " +
		"The token may still exist at Pinwheel until it expires, within an hour; webhooks about it will name that link_token_id. " +
		"Try again in a minute, and tell an admin if this repeats."
}
