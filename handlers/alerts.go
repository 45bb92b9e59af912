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
	"linkdesk/pinwheel"
	"linkdesk/views"
)

// Alerts (/alerts), their staff actions, their settings and notification
// destinations: see db/alerts.go, db/alert_rules.go, db/alert_notify.go.

// alertParam parses :alert_id.
func alertParam(c echo.Context) (int64, error) {
	n, err := strconv.ParseInt(c.Param("alert_id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, invalidID()
	}
	return n, nil
}

// AlertsIndex handles GET /alerts: alerts newest first (?state=, ?rule=,
// keyset ?before=), the counts by state and the rules with their
// thresholds.
func (h *Handler) AlertsIndex(c echo.Context) error {
	ctx := c.Request().Context()
	q := db.AlertQuery{State: c.QueryParam("state"), Rule: c.QueryParam("rule")}
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return badCursor()
		}
		q.Before = n
	}
	props := views.AlertsProps{Q: q, IsAdmin: staff(c).IsAdmin()}
	var err error
	if props.Counts, err = h.store.AlertCounts(ctx); err != nil {
		return err
	}
	if props.Settings, err = h.store.AlertSettings(ctx); err != nil {
		return err
	}
	if props.Checked, err = h.store.RuleChecks(ctx); err != nil {
		return err
	}
	status := http.StatusOK
	var next int64
	props.Alerts, next, err = h.store.ListAlerts(ctx, q)
	if fe := filterErrors(err); fe != nil {
		props.Errors, err, status = fe, nil, http.StatusUnprocessableEntity
	}
	if err != nil {
		return err
	}
	if props.Errors == nil {
		n, more, total, err := h.store.CountAlerts(ctx, q, countLimit)
		if err != nil {
			return err
		}
		// The default list (alerts not resolved) is a filter too: the
		// line says how many of all alerts it shows.
		props.Count = listCount(n, more, total, len(props.Alerts), true, "alert", "alerts")
		if q.State != "" {
			sn := props.Counts[q.State]
			if q.State == db.AlertResolved || q.State == db.AlertStateActive {
				sn = -1 // resolved alerts are not counted; active is several states
			}
			props.Chips = append(props.Chips, chip(c, "/alerts", "state", "State", q.State, int64(sn)))
		}
		if q.Rule != "" {
			props.Chips = append(props.Chips, chip(c, "/alerts", "rule", "Rule", db.RuleLabel(q.Rule), -1))
		}
		if len(props.Chips) == 1 && !more {
			props.Chips[0].N = n
		}
	}
	if next > 0 {
		v := url.Values{"before": {strconv.FormatInt(next, 10)}}
		setIf(v, "state", q.State)
		setIf(v, "rule", q.Rule)
		props.Next = withQuery("/alerts", v)
	}
	return h.render(c, status, views.AlertsIndex(h.page(c, "Alerts"), props))
}

// AlertShow handles GET /alerts/:alert_id: the alert's evidence (linked),
// state, actions, reconciles and delivery log.
func (h *Handler) AlertShow(c echo.Context) error {
	id, err := alertParam(c)
	if err != nil {
		return err
	}
	props, err := h.alertProps(c, id)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.AlertShow(h.page(c, "Alert"), props))
}

func (h *Handler) alertProps(c echo.Context, id int64) (views.AlertProps, error) {
	ctx := c.Request().Context()
	props := views.AlertProps{CanWrite: staff(c).CanWrite(), Now: h.store.Now()}
	var err error
	if props.A, err = h.store.AlertByID(ctx, id); err != nil {
		return props, err
	}
	for _, r := range db.Rules {
		if r.Name == props.A.Rule {
			props.About = r.About
		}
	}
	if props.Notifications, err = h.store.AlertNotifications(ctx, id); err != nil {
		return props, err
	}
	if props.Runs, err = h.store.AlertReconcileRuns(ctx, id); err != nil {
		return props, err
	}
	props.Subjects, err = h.store.AlertSubjects(ctx, props.A)
	return props, err
}

