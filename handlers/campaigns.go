package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/pii"
	"linkdesk/pinwheel"
	"linkdesk/views"
)

// Incentive campaigns: the list, the draft form with its live cohort
// preview, the campaign page with its actions and the launch's live
// progress, the members list and its exports, and the payout. Every role
// reads; operators and admins draft, launch, pause, resume, cancel and end;
// admins approve and mark incentives paid (web/routes.go).

// campaignDefaults are the offer fields of a new campaign's form.
func campaignDefaults() db.CampaignInput {
	return db.CampaignInput{Goal: db.GoalAllocation, Ask: db.AskMinimum, AskAmount: "200", IncentiveAmount: "50",
		LifetimeDays: "14", HoldDays: "30", HoldoutPct: strconv.Itoa(db.DefaultHoldoutPct), Cohort: url.Values{}}
}

// cohortValues keeps the cohort's parameters of v.
func cohortValues(v url.Values) url.Values {
	out := url.Values{}
	for _, k := range db.CohortKeys() {
		if s := strings.TrimSpace(v.Get(k)); s != "" {
			out.Set(k, s)
		}
	}
	return out
}

// campaignInput reads a campaign form (a POST body, or the query of the
// no-JavaScript preview).
func campaignInput(v url.Values) db.CampaignInput {
	return db.CampaignInput{Name: v.Get("name"), Goal: v.Get("goal"), DepositAccount: v.Get("deposit_account"), Ask: v.Get("ask"),
		AskAmount: v.Get("ask_amount"), IncentiveText: v.Get("incentive_text"), IncentiveAmount: v.Get("incentive_amount"),
		LifetimeDays: v.Get("lifetime_days"), HoldDays: v.Get("hold_days"), HoldoutPct: v.Get("holdout_pct"), Tags: v.Get("tags"),
		Cohort: cohortValues(v)}
}

// hasOfferFields reports whether a query carries a submitted form (the
// preview button), not just filters from a bookmark.
func hasOfferFields(v url.Values) bool { return v.Has("name") || v.Has("goal") }

// cohortProps previews the cohort of filter values for a goal.
func (h *Handler) cohortProps(ctx context.Context, v url.Values, goal string) (views.CohortProps, error) {
	f, fe := db.ParseCohort(v, func(id string) bool { return h.store.KnownPlatform(ctx, id) })
	if fe != nil {
		return views.CohortProps{Errors: views.Errors(fe)}, nil
	}
	p, err := h.store.PreviewCohort(ctx, f, goal)
	if err != nil {
		return views.CohortProps{}, err
	}
	names, err := h.platformNames(ctx)
	if err != nil {
		return views.CohortProps{}, err
	}
	return views.CohortProps{Preview: p, Filter: f.Describe(names), Valid: true}, nil
}

// platformNames names platform ids from the accounts' facets.
func (h *Handler) platformNames(ctx context.Context) (func(string) string, error) {
	list, err := h.store.CohortPlatforms(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, p := range list {
		m[p.ID] = p.Name
	}
	return func(id string) string {
		if n := m[id]; n != "" {
			return n
		}
		return id
	}, nil
}

// refreshPlatforms caches the capabilities of every platform Pinwheel
// lists, when the cache is older than platformMaxAge (one or two calls),
// so that the "supports the goal's job" filter knows them. A failure
// keeps what is cached.
func (h *Handler) refreshPlatforms(ctx context.Context) {
	at, err := h.store.PlatformsCachedAt(ctx)
	if err != nil || (!at.IsZero() && h.store.Now().Sub(at) < platformMaxAge) || h.pw == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, platformTimeout)
	defer cancel()
	for p, err := range h.pw.Platforms(pctx, pinwheel.PlatformsFilter{}) {
		if err != nil {
			return
		}
		if _, err := h.store.CachePlatform(ctx, db.PlatformCaps{ID: p.ID, Name: p.Name, SupportedJobs: p.SupportedJobs}); err != nil {
			return
		}
	}
}

