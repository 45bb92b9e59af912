package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// parseAccountQuery reads the /accounts filters from the URL. Values that
// do not parse become field errors shown beside the filter.
func parseAccountQuery(c echo.Context) (db.AccountQuery, views.AccountsProps, error) {
	q := db.AccountQuery{
		Status: c.QueryParam("status"), Platform: c.QueryParam("platform"), LastOutcome: c.QueryParam("last_outcome"),
	}
	props := views.AccountsProps{Connected: c.QueryParam("connected"), Errors: views.Errors{}}
	switch props.Connected {
	case "":
	case "yes", "no":
		yes := props.Connected == "yes"
		q.Connected = &yes
	default:
		props.Errors["connected"] = "Choose yes or no."
	}
	if s := strings.TrimSpace(c.QueryParam("quiet_days")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 3650 {
			props.Errors["quiet_days"] = "Enter a number of days from 1 to 3650."
		} else {
			q.QuietDays = n
		}
	}
	cur, err := db.ParseCursor(c.QueryParam("after"))
	if err != nil {
		return q, props, badCursor()
	}
	q.After = cur
	props.Sort = listSort(c, "/accounts")
	q.Oldest = props.Sort.Oldest
	props.Filtered = q.Status != "" || q.Platform != "" || q.LastOutcome != "" || props.Connected != "" || c.QueryParam("quiet_days") != ""
	return q, props, nil
}

// accountsURL is the list URL of a filter and cursor.
func accountsURL(c echo.Context, after db.Cursor) string {
	v := url.Values{}
	for _, k := range []string{"status", "platform", "connected", "last_outcome", "quiet_days", "order"} {
		setIf(v, k, c.QueryParam(k))
	}
	setIf(v, "after", after.String())
	return withQuery("/accounts", v)
}

// AccountsIndex handles GET /accounts: accounts by latest activity, keyset
// paged (?after=), filtered by status, platform, connected, last job
// outcome and days without events, with counts beside each value.
func (h *Handler) AccountsIndex(c echo.Context) error {
	ctx := c.Request().Context()
	q, props, err := parseAccountQuery(c)
	if err != nil {
		return err
	}
	props.Q = q
	if props.Facets, err = h.store.AccountFacets(ctx); err != nil {
		return err
	}
	status := http.StatusOK
	if len(props.Errors) == 0 {
		var next db.Cursor
		props.Rows, next, err = h.store.ListAccounts(ctx, q)
		if fe := filterErrors(err); fe != nil {
			props.Errors, err = fe, nil
		}
		if err != nil {
			return err
		}
		if !next.IsZero() {
			props.Next = accountsURL(c, next)
		}
	}
	if len(props.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	} else if err := h.accountsCount(c, &props); err != nil {
		return err
	}
	return h.render(c, status, views.AccountsIndex(h.page(c, "Accounts"), props))
}

// accountsCount fills in the count line and the chips of /accounts: a
// single filter's count comes from the counters beside the filters, any
// other from a bounded count.
func (h *Handler) accountsCount(c echo.Context, props *views.AccountsProps) error {
	q, f := props.Q, props.Facets
	type one struct {
		key, label, value string
		n                 int64
	}
	var set []one
	if q.Status != "" {
		set = append(set, one{"status", "Monitoring", views.StatusLabel(q.Status), db.Count(f.Statuses, q.Status)})
	}
	if q.Platform != "" {
		name := q.Platform
		for _, p := range f.Platforms {
			if p.Value == q.Platform && p.Label != "" {
				name = p.Label
			}
		}
		set = append(set, one{"platform", "Platform", name, db.Count(f.Platforms, q.Platform)})
	}
	if q.Connected != nil {
		v, n := "no", db.Count(f.Connected, "0")
		if *q.Connected {
			v, n = "yes", db.Count(f.Connected, "1")
		}
		set = append(set, one{"connected", "Connected", v, n})
	}
	if q.LastOutcome != "" {
		set = append(set, one{"last_outcome", "Last job", views.OutcomeLabel(q.LastOutcome), db.Count(f.LastOutcome, q.LastOutcome)})
	}
	if q.QuietDays > 0 {
		set = append(set, one{"quiet_days", "No events for", views.Plural(q.QuietDays, "day", "days"), -1})
	}
	for _, o := range set {
		props.Chips = append(props.Chips, chip(c, "/accounts", o.key, o.label, o.value, o.n))
	}
	var n int64
	var more bool
	switch {
	case len(set) == 0:
	case len(set) == 1 && set[0].n >= 0:
		n = set[0].n
	default:
		var err error
		if n, more, err = h.store.CountAccounts(c.Request().Context(), q, countLimit); err != nil {
			return err
		}
	}
	props.Count = listCount(n, more, f.Total, len(props.Rows), len(set) > 0, "account", "accounts")
	return nil
}