// alertActionDone maps the outcome of a staff action on an alert to a
// redirect with a flash, or an error page.
func (h *Handler) alertActionDone(c echo.Context, id int64, err error, ok string) error {
	switch {
	case errors.Is(err, db.ErrAlertResolved):
		h.flash(c, "warn", "That alert is already resolved.")
	case errors.Is(err, db.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case err != nil:
		return err
	default:
		h.flash(c, "ok", ok)
	}
	return c.Redirect(http.StatusSeeOther, views.AlertPath(id))
}

// AlertAcknowledge handles POST /alerts/:alert_id/acknowledge.
func (h *Handler) AlertAcknowledge(c echo.Context) error {
	id, err := alertParam(c)
	if err != nil {
		return err
	}
	err = h.store.AcknowledgeAlert(c.Request().Context(), actor(c), id)
	return h.alertActionDone(c, id, err, "Acknowledged: the alert leaves the header's count and resolves by itself when its condition clears.")
}

// AlertSnooze handles POST /alerts/:alert_id/snooze (for=1h0m0s, one of
// db.SnoozeChoices).
func (h *Handler) AlertSnooze(c echo.Context) error {
	id, err := alertParam(c)
	if err != nil {
		return err
	}
	d, perr := time.ParseDuration(c.FormValue("for"))
	if perr != nil {
		d = 0
	}
	err = h.store.SnoozeAlert(c.Request().Context(), actor(c), id, d)
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		return h.alertFormError(c, id, views.Errors(fe))
	}
	return h.alertActionDone(c, id, err, "Snoozed for "+views.SnoozeLabel(d)+".")
}

// AlertResolve handles POST /alerts/:alert_id/resolve (note optional).
func (h *Handler) AlertResolve(c echo.Context) error {
	id, err := alertParam(c)
	if err != nil {
		return err
	}
	err = h.store.ResolveAlert(c.Request().Context(), actor(c), id, c.FormValue("note"))
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		return h.alertFormError(c, id, views.Errors(fe))
	}
	return h.alertActionDone(c, id, err, "Resolved.")
}

// alertFormError re-renders the alert with inline messages (422).
func (h *Handler) alertFormError(c echo.Context, id int64, errs views.Errors) error {
	props, err := h.alertProps(c, id)
	if err != nil {
		return err
	}
	props.Errors = errs
	return h.render(c, http.StatusUnprocessableEntity, views.AlertShow(h.page(c, "Alert"), props))
}

// AlertReconcile handles POST /alerts/:alert_id/reconcile: a reconcile
// with Pinwheel of each account behind the alert (those already under way
// are left alone).
func (h *Handler) AlertReconcile(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := alertParam(c)
	if err != nil {
		return err
	}
	a, err := h.store.AlertByID(ctx, id)
	if err != nil {
		return err
	}
	subjects, err := h.store.AlertSubjects(ctx, a)
	if err != nil {
		return err
	}
	n, err := h.store.RequestReconcileMany(ctx, actor(c), subjects, id)
	if err != nil {
		return err
	}
	switch {
	case len(subjects) == 0:
		h.flash(c, "warn", "This alert names no account to reconcile.")
	case n == 0:
		h.flash(c, "warn", "Every account of this alert is already being reconciled.")
	default:
		h.flash(c, "ok", "Reconciling "+views.Plural(n, "account", "accounts")+" with Pinwheel; the results appear below as they finish.")
	}
	return c.Redirect(http.StatusSeeOther, views.AlertPath(id))
}

// ---- settings and destinations (admins) ----

// insecureOK reports whether local plain-http receivers are allowed
// (emulator mode only).
func (h *Handler) insecureOK() bool { return h.cfg.PinwheelMode == pinwheel.ModeEmulator }

// settingsProps builds the settings page from saved settings.
func (h *Handler) settingsProps(ctx context.Context) (views.AlertSettingsProps, error) {
	set, err := h.store.AlertSettings(ctx)
	if err != nil {
		return views.AlertSettingsProps{}, err
	}
	props := views.AlertSettingsProps{Set: set, Values: map[string]string{}, On: map[string]bool{}, InsecureOK: h.insecureOK(),
		Dest: views.DestinationForm{DestinationForm: db.DestinationForm{Enabled: true, SMTPPort: "587"}}}
	for _, st := range db.AlertSettingFields {
		props.Values[st.Name] = strconv.Itoa(st.Value(set))
	}
	for _, r := range db.Rules {
		props.On[r.Name] = set.On(r.Name)
	}
	props.Destinations, err = h.store.Destinations(ctx)
	return props, err
}

// AlertSettingsEdit handles GET /alerts/settings.
func (h *Handler) AlertSettingsEdit(c echo.Context) error {
	props, err := h.settingsProps(c.Request().Context())
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.AlertSettingsEdit(h.page(c, "Alert settings"), props))
}