// formProps gathers the campaign form's page.
func (h *Handler) formProps(c echo.Context, id int64, in db.CampaignInput, fe db.FieldErrors) (views.CampaignFormProps, error) {
	ctx := c.Request().Context()
	props := views.CampaignFormProps{ID: id, In: in, Errors: views.Errors(fe)}
	var err error
	if props.Deposits, err = h.store.ListDepositAccounts(ctx, true); err != nil {
		return props, err
	}
	if len(props.Deposits) == 1 && props.In.DepositAccount == "" {
		props.In.DepositAccount = strconv.FormatInt(props.Deposits[0].ID, 10)
	}
	h.refreshPlatforms(ctx)
	if props.Platforms, err = h.store.CohortPlatforms(ctx); err != nil {
		return props, err
	}
	props.Cohort, err = h.cohortProps(ctx, in.Cohort, in.Goal)
	for k, v := range props.Cohort.Errors {
		if props.Errors == nil {
			props.Errors = views.Errors{}
		}
		props.Errors[k] = v
	}
	return props, err
}

// CampaignsIndex handles GET /campaigns: campaigns newest first
// (?state=, keyset ?before=).
func (h *Handler) CampaignsIndex(c echo.Context) error {
	f := db.CampaignFilter{State: c.QueryParam("state")}
	if f.State != "" && !oneOfStrings(f.State, db.CampaignStates) {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose a state from the list.")
	}
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return badCursor()
		}
		f.Before = n
	}
	list, next, err := h.store.ListCampaigns(c.Request().Context(), f)
	if err != nil {
		return err
	}
	props := views.CampaignsProps{List: list, State: f.State, CanWrite: staff(c).CanWrite()}
	byState, err := h.store.CampaignStateCounts(c.Request().Context())
	if err != nil {
		return err
	}
	var total int64
	for _, n := range byState {
		total += n
	}
	props.Count = listCount(byState[f.State], false, total, len(list), f.State != "", "campaign", "campaigns")
	if f.State != "" {
		props.Chips = append(props.Chips, chip(c, "/campaigns", "state", "State", f.State, byState[f.State]))
	}
	if next != 0 {
		v := url.Values{"before": {strconv.FormatInt(next, 10)}}
		setIf(v, "state", f.State)
		props.Next = withQuery("/campaigns", v)
	}
	return h.render(c, http.StatusOK, views.CampaignsIndex(h.page(c, "Campaigns"), props))
}

func oneOfStrings(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CampaignNew handles GET /campaigns/new: the draft form. The cohort's
// filters (and, from the Preview button, the whole form) come from the
// URL, so a cohort can be bookmarked and shared.
func (h *Handler) CampaignNew(c echo.Context) error {
	q := c.QueryParams()
	in := campaignDefaults()
	if hasOfferFields(q) {
		in = campaignInput(q)
	}
	in.Cohort = cohortValues(q)
	props, err := h.formProps(c, 0, in, nil)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.CampaignForm(h.page(c, "New campaign"), props))
}

// CampaignCohort handles GET /campaigns/cohort: the count and sample of the
// cohort the query's filters select (for the query's goal), as the
// fragment the form's filters reload. It also replaces the browser's URL
// with the form page and these filters (HX-Replace-Url).
func (h *Handler) CampaignCohort(c echo.Context) error {
	q := c.QueryParams()
	props, err := h.cohortProps(c.Request().Context(), q, q.Get("goal"))
	if err != nil {
		return err
	}
	if isHTMX(c) {
		if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil && formPath(u.Path) {
			c.Response().Header().Set("HX-Replace-Url", withQuery(u.Path, cohortValues(q)))
		}
	}
	return h.render(c, http.StatusOK, views.CohortPreview(props))
}

// formPath reports whether path is a campaign form page.
func formPath(path string) bool {
	return path == "/campaigns/new" || strings.HasPrefix(path, "/campaigns/") && strings.HasSuffix(path, "/edit")
}

// CampaignCreate handles POST /campaigns: a new draft. Field errors
// re-render the form with 422.
func (h *Handler) CampaignCreate(c echo.Context) error {
	if err := c.Request().ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form was not understood.")
	}
	in := campaignInput(c.Request().PostForm)
	id, err := h.store.CreateCampaign(c.Request().Context(), actor(c), in)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		props, err := h.formProps(c, 0, in, fe)
		if err != nil {
			return err
		}
		return h.render(c, http.StatusUnprocessableEntity, views.CampaignForm(h.page(c, "New campaign"), props))
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Draft saved.")
	return c.Redirect(http.StatusSeeOther, views.CampaignPath(id))
}

