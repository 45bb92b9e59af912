package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

const (
	sessionName = "linkdesk"
	// sessionIdle is how long a session lives without a request.
	sessionIdle = 8 * time.Hour
	// sessionMaxAge is how long a session lives at most, however active.
	sessionMaxAge = 24 * time.Hour
	// staffKey is the echo context key of the signed-in *db.Staff.
	staffKey = "staff"
	// NonceKey is the echo context key of the response's CSP nonce.
	NonceKey = "csp_nonce"
)

// DefaultCSP is the Content-Security-Policy of every page: scripts only from
// our origin with this response's nonce, no inline styles, no framing.
func DefaultCSP(nonce string) string {
	return "default-src 'self'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
}

// RetryAfter, as an echo.HTTPError's Internal, makes the error handler send
// a Retry-After header of that many seconds.
type RetryAfter int

func (RetryAfter) Error() string { return "retry after" }

// session returns the request's session; a cookie that fails to decode (old
// keys, tampering) gives a fresh empty session. It is the same object for
// every call within a request (gorilla's per-request registry), so that a
// flash added after startSession lands in the new session instead of
// saving the old one over it.
func (h *Handler) session(c echo.Context) *sessions.Session {
	s, err := h.sessions.Get(c.Request(), sessionName)
	if s == nil {
		s, _ = h.sessions.New(c.Request(), sessionName)
	}
	if err != nil {
		s.Values = map[any]any{}
		s.IsNew = true
	}
	return s
}

// actor describes the requester for the audit trail.
func actor(c echo.Context) db.Actor {
	a := db.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	if st, ok := c.Get(staffKey).(*db.Staff); ok {
		a.StaffID, a.Email = st.ID, st.Email
	}
	return a
}

// staff returns the signed-in staff member (RequireStaff guarantees one).
func staff(c echo.Context) *db.Staff {
	st, _ := c.Get(staffKey).(*db.Staff)
	return st
}