// AlertSettingsUpdate handles POST /alerts/settings: the rules turned on
// and their thresholds, validated inline (422), audited.
func (h *Handler) AlertSettingsUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	if err := c.Request().ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The request was not understood.")
	}
	f := db.AlertSettingsForm{Values: map[string]string{}, On: c.Request().PostForm["on"]}
	for _, st := range db.AlertSettingFields {
		f.Values[st.Name] = c.Request().PostForm.Get(st.Name)
	}
	_, err := h.store.UpdateAlertSettings(ctx, actor(c), f)
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		props, err := h.settingsProps(ctx)
		if err != nil {
			return err
		}
		props.Values, props.Errors, props.On = f.Values, views.Errors(fe), map[string]bool{}
		for _, r := range f.On {
			props.On[r] = true
		}
		return h.render(c, http.StatusUnprocessableEntity, views.AlertSettingsEdit(h.page(c, "Alert settings"), props))
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Thresholds saved; they apply from the next check.")
	return c.Redirect(http.StatusSeeOther, "/alerts/settings")
}

// destinationForm reads the destination form.
func destinationForm(c echo.Context) db.DestinationForm {
	return db.DestinationForm{
		Name: c.FormValue("name"), Kind: c.FormValue("kind"), Enabled: c.FormValue("enabled") != "",
		URL: c.FormValue("url"), SMTPHost: c.FormValue("smtp_host"), SMTPPort: c.FormValue("smtp_port"), Security: c.FormValue("security"),
		Username: c.FormValue("username"), Password: c.FormValue("password"), From: c.FormValue("from"), To: c.FormValue("to"),
	}
}

// DestinationCreate handles POST /alerts/destinations: a webhook or email
// destination, validated inline (422); its signing secret is shown once on
// its page.
func (h *Handler) DestinationCreate(c echo.Context) error {
	ctx := c.Request().Context()
	f := destinationForm(c)
	d, secret, err := h.store.CreateDestination(ctx, actor(c), f, h.insecureOK())
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		props, err := h.settingsProps(ctx)
		if err != nil {
			return err
		}
		f.Password = ""
		props.Dest = views.DestinationForm{DestinationForm: f, Errors: views.Errors(fe)}
		return h.render(c, http.StatusUnprocessableEntity, views.AlertSettingsEdit(h.page(c, "Alert settings"), props))
	case err != nil:
		return err
	}
	msg := "Added."
	if secret != "" {
		msg += " Its signing secret, shown this once: " + secret
	}
	h.flash(c, "ok", msg)
	return c.Redirect(http.StatusSeeOther, views.DestinationPath(d.ID))
}

// destParam parses :destination_id.
func destParam(c echo.Context) (int64, error) {
	n, err := strconv.ParseInt(c.Param("destination_id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, invalidID()
	}
	return n, nil
}

// destinationPage renders a destination's page (with a form that failed,
// if any).
func (h *Handler) destinationPage(c echo.Context, id int64, status int, form *views.DestinationForm) error {
	ctx := c.Request().Context()
	d, err := h.store.DestinationByID(ctx, id)
	if err != nil {
		return err
	}
	log, err := h.store.DestinationNotifications(ctx, id)
	if err != nil {
		return err
	}
	props := views.DestinationProps{D: d, Log: log, InsecureOK: h.insecureOK()}
	if form != nil {
		props.Form = *form
	} else {
		props.Form = views.DestinationForm{DestinationForm: db.DestinationForm{Name: d.Name, Kind: d.Kind, Enabled: d.Enabled,
			SMTPHost: d.Config.SMTPHost, SMTPPort: strconv.Itoa(d.Config.SMTPPort), Security: d.Config.Security, Username: d.Config.Username,
			From: d.Config.From, To: strings.Join(d.Config.To, ", ")}}
	}
	return h.render(c, status, views.DestinationShow(h.page(c, d.Name), props))
}

// DestinationShow handles GET /alerts/destinations/:destination_id.
func (h *Handler) DestinationShow(c echo.Context) error {
	id, err := destParam(c)
	if err != nil {
		return err
	}
	return h.destinationPage(c, id, http.StatusOK, nil)
}

// DestinationUpdate handles POST /alerts/destinations/:destination_id:
// name, enabled, URL or SMTP settings (an empty URL or password keeps the
// stored one), validated inline (422), audited.
func (h *Handler) DestinationUpdate(c echo.Context) error {
	id, err := destParam(c)
	if err != nil {
		return err
	}
	f := destinationForm(c)
	_, err = h.store.UpdateDestination(c.Request().Context(), actor(c), id, f, h.insecureOK())
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		d, err := h.store.DestinationByID(c.Request().Context(), id)
		if err != nil {
			return err
		}
		f.Kind, f.Password, f.URL = d.Kind, "", ""
		return h.destinationPage(c, id, http.StatusUnprocessableEntity, &views.DestinationForm{DestinationForm: f, Errors: views.Errors(fe)})
	case err != nil:
		return err
	}
	h.flash(c, "ok", "Saved.")
	return c.Redirect(http.StatusSeeOther, views.DestinationPath(id))
}

