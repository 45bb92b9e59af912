// Package views holds Linkdesk's templ components and the small Go they need:
// Page (the layout's data, built once per request), form types, paths and
// formatting. Components take props; they never read the context.
package views

import (
	"strings"
	"time"

	"linkdesk/db"
)

// Page is the data every full page's layout needs.
type Page struct {
	Title string
	// Staff is the signed-in staff member, nil on public pages.
	Staff *db.Staff
	// Nonce is the CSP nonce of this response.
	Nonce string
	// Path is the request path, for marking the current nav entry.
	Path string
	// Flash is a one-time message from the previous request.
	Flash Flash
	// Search is the header search box's value.
	Search string
	// RequestID identifies the request in logs.
	RequestID string
	// OpenAlerts is the number of open alerts the header shows (-1 when
	// unknown: no staff member, or the count failed).
	OpenAlerts int
	// Now is the request's time on the Store's clock (time-boxed access
	// shows as ended or not by it).
	Now time.Time
	// Env is the Pinwheel environment this Linkdesk talks to (emulator,
	// sandbox, development, production), shown in every page's header.
	Env string
	// Live is the page's server-sent event stream (its panels and the
	// staff member's toasts); "" for none.
	Live string
	// TZ is the staff member's time zone (IANA name); times are shown in
	// it. "" means UTC.
	TZ string
}

// EnvNotice says in a few words what the environment means for staff.
func (p Page) EnvNotice() string {
	switch p.Env {
	case "emulator":
		return "Pinwheel is simulated inside Linkdesk; no real payroll account is touched."
	case "sandbox":
		return "Pinwheel's test environment; no real payroll account is touched."
	case "development":
		return "Pinwheel's development environment reaches real payroll accounts, in small numbers."
	case "production":
		return "Actions here reach real people's payroll accounts."
	}
	return ""
}

// EnvName is the environment's name for the badge: "Emulator".
func (p Page) EnvName() string {
	if p.Env == "" {
		return ""
	}
	return strings.ToUpper(p.Env[:1]) + p.Env[1:]
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind string // ok, error or warn
	Text string
}

// NavItem is one entry of the header navigation.
type NavItem struct {
	Href  string
	Label string
}

// Nav lists the pages the staff member may open, in order. Only pages that
// exist are listed; the server checks roles again on every request.
func (p Page) Nav() []NavItem {
	if p.Staff == nil {
		return nil
	}
	items := []NavItem{{"/", "Home"}}
	items = append(items, extraNav...)
	if p.Staff.Role == db.RoleAdmin || p.Staff.Role == db.RoleAuditor {
		items = append(items, NavItem{"/audit", "Audit"})
	}
	if p.Staff.IsAdmin() {
		items = append(items, NavItem{"/staff", "Staff"}, NavItem{"/settings", "Settings"})
	}
	return items
}

// extraNav holds entries of later features, between Home and Audit.
var extraNav = []NavItem{{"/accounts", "Accounts"}, {"/end-users", "End users"}, {"/events", "Events"}, {"/customers", "Customers"}, {"/tokens", "Tokens"}, {"/monitoring", "Health"}, {"/campaigns", "Campaigns"}}

// Current reports whether href is the page being shown (or its parent).
func (p Page) Current(href string) bool {
	if href == "/" {
		return p.Path == "/"
	}
	return p.Path == href || len(p.Path) > len(href) && p.Path[:len(href)+1] == href+"/"
}

// FieldValue is a form field's submitted value and error.
type Errors map[string]string

// StaffForm is the new-staff form.
type StaffForm struct {
	Email, Name, Role, Password string
	Errors                      Errors
}

// LoginForm is the sign-in form.
type LoginForm struct {
	Email  string
	Next   string
	Error  string
	Errors Errors
}

// PasswordForm is the change-own-password form. Next is where to go after
// a forced change (a GET path the staff member first asked for).
type PasswordForm struct {
	Next   string
	Errors Errors
}