// campaignParam reads the :campaign_id of a campaign route.
func campaignParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("campaign_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, invalidID()
	}
	return id, nil
}

// CampaignShow handles GET /campaigns/:id: the campaign page.
func (h *Handler) CampaignShow(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	cp, err := h.store.CampaignByID(ctx, id)
	if err != nil {
		return err
	}
	st := staff(c)
	props := views.CampaignProps{C: cp, Role: st.Role, StaffID: st.ID, Now: h.store.Now()}
	if props.ApprovalRequired, err = h.store.CampaignApprovalRequired(ctx); err != nil {
		return err
	}
	if props.PlatformName, err = h.platformNames(ctx); err != nil {
		return err
	}
	if cp.FrozenAt.IsZero() {
		if cp.Editable() {
			if props.Cohort, err = h.cohortProps(ctx, cp.Cohort.Values(), cp.Goal); err != nil {
				return err
			}
		}
	} else if props.R, err = h.store.CampaignResults(ctx, cp); err != nil {
		return err
	}
	if cp.Launched() {
		if props.Progress, err = h.store.CampaignProgress(ctx, id); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusOK, views.CampaignShow(h.page(c, cp.Name), props))
}

// CampaignEdit handles GET /campaigns/:id/edit: the form of a draft (its
// filters may come from the URL, as on the new-campaign form). A launched
// campaign goes back to its page with the reason.
func (h *Handler) CampaignEdit(c echo.Context) error {
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	cp, err := h.store.CampaignByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if !cp.Editable() {
		h.flash(c, "error", "This campaign was launched: its offer and cohort can no longer change.")
		return c.Redirect(http.StatusSeeOther, views.CampaignPath(id))
	}
	in := db.CampaignInputOf(cp)
	q := c.QueryParams()
	if hasOfferFields(q) {
		in = campaignInput(q)
	}
	if cv := cohortValues(q); len(cv) > 0 || hasOfferFields(q) {
		in.Cohort = cv
	}
	props, err := h.formProps(c, id, in, nil)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.CampaignForm(h.page(c, "Edit "+cp.Name), props))
}

// CampaignUpdate handles POST /campaigns/:id: a draft's new offer and
// cohort. Field errors re-render the form with 422; a launched campaign is
// refused with the reason.
func (h *Handler) CampaignUpdate(c echo.Context) error {
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form was not understood.")
	}
	in := campaignInput(c.Request().PostForm)
	err = h.store.UpdateCampaign(c.Request().Context(), actor(c), id, in)
	var fe db.FieldErrors
	var ce *db.CampaignError
	switch {
	case errors.As(err, &fe):
		props, err := h.formProps(c, id, in, fe)
		if err != nil {
			return err
		}
		return h.render(c, http.StatusUnprocessableEntity, views.CampaignForm(h.page(c, "Edit campaign"), props))
	case errors.As(err, &ce):
		h.flash(c, "error", ce.Reason)
		return c.Redirect(http.StatusSeeOther, views.CampaignPath(id))
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Draft saved.")
	return c.Redirect(http.StatusSeeOther, views.CampaignPath(id))
}

// campaignAction runs a state change and answers with the campaign page
// and a message: the reason when it was refused.
func (h *Handler) campaignAction(c echo.Context, ok string, do func(ctx context.Context, a db.Actor, id int64) error) error {
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	err = do(c.Request().Context(), actor(c), id)
	var ce *db.CampaignError
	switch {
	case errors.As(err, &ce):
		h.flash(c, "error", ce.Reason)
	case err != nil:
		return err
	default:
		h.flash(c, "ok", ok)
		if h.wake != nil {
			h.wake()
		}
	}
	return c.Redirect(http.StatusSeeOther, views.CampaignPath(id))
}

// CampaignApprove handles POST /campaigns/:id/approve (admins): the second
// person's approval of a draft.
func (h *Handler) CampaignApprove(c echo.Context) error {
	role := staff(c).Role
	return h.campaignAction(c, "Approved: the campaign can be launched.", func(ctx context.Context, a db.Actor, id int64) error {
		return h.store.ApproveCampaign(ctx, a, role, id)
	})
}