// RequireStaff lets a request through only with a live session of an active
// staff member. It reloads the staff row on every request, so that a
// deactivation or a role change takes effect at once. Without a session it
// answers 303 to /login?next=…, or HX-Redirect for htmx requests.
func (h *Handler) RequireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := h.session(c)
		id, _ := s.Values["staff_id"].(int64)
		seen, _ := s.Values["seen"].(int64)
		login, _ := s.Values["login"].(int64)
		epoch, _ := s.Values["epoch"].(int64)
		now := h.store.Now()
		if id == 0 || now.Sub(time.Unix(seen, 0)) > sessionIdle || now.Sub(time.Unix(login, 0)) > sessionMaxAge {
			return h.toLogin(c)
		}
		st, err := h.store.StaffByID(c.Request().Context(), id)
		if errors.Is(err, db.ErrNotFound) || err == nil && (!st.Active || st.SessionEpoch != epoch || st.AccessEnded(now)) {
			s.Options.MaxAge = -1
			s.Save(c.Request(), c.Response())
			return h.toLogin(c)
		}
		if err != nil {
			return err
		}
		c.Set(staffKey, &st)
		// Every staff page may show personal data: never kept in a cache
		// (the browser's, or a proxy's).
		c.Response().Header().Set("Cache-Control", "no-store")
		c.Set(openAlertsKey, alertCounter(h.store))
		if st.MustChangePassword && !passwordChangeAllowed(c) {
			return h.toPasswordChange(c)
		}
		// A second factor required of everyone is asked for at sign-in:
		// the session then says so, and until it is set up nothing else
		// opens. Sessions older than the requirement run out as usual.
		enrol, _ := s.Values["enrol"].(bool)
		st.MustEnrolSecondFactor = st.MustEnrolSecondFactor && enrol
		if st.MustEnrolSecondFactor && !st.MustChangePassword && !enrolmentAllowed(c) {
			return h.toEnrolment(c)
		}
		// Slide the idle expiry, at most once a minute to spare cookie churn.
		if now.Sub(time.Unix(seen, 0)) > time.Minute {
			s.Values["seen"] = now.Unix()
			if err := s.Save(c.Request(), c.Response()); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// stillSignedIn re-reads the staff row of a long-lived response's viewer
// (a live timeline): false when they were deactivated, signed out
// everywhere (their session epoch moved on) or their session outlived its
// maximum age; otherwise it updates *st (a role change takes effect).
func (h *Handler) stillSignedIn(c echo.Context, st *db.Staff) bool {
	login, _ := h.session(c).Values["login"].(int64)
	if h.store.Now().Sub(time.Unix(login, 0)) > sessionMaxAge {
		return false
	}
	fresh, err := h.store.StaffByID(c.Request().Context(), st.ID)
	if err != nil || !fresh.Active || fresh.SessionEpoch != st.SessionEpoch {
		return false
	}
	*st = fresh
	return true
}

// passwordChangeAllowed lists the routes a staff member whose password must
// change may still use: the change itself and sign-out.
func passwordChangeAllowed(c echo.Context) bool {
	switch c.Path() {
	case "/account/password", "/logout":
		return true
	}
	return false
}

// enrolmentAllowed lists the routes a staff member who must enrol a second
// factor may still use: the enrolment itself and sign-out.
func enrolmentAllowed(c echo.Context) bool {
	switch c.Path() {
	case "/account/second-factor", "/logout":
		return true
	}
	return false
}

// toEnrolment sends a staff member without the second factor the
// organisation requires to the enrolment page, as toPasswordChange does.
func (h *Handler) toEnrolment(c echo.Context) error {
	target := "/account/second-factor"
	if c.Request().Method == http.MethodGet && c.Request().URL.Path != "/" {
		target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// toPasswordChange sends a staff member who signed in with a handed-over
// password (MustChangePassword) to the password-change page before
// anything else: 303 (HX-Redirect for htmx), whatever they asked for; a
// GET's path rides along as next.
func (h *Handler) toPasswordChange(c echo.Context) error {
	target := "/account/password"
	if c.Request().Method == http.MethodGet && c.Request().URL.Path != "/" {
		target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

func (h *Handler) toLogin(c echo.Context) error {
	target := "/login"
	if c.Request().Method == http.MethodGet && c.Request().URL.Path != "/" {
		target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// Permission is a rule over the signed-in staff member.
type Permission func(db.Staff) bool

// Permissions used by the route table.
var (
	// CanWrite: admins and operators (mint tokens, run campaigns).
	CanWrite Permission = func(st db.Staff) bool { return st.CanWrite() }
	// CanReadAudit: admins and auditors.
	CanReadAudit Permission = func(st db.Staff) bool { return st.Role == db.RoleAdmin || st.Role == db.RoleAuditor }
	// IsAdmin: admins only (staff and settings).
	IsAdmin Permission = func(st db.Staff) bool { return st.IsAdmin() }
)

// RequireRole answers 403 unless the staff member has the permission. It
// runs after RequireStaff.
func (h *Handler) RequireRole(p Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			st := staff(c)
			if st == nil || !p(*st) {
				return echo.NewHTTPError(http.StatusForbidden)
			}
			return next(c)
		}
	}
}

// PageOf builds the layout data of the request; the error handler uses it
// too, so it tolerates a missing session.
func PageOf(c echo.Context, title string) views.Page {
	p := pageBase(c, title)
	if ac, ok := c.Get(openAlertsKey).(alertCounter); ok && p.Staff != nil {
		if n, err := ac.OpenAlerts(c.Request().Context()); err == nil {
			p.OpenAlerts = n
		}
	}
	return p
}

// pageBase is PageOf without the open alerts.
func pageBase(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, Path: c.Request().URL.Path, OpenAlerts: -1}
	p.Nonce, _ = c.Get(NonceKey).(string)
	p.Staff = staff(c)
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	p.Env, _ = c.Get(envKey).(string)
	return p
}

// openAlertsKey is the echo context key of what counts the open alerts for
// the header (set for signed-in staff; counted only when a page is built).
const openAlertsKey = "open_alerts"

// alertCounter counts the open alerts; *db.Store implements it with one
// small index range.
type alertCounter interface {
	OpenAlerts(ctx context.Context) (int, error)
}

// page builds the layout data and consumes the flash message.
func (h *Handler) page(c echo.Context, title string) views.Page {
	p := pageBase(c, title)
	p.Now = h.store.Now()
	h.pageStaffParts(c, &p)
	s := h.session(c)
	if fl := s.Flashes(); len(fl) > 0 {
		if text, ok := fl[0].(string); ok {
			kind, msg, found := strings.Cut(text, "|")
			if !found {
				kind, msg = "ok", text
			}
			p.Flash = views.Flash{Kind: kind, Text: msg}
		}
		s.Save(c.Request(), c.Response())
	}
	return p
}

// flash stores a one-time message for the next page.
func (h *Handler) flash(c echo.Context, kind, text string) {
	s := h.session(c)
	s.AddFlash(kind + "|" + text)
	s.Save(c.Request(), c.Response())
}

// safeNext keeps only local paths as a post-login destination.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || strings.ContainsAny(next, "\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	for _, r := range next {
		if r <= ' ' || r == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

// LoginNew handles GET /login.
func (h *Handler) LoginNew(c echo.Context) error {
	return h.render(c, http.StatusOK, views.Login(h.page(c, "Sign in"), views.LoginForm{Next: c.QueryParam("next")}))
}

// loginFailed is the one message for an unknown email, a wrong password and
// a deactivated account.
const loginFailed = "The email or password is not right."

// LoginCreate handles POST /login: the password step. It checks the
// throttles and the password; a staff member with a second factor goes on
// to /login/second-factor, anyone else is signed in.
func (h *Handler) LoginCreate(c echo.Context) error {
	f := views.LoginForm{Email: c.FormValue("email"), Next: c.FormValue("next")}
	st, err := h.store.SignIn(c.Request().Context(), db.SignInAttempt{Email: f.Email, Password: c.FormValue("password"),
		IP: c.RealIP(), UserAgent: c.Request().UserAgent(), Device: h.knownDevice(c, f.Email)})
	var thr *db.ThrottledError
	var ended *db.AccessEndedError
	switch {
	case errors.As(err, &thr):
		f.Error = h.throttledMessage(c, thr)
		return h.render(c, http.StatusTooManyRequests, views.Login(h.page(c, "Sign in"), f))
	case errors.Is(err, db.ErrBadCredentials):
		f.Error = loginFailed
		return h.render(c, http.StatusUnauthorized, views.Login(h.page(c, "Sign in"), f))
	case errors.As(err, &ended):
		// Only someone who knows the password gets this far.
		f.Error = fmt.Sprintf("Your access ended on %s (UTC). Ask an admin to extend it.", ended.Until.Add(-time.Second).Format(time.DateOnly))
		return h.render(c, http.StatusForbidden, views.Login(h.page(c, "Sign in"), f))
	case err != nil:
		return err
	}
	if st.SecondFactor {
		if err := h.startPending(c, st, f.Next); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/login/second-factor")
	}
	return h.completeSignIn(c, st, f.Next)
}

// throttledMessage says how long a throttled sign-in waits, and sets
// Retry-After.
func (h *Handler) throttledMessage(c echo.Context, thr *db.ThrottledError) string {
	wait := thr.RetryAt.Sub(h.store.Now())
	secs := max(1, int((wait+time.Second-1)/time.Second)) // rounded up
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	in := views.Plural(secs, "second", "seconds")
	if secs > 90 {
		in = views.Plural((secs+59)/60, "minute", "minutes")
	}
	who := "Too many failed sign-ins for this email from here."
	if thr.ByAddress {
		who = "Too many failed sign-ins from your network."
	}
	return fmt.Sprintf("%s Try again in %s (after %s).", who, in, thr.RetryAt.Format("15:04:05 UTC"))
}

// completeSignIn starts the session of a fully signed-in staff member,
// remembers this browser for their email (the device cookie), and sends
// them on: to the password change after a handed-over password, to
// enrolment when a second factor is required and they have none, else to
// next.
func (h *Handler) completeSignIn(c echo.Context, st db.Staff, next string) error {
	if err := h.startSession(c, st); err != nil {
		return err
	}
	if err := h.rememberDevice(c, st.Email); err != nil {
		return err
	}
	next = safeNext(next)
	var target string
	switch {
	case st.MustChangePassword:
		// A handed-over password (linkdesk staff reset-password or
		// create) leads to the password-change page first; next waits
		// behind it.
		target = "/account/password"
	case st.MustEnrolSecondFactor:
		target = "/account/second-factor"
	default:
		return c.Redirect(http.StatusSeeOther, next)
	}
	if next != "/" {
		target += "?next=" + url.QueryEscape(next)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// pendingMaxAge is how long the second step of a sign-in may wait after
// the password step.
const pendingMaxAge = 5 * time.Minute

// startPending remembers, in the session cookie, a sign-in whose password
// was right and whose second factor is still to come. It is no session:
// RequireStaff lets nobody in on it.
func (h *Handler) startPending(c echo.Context, st db.Staff, next string) error {
	s := h.session(c)
	s.Values = map[any]any{"pending_id": st.ID, "pending_epoch": st.SessionEpoch, "pending_at": h.store.Now().Unix(), "pending_next": safeNext(next)}
	s.IsNew = true
	return s.Save(c.Request(), c.Response())
}

// pending returns the sign-in waiting for its second step: the staff id,
// its session epoch and where to go next; ok false when there is none or
// it waited too long.
func (h *Handler) pending(c echo.Context) (id, epoch int64, next string, ok bool) {
	s := h.session(c)
	id, _ = s.Values["pending_id"].(int64)
	epoch, _ = s.Values["pending_epoch"].(int64)
	at, _ := s.Values["pending_at"].(int64)
	next, _ = s.Values["pending_next"].(string)
	if id == 0 || h.store.Now().Sub(time.Unix(at, 0)) > pendingMaxAge {
		return 0, 0, "", false
	}
	return id, epoch, next, true
}

// LoginSecondFactorNew handles GET /login/second-factor: the code form of
// a sign-in whose password was right.
func (h *Handler) LoginSecondFactorNew(c echo.Context) error {
	if _, _, _, ok := h.pending(c); !ok {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return h.render(c, http.StatusOK, views.LoginSecondFactor(h.page(c, "Sign in"), views.LoginForm{}))
}

// LoginSecondFactorCreate handles POST /login/second-factor: a TOTP code
// or a recovery code, throttled like passwords; right, it signs in.
func (h *Handler) LoginSecondFactorCreate(c echo.Context) error {
	id, epoch, next, ok := h.pending(c)
	if !ok {
		h.flash(c, "error", "That sign-in took too long. Sign in again.")
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	a := db.Actor{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
	st, err := h.store.VerifySecondFactor(c.Request().Context(), a, id, c.FormValue("code"))
	var thr *db.ThrottledError
	f := views.LoginForm{}
	switch {
	case errors.As(err, &thr):
		f.Error = h.throttledMessage(c, thr)
		return h.render(c, http.StatusTooManyRequests, views.LoginSecondFactor(h.page(c, "Sign in"), f))
	case errors.Is(err, db.ErrBadCredentials):
		f.Error = "That code is not right. Enter the six digits your app shows now, or one of your recovery codes."
		return h.render(c, http.StatusUnauthorized, views.LoginSecondFactor(h.page(c, "Sign in"), f))
	case errors.Is(err, db.ErrNoSecondFactor), errors.Is(err, db.ErrNotFound):
		return h.toLogin(c)
	case err != nil:
		return err
	}
	if st.SessionEpoch != epoch { // signed out everywhere meanwhile
		return h.toLogin(c)
	}
	return h.completeSignIn(c, st, next)
}

// The device cookie: after each sign-in the browser keeps, for a year, a
// signed and encrypted note of the email it signed in as and a random id.
// A later sign-in of that email from that browser is throttled on its own
// (db.SignInAttempt.Device), so neither a guesser of the same email nor a
// password sprayer behind the same address can make its owner wait.
const (
	deviceCookie = "linkdesk_device"
	deviceMaxAge = 365 * 24 * time.Hour
)

// knownDevice returns the id of the browser's device cookie when it was
// set for email, else "".
func (h *Handler) knownDevice(c echo.Context, email string) string {
	s, err := h.devices.Get(c.Request(), deviceCookie)
	if err != nil || s == nil {
		return ""
	}
	e, _ := s.Values["email"].(string)
	id, _ := s.Values["id"].(string)
	if id == "" || !strings.EqualFold(strings.TrimSpace(e), strings.TrimSpace(email)) {
		return ""
	}
	return id
}

// rememberDevice sets the device cookie for email (a new id when the
// browser had none for it).
func (h *Handler) rememberDevice(c echo.Context, email string) error {
	s, _ := h.devices.New(c.Request(), deviceCookie)
	id := h.knownDevice(c, email)
	if id == "" {
		id = db.RandomHex(16)
	}
	s.Values = map[any]any{"email": strings.ToLower(strings.TrimSpace(email)), "id": id}
	return s.Save(c.Request(), c.Response())
}

// startSession replaces whatever the cookie held with a fresh session of
// st: its id, the session epoch (sign-out and password changes bump it),
// the sign-in time for the absolute expiry, and whether it must enrol a
// second factor before anything else (the organisation requires one).
func (h *Handler) startSession(c echo.Context, st db.Staff) error {
	s := h.session(c)
	now := h.store.Now().Unix()
	s.Values = map[any]any{"staff_id": st.ID, "epoch": st.SessionEpoch, "seen": now, "login": now, "enrol": st.MustEnrolSecondFactor}
	s.IsNew = true
	return s.Save(c.Request(), c.Response())
}

// Logout handles POST /logout.
func (h *Handler) Logout(c echo.Context) error {
	if err := h.store.SignOut(c.Request().Context(), actor(c)); err != nil {
		return err
	}
	s := h.session(c)
	s.Values = map[any]any{}
	s.Options.MaxAge = -1
	if err := s.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/login")
}

// PasswordEdit handles GET /account/password. After a handed-over
// password (MustChangePassword) it is the only page there is.
func (h *Handler) PasswordEdit(c echo.Context) error {
	return h.render(c, http.StatusOK, views.PasswordEdit(h.page(c, "Change password"), views.PasswordForm{Next: c.QueryParam("next")}))
}

// PasswordUpdate handles POST /account/password; every role may change its
// own password.
func (h *Handler) PasswordUpdate(c echo.Context) error {
	st := staff(c)
	next := c.FormValue("next")
	err := h.store.ChangePassword(c.Request().Context(), actor(c), st.ID, c.FormValue("current"), c.FormValue("password"))
	var fe db.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.render(c, http.StatusUnprocessableEntity, views.PasswordEdit(h.page(c, "Change password"), views.PasswordForm{Next: next, Errors: views.Errors(fe)}))
	case err != nil:
		return err
	}
	// The change ended every session of this person, this one included:
	// start a new one here, so only other devices are signed out.
	fresh, err := h.store.StaffByID(c.Request().Context(), st.ID)
	if err != nil {
		return err
	}
	if err := h.startSession(c, fresh); err != nil {
		return err
	}
	h.flash(c, "ok", "Your password was changed. Your other sessions were signed out.")
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}
