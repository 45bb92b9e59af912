package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
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
