package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"linkdesk/views"
)

// Home handles GET /: the dashboard, live. Every figure is a counter kept
// in the ingest transaction or a bounded index range; none scans the
// events table.
func (h *Handler) Home(c echo.Context) error {
	ctx := c.Request().Context()
	stamp, err := h.store.DashboardStamp(ctx)
	if err != nil {
		return err
	}
	props, err := h.dashboardProps(ctx)
	if err != nil {
		return err
	}
	p := h.page(c, "Home")
	props.Live = true
	p.Live = h.liveURL(c, "/dashboard/live", stamp)
	return h.render(c, http.StatusOK, views.Dashboard(p, props))
}

func (h *Handler) dashboardProps(ctx context.Context) (views.DashboardProps, error) {
	d, err := h.store.Dashboard(ctx)
	if err != nil {
		return views.DashboardProps{}, err
	}
	live, err := h.store.LiveCampaigns(ctx)
	if err != nil {
		return views.DashboardProps{}, err
	}
	return views.DashboardProps{D: d, Now: h.store.Now(), Campaigns: live}, nil
}

// DashboardLive handles GET /dashboard/live: the dashboard's stream (its
// figures and toasts).
func (h *Handler) DashboardLive(c echo.Context) error {
	return h.live(c, liveSource{
		stamp: h.store.DashboardStamp,
		panels: func(ctx context.Context) ([]views.Panel, error) {
			props, err := h.dashboardProps(ctx)
			if err != nil {
				return nil, err
			}
			props.Live = true
			return views.DashboardPanels(props), nil
		},
	})
}
