package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/odu"
	"linkdesk/views"
)

// Underwriting: the income and employment report of an account or of an
// end user's accounts (page, JSON, paystubs CSV), refreshing its data with
// an On Demand Update, and recording a decision on it.

// AccountIncome handles GET /accounts/:account_id/income (?part=report:
// only the report part, which the page reloads when new data arrives).
func (h *Handler) AccountIncome(c echo.Context) error {
	return h.incomePage(c, db.ScopeAccount, "account_id", http.StatusOK, views.DecisionForm{})
}

// EndUserIncome handles GET /end-users/:end_user_id/income.
func (h *Handler) EndUserIncome(c echo.Context) error {
	return h.incomePage(c, db.ScopeEndUser, "end_user_id", http.StatusOK, views.DecisionForm{})
}

// incomePage renders the report of the subject in the path parameter.
func (h *Handler) incomePage(c echo.Context, scope, param string, status int, form views.DecisionForm) error {
	id, err := pathParam(c, param)
	if err != nil {
		return err
	}
	props, err := h.incomeProps(c, scope, id)
	if err != nil {
		return err
	}
	props.Form = form
	c.Response().Header().Set("Cache-Control", "no-store")
	if c.QueryParam("part") == "report" {
		return h.render(c, status, views.IncomeReport(props))
	}
	return h.render(c, status, views.IncomePage(h.page(c, "Income and employment report"), props))
}

// incomeProps reads the report, the latest refresh of each account and the
// live stream's starting point.
func (h *Handler) incomeProps(c echo.Context, scope, id string) (views.IncomeProps, error) {
	ctx := c.Request().Context()
	r, err := h.report(c, scope, id)
	if err != nil {
		return views.IncomeProps{}, err
	}
	st := staff(c)
	props := views.IncomeProps{R: r, Role: role(c), CanWrite: st != nil && st.CanWrite(), BaseURL: h.cfg.BaseURL,
		Refreshes: map[string]*db.LinkSummary{}}
	for _, a := range r.Accounts {
		links, _, err := h.store.ListLinks(ctx, db.LinkFilter{AccountID: a.AccountID, Limit: 20})
		if err != nil {
			return props, err
		}
		for i := range links {
			if links[i].Reason == db.IncomeRefreshReason {
				props.Refreshes[a.AccountID] = &links[i]
				break
			}
		}
	}
	q := db.TimelineQuery{AccountID: id}
	live := views.AccountLivePath(id)
	if scope == db.ScopeEndUser {
		q, live = db.TimelineQuery{EndUserID: id}, views.EndUserLivePath(id)
	}
	pos, err := h.store.TimelinePositions(ctx, q)
	if err != nil {
		return props, err
	}
	version, err := h.store.IncomeVersion(ctx, scope, id)
	if err != nil {
		return props, err
	}
	props.Live = withQuery(live, url.Values{"after": {pos.String()}, "watch": {"income"}, "v": {version}})
	return props, nil
}

func (h *Handler) report(c echo.Context, scope, id string) (db.IncomeReport, error) {
	if scope == db.ScopeEndUser {
		return h.store.EndUserIncomeReport(c.Request().Context(), id)
	}
	return h.store.AccountIncomeReport(c.Request().Context(), id)
}

// AccountIncomeJSON handles GET /accounts/:account_id/income.json: the
// report's figures for a lender's own systems.
func (h *Handler) AccountIncomeJSON(c echo.Context) error {
	return h.incomeJSON(c, db.ScopeAccount, "account_id")
}

// EndUserIncomeJSON handles GET /end-users/:end_user_id/income.json.
func (h *Handler) EndUserIncomeJSON(c echo.Context) error {
	return h.incomeJSON(c, db.ScopeEndUser, "end_user_id")
}

func (h *Handler) incomeJSON(c echo.Context, scope, param string) error {
	id, err := pathParam(c, param)
	if err != nil {
		return err
	}
	r, err := h.report(c, scope, id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, r)
}

