package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// Healthz handles GET /healthz: 200 while the process runs.
func (h *Handler) Healthz(c echo.Context) error { return c.String(http.StatusOK, "ok") }

// Readyz handles GET /readyz: 200 when the database answers and is fully
// migrated, else 503.
func (h *Handler) Readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ready(ctx); err != nil {
		return c.String(http.StatusServiceUnavailable, "not ready")
	}
	return c.String(http.StatusOK, "ready")
}

// AuditIndex handles GET /audit (admins and auditors): newest first, keyset
// pagination through ?before=<id>.
func (h *Handler) AuditIndex(c echo.Context) error {
	f := db.AuditFilter{Limit: 50}
	if b := c.QueryParam("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "Invalid page cursor.")
		}
		f.Before = n
	}
	rows, more, err := h.store.ListAudit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	next := ""
	if more {
		next = "/audit?before=" + strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	return h.render(c, http.StatusOK, views.AuditIndex(h.page(c, "Audit"), rows, next))
}