// DestinationRotate handles POST /alerts/destinations/:destination_id/rotate:
// a new signing secret, shown once.
func (h *Handler) DestinationRotate(c echo.Context) error {
	id, err := destParam(c)
	if err != nil {
		return err
	}
	secret, err := h.store.RotateDestinationSecret(c.Request().Context(), actor(c), id)
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		h.flash(c, "warn", fe["_form"])
		return c.Redirect(http.StatusSeeOther, views.DestinationPath(id))
	}
	if err != nil {
		return err
	}
	h.flash(c, "ok", "New signing secret, shown this once: "+secret)
	return c.Redirect(http.StatusSeeOther, views.DestinationPath(id))
}

// DestinationTest handles POST /alerts/destinations/:destination_id/test: a
// test notification through the queue (the log below shows its result as
// it arrives).
func (h *Handler) DestinationTest(c echo.Context) error {
	id, err := destParam(c)
	if err != nil {
		return err
	}
	if _, err := h.store.QueueTestNotification(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	h.flash(c, "ok", "Test queued; its result appears in the delivery log.")
	return c.Redirect(http.StatusSeeOther, views.DestinationPath(id)+"#dest-log")
}

// DestinationLive handles GET /alerts/destinations/:destination_id/live:
// the delivery log as server-sent events until nothing is in flight (see
// watch).
func (h *Handler) DestinationLive(c echo.Context) error {
	id, err := destParam(c)
	if err != nil {
		return err
	}
	if _, err := h.store.DestinationByID(c.Request().Context(), id); err != nil {
		return err
	}
	return h.watch(c, "log", func(ctx context.Context) (templ.Component, bool, error) {
		log, err := h.store.DestinationNotifications(ctx, id)
		return views.DestinationLog(id, log), !views.AnyPending(log), err
	})
}

// ---- reconcile ----

// AccountReconcile handles POST /accounts/:account_id/reconcile: a
// reconcile of the account with Pinwheel, run by the job queue; the
// account page shows its result.
func (h *Handler) AccountReconcile(c echo.Context) error {
	id, err := pathParam(c, "account_id")
	if err != nil {
		return err
	}
	_, err = h.store.RequestReconcile(c.Request().Context(), actor(c), id, 0)
	switch {
	case errors.Is(err, db.ErrReconcilePending):
		h.flash(c, "warn", "A reconcile of this account is already under way.")
	case err != nil:
		return err
	default:
		h.flash(c, "ok", "Reconciling with Pinwheel; the result appears under “Reconcile and reconnect”, the events it fills in on the timeline.")
	}
	return c.Redirect(http.StatusSeeOther, views.AccountPath(id)+"#a-health")
}

// accountHealth is the account page's reconcile and reconnect panel.
func (h *Handler) accountHealth(c echo.Context, accountID string) (views.AccountHealthProps, error) {
	ctx := c.Request().Context()
	props := views.AccountHealthProps{AccountID: accountID, CanWrite: staff(c) != nil && staff(c).CanWrite()}
	var err error
	if props.Runs, err = h.store.AccountReconcileRuns(ctx, accountID); err != nil {
		return props, err
	}
	props.Reconnects, props.Batches, err = h.store.AccountReconnects(ctx, accountID)
	return props, err
}

// DestinationRotateConfirm handles GET
// /alerts/destinations/:destination_id/rotate (admins): what a new signing
// secret does, and the button that makes it.
func (h *Handler) DestinationRotateConfirm(c echo.Context) error {
	id, err := destParam(c)
	if err != nil {
		return err
	}
	d, err := h.store.DestinationByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	cf := views.Confirm{
		Title:  "Give “" + d.Name + "” a new signing secret?",
		Action: views.DestinationPath(id) + "/rotate", Submit: "Make a new secret", Cancel: views.DestinationPath(id), Danger: true,
		Effects: []string{
			"Notifications to " + views.DestinationTarget(d) + " are signed with the new secret from the next one on; the old secret stops being used at once.",
			"The receiver rejects them until it is given the new secret, which is shown once, on the next page.",
			"This cannot be undone: the old secret is not kept.",
		},
	}
	if d.Kind != db.DestinationWebhook {
		cf.Effects = []string{"Email destinations have no signing secret; nothing will change."}
	}
	return h.confirm(c, cf)
}