// CampaignLaunch handles POST /campaigns/:id/launch: the launch starts in
// the background; a second click is refused with the reason.
func (h *Handler) CampaignLaunch(c echo.Context) error {
	return h.campaignAction(c, "Launching: the cohort is frozen and the links are being created.", h.store.LaunchCampaign)
}

// CampaignPause handles POST /campaigns/:id/pause.
func (h *Handler) CampaignPause(c echo.Context) error {
	return h.campaignAction(c, "Paused: no more links are created until you resume.", h.store.PauseCampaign)
}

// CampaignResume handles POST /campaigns/:id/resume.
func (h *Handler) CampaignResume(c echo.Context) error {
	return h.campaignAction(c, "Resumed where the launch stopped.", h.store.ResumeCampaign)
}

// CampaignCancel handles POST /campaigns/:id/cancel.
func (h *Handler) CampaignCancel(c echo.Context) error {
	return h.campaignAction(c, "Cancelled: the links created so far are revoked.", h.store.CancelCampaign)
}

// CampaignEnd handles POST /campaigns/:id/end.
func (h *Handler) CampaignEnd(c echo.Context) error {
	return h.campaignAction(c, "Ended. Incentives in their hold period are still tracked.", h.store.EndCampaign)
}

// CampaignPayout handles POST /campaigns/:id/payouts (admins): the
// incentives eligible as of ?through (when the admin loaded the page) are
// marked paid as one audited batch.
func (h *Handler) CampaignPayout(c echo.Context) error {
	through, err := time.Parse(time.RFC3339Nano, c.FormValue("through"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "Reload the campaign page and try again.")
	}
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	p, err := h.store.MarkPaid(c.Request().Context(), actor(c), id, through)
	if err != nil {
		return err
	}
	if p.Members == 0 {
		h.flash(c, "warn", "No incentive was eligible.")
	} else {
		h.flash(c, "ok", "Marked "+views.Plural(int(p.Members), "incentive", "incentives")+" paid ("+views.Cents(p.Cents)+").")
	}
	return c.Redirect(http.StatusSeeOther, views.CampaignPath(id))
}

// CampaignProgress handles GET /campaigns/:id/progress: the launch's
// progress as server-sent events ("progress", the fragment; the shared
// watch stream), sent when it changes, until the launch stops, which a
// last "done" event says (the page closes the stream then rather than
// reconnecting); without text/event-stream, the fragment once.
func (h *Handler) CampaignProgress(c echo.Context) error {
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	if _, err := h.store.CampaignProgress(c.Request().Context(), id); err != nil {
		return err
	}
	return h.watch(c, "progress", func(ctx context.Context) (templ.Component, bool, error) {
		p, err := h.store.CampaignProgress(ctx, id)
		if err != nil {
			return nil, false, err
		}
		running := p.State == db.CampaignLaunching || p.State == db.CampaignPaused
		return views.CampaignProgress(id, p, true), !running, nil
	})
}

// memberFilter reads the members list's filter.
func memberFilter(c echo.Context) (db.MemberFilter, error) {
	f := db.MemberFilter{Group: c.QueryParam("group"), Stage: c.QueryParam("stage")}
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return f, badCursor()
		}
		f.Before = n
	}
	return f, nil
}

// CampaignMembers handles GET /campaigns/:id/members: the members, newest
// first, filtered by group and stage, keyset paged.
func (h *Handler) CampaignMembers(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	cp, err := h.store.CampaignByID(ctx, id)
	if err != nil {
		return err
	}
	f, err := memberFilter(c)
	if err != nil {
		return err
	}
	props := views.MembersProps{C: cp, Filter: f, Role: role(c), BaseURL: h.launchBase()}
	status := http.StatusOK
	if fe := f.Validate(); fe != nil {
		props.Errors, status = views.Errors(fe), http.StatusUnprocessableEntity
	} else {
		var next int64
		if props.Rows, next, err = h.store.ListCampaignMembers(ctx, id, f); err != nil {
			return err
		}
		path := views.CampaignMembersPath(id)
		var n int64 = -1
		switch f.Group {
		case "":
			n = cp.Members
		case db.GroupTreatment:
			n = cp.Treatment
		case db.GroupHoldout:
			n = cp.Holdout
		}
		if f.Group != "" {
			props.Chips = append(props.Chips, chip(c, path, "group", "Group", f.Group, n))
		}
		if f.Stage != "" {
			props.Chips = append(props.Chips, chip(c, path, "stage", "Stage", views.MemberStageLabel(f.Stage), -1))
		}
		if f.Stage == "" && !cp.FrozenAt.IsZero() {
			count := listCount(n, false, cp.Members, len(props.Rows), f.Group != "", "member", "members")
			props.Count = &count
		}
		if next != 0 {
			v := url.Values{"before": {strconv.FormatInt(next, 10)}}
			setIf(v, "group", f.Group)
			setIf(v, "stage", f.Stage)
			props.Next = withQuery(views.CampaignMembersPath(id), v)
		}
	}
	return h.render(c, status, views.CampaignMembers(h.page(c, "Members of "+cp.Name), props))
}

