package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"linkdesk/views"
)

// A launch origin of its own (LINKDESK_LAUNCH_BASE_URL). Launch pages run
// Pinwheel's Link script; served on the staff console's origin, that script
// would run same-origin with the staff pages and their cookies. With a
// launch base URL set:
//
//   - launch links, their QR codes and exports name that origin
//     (launchURL: every place that hands out a link uses it);
//   - on its host only the launch routes (/l/…) and static files answer;
//     everything else is the end user's "not found" page;
//   - on any other host the launch routes are "not found" (the end user's
//     page too: someone following an old link is an end user).
//
// Whatever the setting, a launch route's error pages (an unknown or closed
// link, a failure) are the end user's, never the staff console's: they
// name the organisation and nothing of Linkdesk (LaunchErrorPage).

// launchPageKey marks, in the echo context, a request answered with the
// end user's pages.
const launchPageKey = "linkdesk.launch_page"

// launchURL is the public URL of the launch page of launchID.
func (h *Handler) launchURL(launchID string) string {
	base := h.cfg.LaunchBaseURL
	if base == "" {
		base = h.cfg.BaseURL
	}
	return base + "/l/" + launchID
}

// launchHost is the host (and port) of the launch origin, "" when launch
// pages share the staff console's.
func (h *Handler) launchHost() string {
	if h.cfg.LaunchBaseURL == "" {
		return ""
	}
	u, err := url.Parse(h.cfg.LaunchBaseURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// isLaunchPath reports whether path is a launch route.
func isLaunchPath(path string) bool { return strings.HasPrefix(path, "/l/") }

// SeparateLaunchHost keeps the launch origin and the staff console apart
// (see above). It runs for every request, unknown paths included.
func (h *Handler) SeparateLaunchHost(next echo.HandlerFunc) echo.HandlerFunc {
	host := h.launchHost()
	return func(c echo.Context) error {
		path := c.Request().URL.Path
		if isLaunchPath(path) {
			c.Set(launchPageKey, true)
		}
		if host == "" {
			return next(c)
		}
		onLaunchHost := strings.EqualFold(c.Request().Host, host)
		switch {
		case onLaunchHost && (isLaunchPath(path) || strings.HasPrefix(path, "/static/")):
		case !onLaunchHost && !isLaunchPath(path):
		default:
			c.Set(launchPageKey, true)
			return echo.NewHTTPError(http.StatusNotFound)
		}
		return next(c)
	}
}

// IsLaunchPage reports whether the request is answered with the end user's
// pages (web's error handler asks).
func IsLaunchPage(c echo.Context) bool {
	v, _ := c.Get(launchPageKey).(bool)
	return v
}

// LaunchErrorPage is the end user's page for an error of status on a
// launch route: not found, gone, try later, or failed. It names the
// organisation only.
func (h *Handler) LaunchErrorPage(c echo.Context, status int) templ.Component {
	org, err := h.store.OrgName(context.WithoutCancel(c.Request().Context()))
	if err != nil || org == "" {
		org = "Payroll connection"
	}
	state := views.LaunchFailed
	switch status {
	case http.StatusNotFound:
		state = views.LaunchNotFound
	case http.StatusGone:
		state = "expired"
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		state = views.LaunchUnavailable
	}
	launchHeaders(c)
	return views.LaunchClosed(PageOf(c, org), views.LaunchProps{OrgName: org, State: state})
}
