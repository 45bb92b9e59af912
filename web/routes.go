package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"linkdesk/handlers"
	"linkdesk/static"
)

// defaultBodyLimit caps every request body unless its route says
// otherwise. The webhook receiver also enforces its own 1 MiB, so that it
// can record an oversized delivery.
const defaultBodyLimit = "2M"

// routeOpt changes one route's middleware beyond its access class.
type routeOpt func(*routeConf)

type routeConf struct {
	bodyLimit  string
	jsonErrors bool
}

// bodyLimit replaces the default body limit of a route (echo's units: "6M").
func bodyLimit(limit string) routeOpt { return func(c *routeConf) { c.bodyLimit = limit } }

// jsonErrors answers the route's errors as {"error": "…"} instead of an
// HTML page: its callers are programs (Pinwheel, the launch page's script).
func jsonErrors(c *routeConf) { c.jsonErrors = true }

// jsonErrorsKey marks, in the echo context, a request whose errors are JSON.
const jsonErrorsKey = "linkdesk.json_errors"

// wantsJSONErrors reports whether the request's route asked for JSON errors.
func wantsJSONErrors(c echo.Context) bool {
	v, _ := c.Get(jsonErrorsKey).(bool)
	return v
}

// route registers routes of one access class: its checks run after the
// route's own middleware (error format, body limit). (echo's Group would
// also claim every unknown path for its middleware.)
type route struct {
	e      *echo.Echo
	access []echo.MiddlewareFunc
}

func (r route) GET(path string, h echo.HandlerFunc, opts ...routeOpt) {
	r.add(http.MethodGet, path, h, opts)
}
func (r route) POST(path string, h echo.HandlerFunc, opts ...routeOpt) {
	r.add(http.MethodPost, path, h, opts)
}

func (r route) add(method, path string, h echo.HandlerFunc, opts []routeOpt) {
	conf := routeConf{bodyLimit: defaultBodyLimit}
	for _, o := range opts {
		o(&conf)
	}
	var mw []echo.MiddlewareFunc
	if conf.jsonErrors {
		mw = append(mw, func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				c.Set(jsonErrorsKey, true)
				return next(c)
			}
		})
	}
	mw = append(mw, middleware.BodyLimit(conf.bodyLimit))
	r.e.Add(method, path, h, append(mw, r.access...)...)
}