// AccountIncomeRefresh handles POST /accounts/:account_id/income/refresh:
// it mints an On Demand Update for income, employment and paystubs (or
// shifts) through the mint service and goes back to the report (the end
// user's, with return=end_user), which shows the update link and, live,
// the data arriving. A refusal says why on the report.
func (h *Handler) AccountIncomeRefresh(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	pre, err := h.store.Preflight(ctx, id)
	if err != nil {
		return err
	}
	back := views.IncomePath(id)
	if c.FormValue("return") == "end_user" && pre.EndUserID != "" {
		back = views.EndUserIncomePath(pre.EndUserID)
	}
	back += "#acct-" + id
	caps, err := h.platformCaps(ctx, pre.PlatformID)
	if err != nil {
		return err
	}
	n, fe := db.IncomeRefresh(pre, caps)
	if fe != nil {
		h.flash(c, "error", fe["_form"])
		return c.Redirect(http.StatusSeeOther, back)
	}
	_, err = h.minter.Mint(ctx, actor(c), n)
	var up *odu.UpstreamError
	var unrecorded *odu.UnrecordedError
	switch {
	case errors.As(err, &up):
		msg, _ := h.describeMintError(up.Err)
		h.flash(c, "error", "The refresh could not start. "+msg)
		return c.Redirect(http.StatusSeeOther, back)
	case errors.As(err, &unrecorded):
		return &echo.HTTPError{Code: http.StatusInternalServerError, Message: msgMintUnrecorded(unrecorded.LinkTokenID), Internal: unrecorded.Err}
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Refresh requested ("+strings.Join(n.Jobs, ", ")+"). The end user opens the update link shown below; new data appears here as it arrives.")
	return c.Redirect(http.StatusSeeOther, back)
}

// AccountIncomeDecision handles POST /accounts/:account_id/income/decisions.
func (h *Handler) AccountIncomeDecision(c echo.Context) error {
	return h.decide(c, db.ScopeAccount, "account_id")
}

// EndUserIncomeDecision handles POST /end-users/:end_user_id/income/decisions.
func (h *Handler) EndUserIncomeDecision(c echo.Context) error {
	return h.decide(c, db.ScopeEndUser, "end_user_id")
}

// decide records a decision bound to the data the form's report showed
// (its fingerprint, field basis). Bad input re-renders the report with
// inline messages (422); data that changed since re-renders it with the
// new figures and says so (409).
func (h *Handler) decide(c echo.Context, scope, param string) error {
	id, err := pathParam(c, param)
	if err != nil {
		return err
	}
	f := views.DecisionForm{Outcome: c.FormValue("outcome"), Note: c.FormValue("note")}
	d, err := h.store.RecordDecision(c.Request().Context(), actor(c), db.DecisionInput{Scope: scope, SubjectID: id,
		Outcome: f.Outcome, Note: f.Note, Fingerprint: c.FormValue("basis")})
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		return h.incomePage(c, scope, param, http.StatusUnprocessableEntity, f)
	case errors.Is(err, db.ErrBasisChanged):
		f.Errors = views.Errors{"_form": "New data arrived after you opened this report, so the decision was not recorded. The figures now shown are the current ones: check them and record your decision again."}
		return h.incomePage(c, scope, param, http.StatusConflict, f)
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Decision recorded: "+db.OutcomeLabel(d.Outcome)+", bound to "+strconv.Itoa(d.Items)+" items of data.")
	path := views.IncomePath(id)
	if scope == db.ScopeEndUser {
		path = views.EndUserIncomePath(id)
	}
	return c.Redirect(http.StatusSeeOther, path+"#decisions")
}

// payCSVHeader is the header of the paystubs export. Amounts are in the
// row's currency with two decimals; flags say why a row is left out of
// the report's figures.
var payCSVHeader = []string{"account_id", "kind", "id", "pay_date", "period_start", "period_end", "employer", "currency", "gross", "net",
	"taxes", "deductions", "hours", "overtime_hours", "document_id", "flags", "sha256", "first_seen_at"}

// AccountPaystubsCSV handles GET /accounts/:account_id/paystubs.csv.
func (h *Handler) AccountPaystubsCSV(c echo.Context) error {
	return h.paystubsExport(c, db.ScopeAccount, "account_id")
}

// EndUserPaystubsCSV handles GET /end-users/:end_user_id/paystubs.csv.
func (h *Handler) EndUserPaystubsCSV(c echo.Context) error {
	return h.paystubsExport(c, db.ScopeEndUser, "end_user_id")
}

// paystubsExport streams the subject's paystubs and shifts through the
// export skeleton; the export is audited.
func (h *Handler) paystubsExport(c echo.Context, scope, param string) error {
	id, err := pathParam(c, param)
	if err != nil {
		return err
	}
	x, err := h.startExport(c, "paystubs", formatCSV, payCSVHeader)
	if err != nil {
		return err
	}
	date := func(t db.Date) string { return t.String() }
	_, err = h.store.ExportPayItems(c.Request().Context(), actor(c), scope, id, formatCSV, func(r db.PayExportRow) error {
		return x.record([]string{r.AccountID, r.Kind, r.ItemID, date(db.DateOf(r.PayDate)), date(db.DateOf(r.PeriodStart)), date(db.DateOf(r.PeriodEnd)),
			r.EmployerName, r.Currency, decimal(r.Gross), decimal(r.Net), decimal(r.Taxes), decimal(r.Deductions), float(r.Hours),
			float(r.OvertimeHours), r.DocumentID, strings.Join(r.Flags, "; "), r.SHA256, db.FormatTime(r.FirstSeenAt)})
	})
	return x.finish(err)
}

// decimal writes cents with two decimals ("" for none).
func decimal(c *int64) string {
	if c == nil {
		return ""
	}
	v := *c
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return sign + strconv.FormatInt(v/100, 10) + "." + strconv.FormatInt(v%100/10, 10) + strconv.FormatInt(v%10, 10)
}

func float(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}

// SettingsStaleDays handles POST /settings/underwriting (admins): when the
// income report marks data stale.
func (h *Handler) SettingsStaleDays(c echo.Context) error {
	f := views.StaleForm{Days: c.FormValue("stale_days")}
	err := h.store.SetStaleDays(c.Request().Context(), actor(c), f.Days)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		f.Errors = views.Errors(fe)
		name, err := h.store.OrgName(c.Request().Context())
		if err != nil {
			return err
		}
		return h.settingsPage(c, http.StatusUnprocessableEntity, views.OrgForm{Name: name}, views.DepositAccountForm{Type: db.AccountChecking}, &f)
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Income reports now mark data older than "+f.Days+" days stale.")
	return c.Redirect(http.StatusSeeOther, "/settings#underwriting-settings")
}
