package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"linkdesk/views"
)

// Home handles GET /: the dashboard. Every figure is a counter kept in the
// ingest transaction or an index edge; none scans the events table.
func (h *Handler) Home(c echo.Context) error {
	d, err := h.store.Dashboard(c.Request().Context())
	if err != nil {
		return err
	}
	live, err := h.store.LiveCampaigns(c.Request().Context())
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.Dashboard(h.page(c, "Home"), views.DashboardProps{D: d, Now: h.store.Now(), Campaigns: live}))
}
