package handlers

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"linkdesk/views"
)

// Search handles GET /search?q=: the header box. One match redirects
// straight to it (303); none or several render the results page.
func (h *Handler) Search(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	hits, err := h.store.Search(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if len(hits) == 1 {
		return c.Redirect(http.StatusSeeOther, views.HitPath(hits[0]))
	}
	p := h.page(c, "Search")
	p.Search = q
	return h.render(c, http.StatusOK, views.SearchResults(p, views.SearchProps{Q: q, Hits: hits}))
}
