package handlers

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"linkdesk/db"
	"linkdesk/views"
)

// tokenIDRE is the shape of our public token ids (db.NewLinkIDs).
var tokenIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func tokenParam(c echo.Context) (string, error) {
	id := c.Param("token_id")
	if !tokenIDRE.MatchString(id) {
		return "", echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

// TokensIndex handles GET /tokens: every link, newest first, with its
// lifecycle; filters by state, account and creator; keyset pagination
// through ?before=<cursor>.
func (h *Handler) TokensIndex(c echo.Context) error {
	q := c.QueryParams()
	f := db.LinkFilter{State: q.Get("state"), AccountID: q.Get("account"), Limit: 50}
	if f.State != "" && !slices.Contains(db.States, f.State) {
		return echo.NewHTTPError(http.StatusBadRequest, "Unknown state.")
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"creator", &f.CreatedBy}, {"before", &f.Before}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return echo.NewHTTPError(http.StatusBadRequest, "Invalid "+p.name+".")
			}
			*p.dst = n
		}
	}
	ctx := c.Request().Context()
	list, next, err := h.store.ListLinks(ctx, f)
	if err != nil {
		return err
	}
	staffList, err := h.store.ListStaff(ctx)
	if err != nil {
		return err
	}
	props := views.TokensProps{Filter: f, List: list, Staff: staffList}
	if next != 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("before", strconv.FormatInt(next, 10))
		props.Next = "/tokens?" + nq.Encode()
	}
	return h.render(c, http.StatusOK, views.TokensIndex(h.page(c, "Tokens"), props))
}

// TokenShow handles GET /tokens/:token_id: one link's lifecycle, its launch
// events and tokens, and for operators and admins the launch URL with a
// copy button and a QR code.
func (h *Handler) TokenShow(c echo.Context) error {
	id, err := tokenParam(c)
	if err != nil {
		return err
	}
	d, err := h.store.LinkByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	p := h.page(c, "Token "+id)
	props := views.TokenProps{Detail: d}
	if p.Staff != nil && p.Staff.CanWrite() {
		props.LaunchURL = h.launchURL(d.LaunchID)
		if props.QR, err = views.QRSVG(props.LaunchURL); err != nil {
			return err
		}
	}
	return h.render(c, http.StatusOK, views.TokenShow(p, props))
}

// TokenRevoke handles POST /tokens/:token_id/revoke (operators and admins): the
// link stops opening Link and refuses events. Audited.
func (h *Handler) TokenRevoke(c echo.Context) error {
	id, err := tokenParam(c)
	if err != nil {
		return err
	}
	if _, err := h.store.RevokeLink(c.Request().Context(), actor(c), id); err != nil {
		return err
	}
	h.flash(c, "ok", "Link revoked: it no longer opens Link.")
	return c.Redirect(http.StatusSeeOther, views.TokenPath(id))
}
