package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// Helpers of the browse handlers (dashboard, search, accounts, end users,
// events, live timelines): cursors and filter errors.

// badCursor is the error of a page cursor no page produced.
func badCursor() error { return echo.NewHTTPError(http.StatusBadRequest, "Invalid page cursor.") }

// filterErrors returns the field errors of an invalid filter, to show
// inline on the list page, or nil for any other error.
func filterErrors(err error) views.Errors {
	var fe db.FieldErrors
	if errors.As(err, &fe) {
		return views.Errors(fe)
	}
	return nil
}

// role is the signed-in staff member's role.
func role(c echo.Context) string {
	if st := staff(c); st != nil {
		return st.Role
	}
	return ""
}

// withQuery appends a query string (without its "?") to a path.
func withQuery(path string, v url.Values) string {
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// setIf sets a query value when it is not empty.
func setIf(v url.Values, key, value string) {
	if value = strings.TrimSpace(value); value != "" {
		v.Set(key, value)
	}
}
