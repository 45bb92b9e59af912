package handlers

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// EndUsersIndex handles GET /end-users: end users by latest activity,
// keyset paged (?after=), filtered by an account's monitoring status, an
// account's platform and activity since a date.
func (h *Handler) EndUsersIndex(c echo.Context) error {
	ctx := c.Request().Context()
	q := db.EndUserQuery{Status: c.QueryParam("status"), Platform: c.QueryParam("platform")}
	props := views.EndUsersProps{Since: c.QueryParam("active_since"), Errors: views.Errors{}}
	if props.Since != "" {
		t, err := time.Parse("2006-01-02", props.Since)
		if err != nil {
			props.Errors["active_since"] = "Enter a date as YYYY-MM-DD."
		}
		q.ActiveSince = t
	}
	cur, err := db.ParseCursor(c.QueryParam("after"))
	if err != nil {
		return badCursor()
	}
	q.After = cur
	props.Sort = listSort(c, "/end-users")
	q.Oldest = props.Sort.Oldest
	props.Q, props.Filtered = q, q.Status != "" || q.Platform != "" || props.Since != ""
	if len(props.Errors) == 0 {
		if fe := filterErrors(q.Validate()); fe != nil {
			props.Errors = fe
		}
	}
	status := http.StatusOK
	var total map[string]int64
	var n int64
	var more bool
	if len(props.Errors) == 0 {
		// The page, its count line and the filter's choices side by side
		// (together): on PostgreSQL each is a round trip or more.
		var next db.Cursor
		err = together(c,
			func() (err error) { props.Rows, next, err = h.store.ListEndUsers(ctx, q); return err },
			func() (err error) {
				if total, err = h.store.Totals(ctx); err != nil || !props.Filtered {
					return err
				}
				n, more, err = h.store.CountEndUsers(ctx, q, countLimit)
				return err
			},
			func() (err error) { props.Facets, err = h.store.AccountFacets(ctx); return err })
		if err != nil {
			return err
		}
		if !next.IsZero() {
			v := url.Values{}
			for _, k := range []string{"status", "platform", "active_since", "order"} {
				setIf(v, k, c.QueryParam(k))
			}
			v.Set("after", next.String())
			props.Next = withQuery("/end-users", v)
		}
	} else if props.Facets, err = h.store.AccountFacets(ctx); err != nil {
		return err
	}
	if len(props.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		props.Count = listCount(n, more, total["end_users"], len(props.Rows), props.Filtered, "end user", "end users")
		if q.Status != "" {
			props.Chips = append(props.Chips, chip(c, "/end-users", "status", "Has an account in status", views.StatusLabel(q.Status), -1))
		}
		if q.Platform != "" {
			name := q.Platform
			for _, p := range props.Facets.Platforms {
				if p.Value == q.Platform && p.Label != "" {
					name = p.Label
				}
			}
			props.Chips = append(props.Chips, chip(c, "/end-users", "platform", "Has an account on", name, -1))
		}
		if props.Since != "" {
			props.Chips = append(props.Chips, chip(c, "/end-users", "active_since", "Active since", props.Since, -1))
		}
		if len(props.Chips) == 1 && !more {
			props.Chips[0].N = n
		}
	}
	return h.render(c, status, views.EndUsersIndex(h.page(c, "End users"), props))
}

// EndUserShow handles GET /end-users/:end_user_id: the end user's accounts
// and merged timeline.
func (h *Handler) EndUserShow(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathParam(c, "end_user_id")
	if err != nil {
		return err
	}
	stamp, err := h.store.EndUserStamp(ctx, id)
	if err != nil {
		return err
	}
	props := views.EndUserProps{Role: role(c)}
	all := "/audit?" + url.Values{"q": {"target:end_user:" + id}}.Encode()
	err = together(c,
		func() (err error) {
			if props.O, err = h.store.EndUserOverview(ctx, id); err != nil {
				return err
			}
			if props.Decisions, err = h.store.DecisionsAbout(ctx, db.ScopeEndUser, id); err != nil {
				return err
			}
			props.Erasures, err = h.store.Erasures(ctx, id)
			return err
		},
		func() (err error) {
			props.Timeline, err = h.timeline(c, db.TimelineQuery{EndUserID: id}, views.EndUserPath(id), views.EndUserLivePath(id), stamp)
			return err
		},
		func() (err error) {
			props.WhoSaw, err = h.whoSaw(c, db.WhoSawQuery{EndUserID: id}, all, views.EndUserPath(id)+"/evidence.zip")
			return err
		})
	if err != nil {
		return err
	}
	props.CanErase = IsAdmin(*staff(c))
	title := "End user " + id
	if props.O.EndUser.Name != "" {
		title = props.O.EndUser.Name
	}
	p := h.page(c, title)
	if props.Timeline.Live != "" {
		p.Live, props.Live = props.Timeline.Live, true
	}
	return h.render(c, http.StatusOK, views.EndUserShow(p, props))
}
