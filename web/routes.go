package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"linkdesk/handlers"
	"linkdesk/static"
)

// route registers routes with a fixed middleware list. (echo's Group would
// also claim every unknown path for its middleware.)
type route struct {
	e  *echo.Echo
	mw []echo.MiddlewareFunc
}

func (r route) GET(path string, h echo.HandlerFunc)  { r.e.GET(path, h, r.mw...) }
func (r route) POST(path string, h echo.HandlerFunc) { r.e.POST(path, h, r.mw...) }

// routes is the whole route table, one route per line, grouped by resource.
// Access: public routes first; g (any signed-in staff member), w (admins and
// operators: state changes), r (admins and auditors: the audit trail), a
// (admins only).
func routes(e *echo.Echo, h *handlers.Handler, reg *prometheus.Registry) {
	// Operations
	e.GET("/healthz", h.Healthz)
	e.GET("/readyz", h.Readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	e.GET("/static/*", echo.WrapHandler(static.Handler()))

	// Sign-in
	e.GET("/login", h.LoginNew)
	e.POST("/login", h.LoginCreate)

	// Launch pages (public: the unguessable link is the credential)
	e.GET("/l/:id", h.LaunchShow)
	e.POST("/l/:id/events", h.LaunchEventCreate)

	// Webhooks (public: Pinwheel signs them; no session)
	e.POST("/webhooks/pinwheel", h.WebhookReceive)

	g := route{e, []echo.MiddlewareFunc{h.RequireStaff}}
	w := route{e, []echo.MiddlewareFunc{h.RequireStaff, h.RequireRole(handlers.CanWrite)}}
	r := route{e, []echo.MiddlewareFunc{h.RequireStaff, h.RequireRole(handlers.CanReadAudit)}}
	a := route{e, []echo.MiddlewareFunc{h.RequireStaff, h.RequireRole(handlers.IsAdmin)}}

	// Session and own account
	g.POST("/logout", h.Logout)
	g.GET("/account/password", h.PasswordEdit)
	g.POST("/account/password", h.PasswordUpdate)

	// Home
	g.GET("/", h.Home)

	// Audit trail
	r.GET("/audit", h.AuditIndex)

	// Staff
	a.GET("/staff", h.StaffIndex)
	a.POST("/staff", h.StaffCreate)
	a.POST("/staff/:id/role", h.StaffRole)
	a.POST("/staff/:id/deactivate", h.StaffDeactivate)
	a.POST("/staff/:id/reactivate", h.StaffReactivate)

	// Settings: the organisation's name and deposit accounts
	a.GET("/settings", h.SettingsIndex)
	a.POST("/settings/org", h.SettingsOrgUpdate)
	a.POST("/settings/deposit-accounts", h.DepositAccountCreate)
	a.POST("/settings/deposit-accounts/:id/archive", h.DepositAccountArchive)

	// Customers: records, two-step CSV import (upload, report, confirm)
	g.GET("/customers", h.CustomersIndex)
	a.GET("/customers/import", h.CustomerImportNew)
	a.POST("/customers/import", h.CustomerImportCreate)
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

	e.RouteNotFound("/*", func(c echo.Context) error { return echo.NewHTTPError(http.StatusNotFound) })
}

// Routes returns the route table, for tests that visit every route.
func Routes(h *handlers.Handler) []*echo.Route {
	e := echo.New()
	routes(e, h, prometheus.NewRegistry())
	return e.Routes()
}