// memberCSVHeader are the columns of the members export.
var memberCSVHeader = []string{"member_id", "group", "account_id", "end_user_id", "name", "email", "launch_url", "link_expires_at",
	"stage", "baseline", "baseline_judged", "now", "result", "change_cents", "converted_at", "incentive", "incentive_cents",
	"hold_until", "eligible_at", "paid_at", "clawback_at"}

// memberLine is one line of the members JSON Lines export.
type memberLine struct {
	MemberID       int64  `json:"member_id"`
	Group          string `json:"group"`
	AccountID      string `json:"account_id"`
	EndUserID      string `json:"end_user_id"`
	Name           string `json:"name,omitempty"`
	Email          string `json:"email,omitempty"`
	LaunchURL      string `json:"launch_url,omitempty"`
	LinkExpiresAt  string `json:"link_expires_at,omitempty"`
	Stage          string `json:"stage"`
	Baseline       string `json:"baseline"`
	BaselineJudged bool   `json:"baseline_judged"`
	Now            string `json:"now,omitempty"`
	Result         string `json:"result,omitempty"`
	ChangeCents    *int64 `json:"change_cents,omitempty"`
	ConvertedAt    string `json:"converted_at,omitempty"`
	Incentive      string `json:"incentive,omitempty"`
	IncentiveCents int64  `json:"incentive_cents,omitempty"`
	HoldUntil      string `json:"hold_until,omitempty"`
	EligibleAt     string `json:"eligible_at,omitempty"`
	PaidAt         string `json:"paid_at,omitempty"`
	ClawbackAt     string `json:"clawback_at,omitempty"`
}

// CampaignMembersCSV handles GET /campaigns/:id/members.csv: the members
// the list's filter selects, for the team's messaging tool (launch URL,
// expiry, name and email from the customer record) and for payouts,
// streamed with flat memory and audited. Launch URLs are bearer links:
// only operators and admins get them; emails follow the PII policy.
func (h *Handler) CampaignMembersCSV(c echo.Context) error { return h.membersExport(c, formatCSV) }

// CampaignMembersJSONL handles GET /campaigns/:id/members.jsonl: the same
// as JSON Lines.
func (h *Handler) CampaignMembersJSONL(c echo.Context) error { return h.membersExport(c, formatJSONL) }