// AccountShow handles GET /accounts/:account_id: the account's header,
// data panels, status history and timeline, live.
func (h *Handler) AccountShow(c echo.Context) error {
	props, err := h.accountProps(c, nil)
	if err != nil {
		return err
	}
	p := h.page(c, "Account "+props.O.Account.AccountID)
	if props.Timeline.Live != "" {
		p.Live, props.Live = props.Timeline.Live, true
	}
	return h.render(c, http.StatusOK, views.AccountShow(p, props))
}

// AccountReveal handles POST /accounts/:account_id/reveal: it records in
// the audit trail that the staff member revealed the masked identity
// fields named in "fields", then shows the account page with them. Every
// role may reveal (auditors read everything); the audit row is the only
// change. The values are never put in a URL or the session, so the page is
// answered directly rather than by a redirect.
func (h *Handler) AccountReveal(c echo.Context) error {
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The request was not understood.")
	}
	fields := c.Request().PostForm["fields"]
	err = h.store.RevealPII(c.Request().Context(), actor(c), id, fields, c.FormValue("reason"))
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose the date of birth or the SSN's last four to reveal.")
	}
	if err != nil {
		return err
	}
	revealed := map[string]bool{}
	for _, f := range fields {
		revealed[f] = true
	}
	props, err := h.accountProps(c, revealed)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if isHTMX(c) {
		// A boosted form would put /reveal in the address bar; a reload of
		// it would then be a GET of a POST-only route.
		c.Response().Header().Set("HX-Push-Url", views.AccountPath(id))
	}
	p := h.page(c, "Account "+props.O.Account.AccountID)
	if props.Timeline.Live != "" {
		p.Live, props.Live = props.Timeline.Live, true
	}
	return h.render(c, http.StatusOK, views.AccountShow(p, props))
}

// accountProps reads everything the account page shows. The stamp is read
// first, so that a change made while the page is read shows on the live
// stream at once.
func (h *Handler) accountProps(c echo.Context, revealed map[string]bool) (views.AccountProps, error) {
	ctx := c.Request().Context()
	id, err := pathParam(c, "account_id")
	if err != nil {
		return views.AccountProps{}, err
	}
	stamp, err := h.store.AccountStamp(ctx, id)
	if err != nil {
		return views.AccountProps{}, err
	}
	var props views.AccountProps
	var timeline views.TimelineProps
	var whoSaw *views.WhoSawProps
	all := "/audit?" + url.Values{"target_type": {"account"}, "target_id": {id}}.Encode()
	err = together(c,
		func() (err error) { props, err = h.accountPanels(c, ctx, id); return err },
		func() (err error) {
			timeline, err = h.timeline(c, db.TimelineQuery{AccountID: id}, views.AccountPath(id), views.AccountLivePath(id), stamp)
			return err
		},
		func() (err error) {
			whoSaw, err = h.whoSaw(c, db.WhoSawQuery{AccountID: id}, all, views.AccountPath(id)+"/evidence.zip")
			return err
		})
	props.Revealed, props.Timeline, props.WhoSaw = revealed, timeline, whoSaw
	return props, err
}

// accountPanels reads what the account page's panels show (all but the
// timeline): the page and its live stream share it.
func (h *Handler) accountPanels(c echo.Context, ctx context.Context, id string) (views.AccountProps, error) {
	props := views.AccountProps{Role: role(c)}
	var err error
	if props.O, err = h.store.AccountOverview(ctx, id); err != nil {
		return props, err
	}
	v, err := h.store.IdentityVerdict(ctx, id)
	switch {
	case err == nil:
		props.Verdict = &v
	case !errors.Is(err, db.ErrNotFound):
		return props, err
	}
	if props.Tokens, _, err = h.store.ListLinks(ctx, db.LinkFilter{AccountID: id, Limit: 10}); err != nil {
		return props, err
	}
	if props.Decisions, err = h.store.DecisionsAbout(ctx, db.ScopeAccount, id); err != nil {
		return props, err
	}
	if props.Health, err = h.accountHealth(c, id); err != nil {
		return props, err
	}
	props.Campaigns, err = h.store.AccountCampaigns(ctx, id)
	return props, err
}
