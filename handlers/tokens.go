package handlers

import (
	"context"
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

// tokensProps reads the /tokens list the request asks for: filters by
// state, account, creator and "expiring unused", newest or oldest first,
// keyset pages (?before= or, oldest first, ?after=).
func (h *Handler) tokensProps(c echo.Context, ctx context.Context) (views.TokensProps, error) {
	q := c.QueryParams()
	sort := listSort(c, "/tokens")
	f := db.LinkFilter{State: q.Get("state"), AccountID: q.Get("account"), Limit: 50, Expiring: q.Get("expiring") == "1", Oldest: sort.Oldest}
	if f.State != "" && !slices.Contains(db.States, f.State) {
		return views.TokensProps{}, echo.NewHTTPError(http.StatusBadRequest, "Unknown state.")
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"creator", &f.CreatedBy}, {"before", &f.Before}, {"after", &f.After}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return views.TokensProps{}, echo.NewHTTPError(http.StatusBadRequest, "Invalid "+p.name+".")
			}
			*p.dst = n
		}
	}
	list, next, err := h.store.ListLinks(ctx, f)
	if err != nil {
		return views.TokensProps{}, err
	}
	staffList, err := h.store.ListStaff(ctx)
	if err != nil {
		return views.TokensProps{}, err
	}
	props := views.TokensProps{Filter: f, List: list, Staff: staffList, Sort: sort}
	if next != 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Del("before")
		nq.Del("after")
		if f.Oldest {
			nq.Set("after", strconv.FormatInt(next, 10))
		} else {
			nq.Set("before", strconv.FormatInt(next, 10))
		}
		props.Next = "/tokens?" + nq.Encode()
	}
	// Chips and the count (the state is computed per link, so a state
	// filter has no count beyond this page).
	filtered := f.State != "" || f.AccountID != "" || f.CreatedBy != 0 || f.Expiring
	if f.State != "" {
		props.Chips = append(props.Chips, chip(c, "/tokens", "state", "State", views.StageLabel(f.State), -1))
	}
	if f.AccountID != "" {
		props.Chips = append(props.Chips, chip(c, "/tokens", "account", "Account", views.ShortID(f.AccountID), -1))
	}
	if f.CreatedBy != 0 {
		name := strconv.FormatInt(f.CreatedBy, 10)
		for _, st := range staffList {
			if st.ID == f.CreatedBy {
				name = st.Name
			}
		}
		props.Chips = append(props.Chips, chip(c, "/tokens", "creator", "Created by", name, -1))
	}
	if f.Expiring {
		props.Chips = append(props.Chips, chip(c, "/tokens", "expiring", "Expiring", "within a day, unused", -1))
	}
	total, err := h.store.LinkTotal(ctx)
	if err != nil {
		return props, err
	}
	if f.State != "" {
		props.Count = views.Count{N: int64(len(list)), AtLeast: next != 0, Total: total, Shown: len(list), One: "token", Many: "tokens", Filtered: true}
		return props, nil
	}
	n, more, err := h.store.CountLinks(ctx, f, countLimit)
	if err != nil {
		return props, err
	}
	props.Count = listCount(n, more, total, len(list), filtered, "token", "tokens")
	for i := range props.Chips {
		if len(props.Chips) == 1 && !more {
			props.Chips[i].N = n
		}
	}
	return props, nil
}

// TokensIndex handles GET /tokens: every link with its lifecycle, live.
func (h *Handler) TokensIndex(c echo.Context) error {
	ctx := c.Request().Context()
	stamp, err := h.store.LinksStamp(ctx)
	if err != nil {
		return err
	}
	props, err := h.tokensProps(c, ctx)
	if err != nil {
		return err
	}
	p := h.page(c, "Tokens")
	props.Live = true
	p.Live = h.liveURL(c, "/tokens/live", stamp) + "&" + c.QueryParams().Encode()
	return h.render(c, http.StatusOK, views.TokensIndex(p, props))
}