func (h *Handler) membersExport(c echo.Context, format string) error {
	ctx := c.Request().Context()
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	f, err := memberFilter(c)
	if err != nil {
		return err
	}
	if f.Validate() != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The filter is not valid; fix it on the members page first.")
	}
	cp, err := h.store.CampaignByID(ctx, id)
	if err != nil {
		return err
	}
	x, err := h.startExport(c, "campaign-"+strconv.FormatInt(id, 10)+"-members", format, memberCSVHeader)
	if err != nil {
		return err
	}
	rl := role(c)
	props := views.MembersProps{Role: rl, BaseURL: h.launchBase()}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return db.FormatTime(t)
	}
	rec := make([]string, len(memberCSVHeader))
	_, err = h.store.ExportCampaignMembers(ctx, actor(c), id, f, format, func(m db.MemberRow) error {
		email := m.Email
		if !pii.SeesIdentity(rl) && email != "" {
			email = pii.Hidden
		}
		var expires string
		if m.LaunchID != "" {
			expires = ts(m.LinkExpiresAt)
		}
		now := ""
		if m.Cur.Kind != "" {
			now = views.LevelText(m.Cur)
		}
		var incentive int64
		if m.Ledger == db.LedgerHolding || m.Ledger == db.LedgerEligible || m.Ledger == db.LedgerPaid {
			incentive = cp.IncentiveCents
		}
		l := memberLine{MemberID: m.ID, Group: m.Group, AccountID: m.AccountID, EndUserID: m.EndUserID, Name: m.Name, Email: email,
			LaunchURL: props.LaunchURL(m), LinkExpiresAt: expires, Stage: m.Stage, Baseline: views.LevelText(m.Base), BaselineJudged: m.BaseFresh,
			Now: now, Result: m.Result, ConvertedAt: ts(m.ConvertedAt), Incentive: m.Ledger, IncentiveCents: incentive,
			HoldUntil: ts(m.HoldUntil), EligibleAt: ts(m.EligibleAt), PaidAt: ts(m.PaidAt), ClawbackAt: ts(m.ClawbackAt)}
		if m.DeltaKnown {
			d := m.Delta
			l.ChangeCents = &d
		}
		if format == formatJSONL {
			return x.line(l)
		}
		change := ""
		if l.ChangeCents != nil {
			change = strconv.FormatInt(*l.ChangeCents, 10)
		}
		rec[0], rec[1], rec[2], rec[3], rec[4], rec[5] = strconv.FormatInt(l.MemberID, 10), l.Group, l.AccountID, l.EndUserID, l.Name, l.Email
		rec[6], rec[7], rec[8], rec[9], rec[10], rec[11] = l.LaunchURL, l.LinkExpiresAt, l.Stage, l.Baseline, strconv.FormatBool(l.BaselineJudged), l.Now
		rec[12], rec[13], rec[14], rec[15], rec[16] = l.Result, change, l.ConvertedAt, l.Incentive, strconv.FormatInt(l.IncentiveCents, 10)
		rec[17], rec[18], rec[19], rec[20] = l.HoldUntil, l.EligibleAt, l.PaidAt, l.ClawbackAt
		return x.record(rec)
	})
	return x.finish(err)
}

// SettingsCampaignsUpdate handles POST /settings/campaigns (admins):
// whether launching a campaign needs a second person's approval.
func (h *Handler) SettingsCampaignsUpdate(c echo.Context) error {
	required := c.FormValue("approval") == "on"
	if err := h.store.SetCampaignApproval(c.Request().Context(), actor(c), required); err != nil {
		return err
	}
	msg := "Launching a campaign now needs a second person's approval."
	if !required {
		msg = "Campaigns now launch without a second approval."
	}
	h.flash(c, "ok", msg)
	return c.Redirect(http.StatusSeeOther, "/settings")
}

// launchBase is the origin launch links are on (see launchURL), for views
// that build many of them.
func (h *Handler) launchBase() string { return strings.TrimSuffix(h.launchURL(""), "/l/") }

// campaignConfirm reads the campaign of a question about one of its
// actions (a GET: it changes nothing).
func (h *Handler) campaignConfirm(c echo.Context, ask func(cp db.Campaign) (views.Confirm, error)) error {
	id, err := campaignParam(c)
	if err != nil {
		return err
	}
	cp, err := h.store.CampaignByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	cf, err := ask(cp)
	if err != nil {
		return err
	}
	cf.Cancel = views.CampaignPath(id)
	return h.confirm(c, cf)
}

// CampaignLaunchConfirm handles GET /campaigns/:id/launch (operators and
// admins): what launching does, and the button that does it.
func (h *Handler) CampaignLaunchConfirm(c echo.Context) error {
	return h.campaignConfirm(c, func(cp db.Campaign) (views.Confirm, error) {
		cf := views.Confirm{Title: "Launch “" + cp.Name + "”?", Action: views.CampaignPath(cp.ID) + "/launch", Submit: "Launch campaign", Danger: true}
		if cp.Launched() {
			cf.Effects = []string{"It was launched already; launching again changes nothing."}
			return cf, nil
		}
		cohort, err := h.cohortProps(c.Request().Context(), cp.Cohort.Values(), cp.Goal)
		if err != nil {
			return cf, err
		}
		matches := "The cohort is frozen at once: the accounts its filter matches then are its members"
		if cohort.Valid {
			matches += " (" + views.Plural(int(cohort.Preview.Count), "account matches", "accounts match") + " now)"
		}
		holdout := views.Pct(cp.HoldoutPct/100) + " of them are held out at random and get no link, to measure the uplift."
		if cp.HoldoutPct == 0 {
			holdout = "Nobody is held out: every member gets a link (no uplift can be measured)."
		}
		cf.Effects = []string{
			matches + ".",
			holdout,
			"A launch link valid for " + views.Plural(cp.LifetimeDays, "day", "days") + " is created for every other member, in the background; you can pause or cancel while it runs.",
			"This cannot be undone: a launched campaign can no longer be edited.",
		}
		return cf, nil
	})
}