// routes is the whole route table, one route per line, grouped by resource.
// Access: p (public), g (any signed-in staff member), w (admins and
// operators: state changes), r (admins and auditors: the audit trail), a
// (admins only). Every route's body is limited to defaultBodyLimit unless
// the line says otherwise.
func routes(e *echo.Echo, h *handlers.Handler, reg *prometheus.Registry) {
	p := route{e, nil}
	g := route{e, []echo.MiddlewareFunc{h.RequireStaff}}
	w := route{e, []echo.MiddlewareFunc{h.RequireStaff, h.RequireRole(handlers.CanWrite)}}
	r := route{e, []echo.MiddlewareFunc{h.RequireStaff, h.RequireRole(handlers.CanReadAudit)}}
	a := route{e, []echo.MiddlewareFunc{h.RequireStaff, h.RequireRole(handlers.IsAdmin)}}

	// Operations
	p.GET("/healthz", h.Healthz)
	p.GET("/readyz", h.Readyz)
	if reg != nil { // nil: /metrics has a listener of its own (LINKDESK_METRICS_ADDR)
		p.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	}
	p.GET("/static/*", echo.WrapHandler(static.Handler()))

	// Sign-in: the password, then (with a second factor) a code
	p.GET("/login", h.LoginNew)
	p.POST("/login", h.LoginCreate)
	p.GET("/login/second-factor", h.LoginSecondFactorNew)
	p.POST("/login/second-factor", h.LoginSecondFactorCreate)

	// Launch pages (public: the unguessable link is the credential)
	p.GET("/l/:id", h.LaunchShow)
	p.POST("/l/:id/events", h.LaunchEventCreate, jsonErrors)

	// Webhooks (public: Pinwheel signs them; no session)
	p.POST("/webhooks/pinwheel", h.WebhookReceive, jsonErrors)

	// Session and own account
	g.POST("/logout", h.Logout)
	g.GET("/account/password", h.PasswordEdit)
	g.POST("/account/password", h.PasswordUpdate)
	g.GET("/account/second-factor", h.SecondFactorShow)
	g.POST("/account/second-factor", h.SecondFactorEnrol)
	g.POST("/account/second-factor/recovery-codes", h.RecoveryCodesRenew)
	g.POST("/account/second-factor/disable", h.SecondFactorDisable)

	// Home
	g.GET("/", h.Home)

	// Auditors' workspace: the audit trail (filters, query, exports,
	// verification, the reveals report), evidence packs, erasure,
	// time-boxed access and retention
	r.GET("/audit", h.AuditIndex)
	r.GET("/audit/export.csv", h.AuditExportCSV)
	r.GET("/audit/export.jsonl", h.AuditExportJSONL)
	r.POST("/audit/verify", h.AuditVerify)
	r.GET("/audit/reveals", h.AuditReveals)
	r.GET("/accounts/:account_id/evidence.zip", h.AccountEvidence)
	r.GET("/end-users/:end_user_id/evidence.zip", h.EndUserEvidence)
	a.GET("/end-users/:end_user_id/erase", h.EraseNew)
	a.POST("/end-users/:end_user_id/erase", h.EraseCreate)
	a.POST("/staff/:id/access", h.StaffAccess)
	a.POST("/settings/retention", h.RetentionUpdate)

	// Staff
	a.GET("/staff", h.StaffIndex)
	a.POST("/staff", h.StaffCreate)
	a.POST("/staff/:id/role", h.StaffRole)
	a.POST("/staff/:id/deactivate", h.StaffDeactivate)
	a.POST("/staff/:id/reactivate", h.StaffReactivate)
	a.POST("/staff/:id/second-factor/reset", h.StaffSecondFactorReset)
	a.POST("/staff/second-factor-required", h.SecondFactorRequiredUpdate)
	a.POST("/staff/throttles/clear", h.ThrottleClear)

	// Settings: the organisation's name and deposit accounts
	a.GET("/settings", h.SettingsIndex)
	a.POST("/settings/org", h.SettingsOrgUpdate)
	a.POST("/settings/deposit-accounts", h.DepositAccountCreate)
	a.POST("/settings/deposit-accounts/:id/archive", h.DepositAccountArchive)

	// Customers: records, two-step CSV import (upload, report, confirm);
	// the upload takes 5 MiB of CSV plus multipart framing
	g.GET("/customers", h.CustomersIndex)
	a.GET("/customers/import", h.CustomerImportNew)
	a.POST("/customers/import", h.CustomerImportCreate, bodyLimit("6M"))
	a.GET("/customers/import/:import_id", h.CustomerImportShow)
	a.POST("/customers/import/:import_id/confirm", h.CustomerImportConfirm)
	g.GET("/customers/:end_user_id", h.CustomerShow)
	a.POST("/customers/:end_user_id", h.CustomerUpdate)

	// On Demand Updates: mint form, tokens and their lifecycle
	w.GET("/accounts/:account_id/update", h.ODUNew)
	w.POST("/accounts/:account_id/update", h.ODUCreate)
	g.GET("/tokens", h.TokensIndex)
	g.GET("/tokens/:token_id", h.TokenShow)
	w.POST("/tokens/:token_id/revoke", h.TokenRevoke)

	// Browse: search, accounts, end users, events and live timelines (the
	// dashboard is GET /). Every role reads them and may export; Reveal is a
	// POST open to every role, auditors included: it changes nothing but
	// the audit row it writes.
	g.GET("/search", h.Search)
	g.GET("/accounts", h.AccountsIndex)
	g.GET("/accounts/:account_id", h.AccountShow)
	g.POST("/accounts/:account_id/reveal", h.AccountReveal)
	g.GET("/accounts/:account_id/live", h.AccountLive)
	g.GET("/end-users", h.EndUsersIndex)
	g.GET("/end-users/:end_user_id", h.EndUserShow)
	g.GET("/end-users/:end_user_id/live", h.EndUserLive)
	g.GET("/events", h.EventsIndex)
	g.GET("/events/rejected", h.RejectionsIndex)
	g.GET("/events/export.csv", h.EventsExportCSV)
	g.GET("/events/export.jsonl", h.EventsExportJSONL)
	g.GET("/events/:event_id", h.EventShow)

	// Underwriting: the income and employment report of an account or an
	// end user (page, JSON, paystubs CSV), its refresh through an On Demand
	// Update, decisions on it, and when its data counts as stale
	g.GET("/accounts/:account_id/income", h.AccountIncome)
	g.GET("/accounts/:account_id/income.json", h.AccountIncomeJSON, jsonErrors)
	g.GET("/accounts/:account_id/paystubs.csv", h.AccountPaystubsCSV)
	w.POST("/accounts/:account_id/income/refresh", h.AccountIncomeRefresh)
	w.POST("/accounts/:account_id/income/decisions", h.AccountIncomeDecision)
	g.GET("/end-users/:end_user_id/income", h.EndUserIncome)
	g.GET("/end-users/:end_user_id/income.json", h.EndUserIncomeJSON, jsonErrors)
	g.GET("/end-users/:end_user_id/paystubs.csv", h.EndUserPaystubsCSV)
	w.POST("/end-users/:end_user_id/income/decisions", h.EndUserIncomeDecision)
	a.POST("/settings/underwriting", h.SettingsStaleDays)
	// Raw downloads: the whole of a stored JSON document whose page shows
	// only its first part (masked for the role, like the page)
	g.GET("/events/:event_id/raw", h.EventRaw)
	g.GET("/events/rejected/:rejection_id/raw", h.RejectionRaw)
	g.GET("/tokens/:token_id/events/:launch_event_id/raw", h.LaunchEventRaw)
	g.GET("/accounts/:account_id/snapshots/:snapshot_id/raw", h.SnapshotRaw)

	// Account health: the monitoring board and its reconnect links (the
	// links' export is for operators: each opens Link for its user),
	// alerts and their staff actions, the admins' thresholds and
	// notification destinations, reconciliation with Pinwheel.
	g.GET("/monitoring", h.MonitoringIndex)
	w.POST("/monitoring/reconnect", h.ReconnectCreate)
	g.GET("/monitoring/reconnect/:batch_id", h.ReconnectShow)
	g.GET("/monitoring/reconnect/:batch_id/live", h.ReconnectLive)
	w.GET("/monitoring/reconnect/:batch_id/links.csv", h.ReconnectExportCSV)
	w.GET("/monitoring/reconnect/:batch_id/links.jsonl", h.ReconnectExportJSONL)
	g.GET("/alerts", h.AlertsIndex)
	a.GET("/alerts/settings", h.AlertSettingsEdit)
	a.POST("/alerts/settings", h.AlertSettingsUpdate)
	a.POST("/alerts/destinations", h.DestinationCreate)
	a.GET("/alerts/destinations/:destination_id", h.DestinationShow)
	a.POST("/alerts/destinations/:destination_id", h.DestinationUpdate)
	a.POST("/alerts/destinations/:destination_id/rotate", h.DestinationRotate)
	a.POST("/alerts/destinations/:destination_id/test", h.DestinationTest)
	a.GET("/alerts/destinations/:destination_id/live", h.DestinationLive)
	g.GET("/alerts/:alert_id", h.AlertShow)
	w.POST("/alerts/:alert_id/acknowledge", h.AlertAcknowledge)
	w.POST("/alerts/:alert_id/snooze", h.AlertSnooze)
	w.POST("/alerts/:alert_id/resolve", h.AlertResolve)
	w.POST("/alerts/:alert_id/reconcile", h.AlertReconcile)
	w.POST("/accounts/:account_id/reconcile", h.AccountReconcile)
	// Campaigns: every role reads; operators and admins draft, launch,
	// pause, resume, cancel and end; admins approve (a second person) and
	// mark incentives paid. The cohort preview is the form's fragment; the
	// progress a server-sent event stream; the exports are audited.
	g.GET("/campaigns", h.CampaignsIndex)
	w.GET("/campaigns/new", h.CampaignNew)
	w.POST("/campaigns", h.CampaignCreate)
	g.GET("/campaigns/cohort", h.CampaignCohort)
	g.GET("/campaigns/:campaign_id", h.CampaignShow)
	w.GET("/campaigns/:campaign_id/edit", h.CampaignEdit)
	w.POST("/campaigns/:campaign_id", h.CampaignUpdate)
	a.POST("/campaigns/:campaign_id/approve", h.CampaignApprove)
	w.POST("/campaigns/:campaign_id/launch", h.CampaignLaunch)
	w.POST("/campaigns/:campaign_id/pause", h.CampaignPause)
	w.POST("/campaigns/:campaign_id/resume", h.CampaignResume)
	w.POST("/campaigns/:campaign_id/cancel", h.CampaignCancel)
	w.POST("/campaigns/:campaign_id/end", h.CampaignEnd)
	a.POST("/campaigns/:campaign_id/payouts", h.CampaignPayout)
	g.GET("/campaigns/:campaign_id/progress", h.CampaignProgress)
	g.GET("/campaigns/:campaign_id/members", h.CampaignMembers)
	g.GET("/campaigns/:campaign_id/members.csv", h.CampaignMembersCSV)
	g.GET("/campaigns/:campaign_id/members.jsonl", h.CampaignMembersJSONL)
	a.POST("/settings/campaigns", h.SettingsCampaignsUpdate)

	// Console (issue 13): the staff member's own account, the pages' live
	// streams, and the questions asked before an action that cannot be
	// undone (each with the access class of the action it asks about)
	g.GET("/account", h.AccountSelf)
	g.POST("/account/time-zone", h.TimeZoneUpdate)
	g.GET("/live", h.Live)
	g.GET("/dashboard/live", h.DashboardLive)
	g.GET("/tokens/live", h.TokensLive)
	g.GET("/tokens/:token_id/live", h.TokenLive)
	w.GET("/tokens/:token_id/revoke", h.TokenRevokeConfirm)
	a.GET("/staff/:id/role", h.StaffRoleConfirm)
	a.GET("/staff/:id/deactivate", h.StaffDeactivateConfirm)
	a.GET("/settings/deposit-accounts/:id/archive", h.DepositAccountArchiveConfirm)
	a.GET("/staff/:id/second-factor/reset", h.StaffSecondFactorResetConfirm)
	a.GET("/alerts/destinations/:destination_id/rotate", h.DestinationRotateConfirm)
	w.GET("/campaigns/:campaign_id/launch", h.CampaignLaunchConfirm)
	w.GET("/campaigns/:campaign_id/cancel", h.CampaignCancelConfirm)
	w.GET("/campaigns/:campaign_id/end", h.CampaignEndConfirm)
	a.GET("/campaigns/:campaign_id/payouts", h.CampaignPayoutConfirm)

	e.RouteNotFound("/*", func(c echo.Context) error { return echo.NewHTTPError(http.StatusNotFound) }, h.OptionalStaff)
}

// Routes returns the route table, for tests that visit every route.
func Routes(h *handlers.Handler) []*echo.Route {
	e := echo.New()
	routes(e, h, prometheus.NewRegistry())
	return e.Routes()
}