// TokensLive handles GET /tokens/live: the /tokens page's stream (its
// list, with the page's filters, and toasts).
func (h *Handler) TokensLive(c echo.Context) error {
	return h.live(c, liveSource{
		stamp: h.store.LinksStamp,
		panels: func(ctx context.Context) ([]views.Panel, error) {
			props, err := h.tokensProps(c, ctx)
			if err != nil {
				return nil, err
			}
			return views.TokensPanels(props), nil
		},
	})
}

// tokenProps reads one token's page.
func (h *Handler) tokenProps(c echo.Context, ctx context.Context, id string) (views.TokenProps, error) {
	d, err := h.store.LinkByID(ctx, id)
	if err != nil {
		return views.TokenProps{}, err
	}
	props := views.TokenProps{Detail: d, Screens: c.QueryParam("screens") == "1"}
	if st := staff(c); st != nil && st.CanWrite() {
		props.LaunchURL = h.launchURL(d.LaunchID)
		if props.QR, err = views.QRSVG(props.LaunchURL); err != nil {
			return props, err
		}
	}
	return props, nil
}

// TokenShow handles GET /tokens/:token_id: one link's lifecycle, its launch
// events and tokens, and for operators and admins the launch URL with a
// copy button and a QR code; live.
func (h *Handler) TokenShow(c echo.Context) error {
	id, err := tokenParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	stamp, err := h.store.LinkStamp(ctx, id)
	if err != nil {
		return err
	}
	props, err := h.tokenProps(c, ctx, id)
	if err != nil {
		return err
	}
	p := h.page(c, "Token "+id)
	props.Live = true
	p.Live = h.liveURL(c, views.TokenPath(id)+"/live", stamp)
	if props.Screens {
		p.Live += "&screens=1"
	}
	return h.render(c, http.StatusOK, views.TokenShow(p, props))
}

// TokenLive handles GET /tokens/:token_id/live: the token page's stream.
func (h *Handler) TokenLive(c echo.Context) error {
	id, err := tokenParam(c)
	if err != nil {
		return err
	}
	if _, err := h.store.LinkStamp(c.Request().Context(), id); err != nil {
		return err
	}
	return h.live(c, liveSource{
		stamp: func(ctx context.Context) (string, error) { return h.store.LinkStamp(ctx, id) },
		panels: func(ctx context.Context) ([]views.Panel, error) {
			props, err := h.tokenProps(c, ctx, id)
			if err != nil {
				return nil, err
			}
			return views.TokenPanels(PageOf(c, ""), props), nil
		},
	})
}

// TokenRevokeConfirm handles GET /tokens/:token_id/revoke (operators and
// admins): what revoking will do, and the button that does it.
func (h *Handler) TokenRevokeConfirm(c echo.Context) error {
	id, err := tokenParam(c)
	if err != nil {
		return err
	}
	d, err := h.store.LinkByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	effects := []string{
		"The launch link stops working at once: the end user sees “This link was cancelled” and cannot open Link with it.",
		"Nothing changes at Pinwheel or on the payroll account; anything the user already finished stays done.",
		"This cannot be undone: to ask again, mint a new update.",
	}
	if d.Lifecycle.Launch != db.LaunchLive || d.Revoked() {
		effects = []string{"This link no longer opens Link; revoking it changes nothing."}
	}
	return h.confirm(c, views.Confirm{
		Title: "Revoke this update link?", Effects: effects, Action: views.TokenPath(id) + "/revoke",
		Submit: "Revoke link", Cancel: views.TokenPath(id), Danger: true,
	})
}

// confirm answers a confirmation: the dialog for htmx, the page otherwise.
func (h *Handler) confirm(c echo.Context, cf views.Confirm) error {
	if isHTMX(c) {
		return h.render(c, http.StatusOK, views.ConfirmDialog(cf))
	}
	return h.render(c, http.StatusOK, views.ConfirmPage(h.page(c, cf.Title), cf))
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