// CampaignCancelConfirm handles GET /campaigns/:id/cancel (operators and
// admins): what cancelling the launch does.
func (h *Handler) CampaignCancelConfirm(c echo.Context) error {
	return h.campaignConfirm(c, func(cp db.Campaign) (views.Confirm, error) {
		cf := views.Confirm{Title: "Cancel the launch of “" + cp.Name + "”?", Action: views.CampaignPath(cp.ID) + "/cancel", Submit: "Cancel the launch", Danger: true}
		if cp.State != db.CampaignLaunching && cp.State != db.CampaignPaused {
			cf.Effects = []string{"Its launch is not running; cancelling changes nothing."}
			return cf, nil
		}
		cf.Effects = []string{
			"No more launch links are created, and the " + views.Plural(int(cp.LinksCreated), "link", "links") + " created so far are revoked: their end users can no longer open Link with them.",
			"The campaign ends as cancelled; its members may join other campaigns.",
			"This cannot be undone: to try again, draft a new campaign.",
		}
		return cf, nil
	})
}

// CampaignEndConfirm handles GET /campaigns/:id/end (operators and
// admins): what ending the campaign does.
func (h *Handler) CampaignEndConfirm(c echo.Context) error {
	return h.campaignConfirm(c, func(cp db.Campaign) (views.Confirm, error) {
		cf := views.Confirm{Title: "End “" + cp.Name + "”?", Action: views.CampaignPath(cp.ID) + "/end", Submit: "End campaign", Danger: true}
		if cp.State != db.CampaignLive {
			cf.Effects = []string{"It is not live; ending it changes nothing."}
			return cf, nil
		}
		cf.Effects = []string{
			"Its members may join other campaigns.",
			"Launch links stay usable until they expire, and incentives in their hold period are still tracked.",
			"This cannot be undone: an ended campaign cannot go live again.",
		}
		return cf, nil
	})
}

// CampaignPayoutConfirm handles GET /campaigns/:id/payouts (admins): how
// many incentives would be marked paid, for how much, and the button that
// marks them (eligible as of now, as the campaign page's button).
func (h *Handler) CampaignPayoutConfirm(c echo.Context) error {
	return h.campaignConfirm(c, func(cp db.Campaign) (views.Confirm, error) {
		now := h.store.Now()
		cf := views.Confirm{Title: "Mark the eligible incentives of “" + cp.Name + "” paid?", Action: views.CampaignPath(cp.ID) + "/payouts",
			Fields: [][2]string{{"through", now.UTC().Format(time.RFC3339Nano)}}, Submit: "Mark paid", Danger: true}
		var n int64
		if !cp.FrozenAt.IsZero() {
			r, err := h.store.CampaignResults(c.Request().Context(), cp)
			if err != nil {
				return cf, err
			}
			n = r.Treatment.Ledger[db.LedgerEligible]
		}
		if n == 0 {
			cf.Effects = []string{"No incentive is eligible and unpaid; nothing will change."}
			return cf, nil
		}
		cf.Submit = "Mark " + views.Plural(int(n), "incentive", "incentives") + " paid"
		cf.Effects = []string{
			views.Plural(int(n), "incentive", "incentives") + " eligible now (" + views.Cents(n*cp.IncentiveCents) + ") are recorded as paid, as one payout in the audit trail.",
			"Linkdesk moves no money: pay them first (the eligible members' CSV lists them), then mark them here.",
			"This cannot be undone: a paid incentive is never eligible again.",
		}
		return cf, nil
	})
}
