package sandbox

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"linkdesk/pinwheel"
)

// enabledEventsEnum is the enabled_events enum of the 2025-07-08 spec
// (docs/pinwheel.md#events), exactly: the catalogue's registrable events.
// Events documented elsewhere but outside it (card_switch.added,
// payout_cards.added, direct_deposit_payment.added) cannot be registered.
var enabledEventsEnum = pinwheel.RegistrableEvents()

var webhookStatuses = []string{pinwheel.WebhookActive, pinwheel.WebhookPaused}

// checkWebhookURL accepts https URLs ("Webhook endpoints must be https://",
// docs/pinwheel.md#webhook-registration) and, only with
// Config.AllowHTTPWebhooks, http URLs whose host is a loopback address.
func (e *Emulator) checkWebhookURL(v *fieldErrs, raw string) {
	u, err := url.Parse(raw)
	if raw == "" {
		v.add(codeValidation, "url", msgRequired)
		return
	}
	if err != nil || u.Host == "" {
		v.add(codeValidation, "url", "Value is not a valid URL.")
		return
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && e.cfg.AllowHTTPWebhooks && isLoopback(u.Hostname()):
	default:
		v.add(codeValidation, "url", "URL must use https.")
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkEvents(v *fieldErrs, events []string) {
	if len(events) == 0 {
		v.add(codeValidation, "enabled_events", "Must contain at least 1 item.")
		return
	}
	for _, ev := range events {
		if !slices.Contains(enabledEventsEnum, ev) {
			v.add(codeValidation, "enabled_events", "Unknown event: "+ev+".")
			return
		}
	}
}

// createWebhook handles POST /v1/webhooks.
func (e *Emulator) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req pinwheel.WebhookCreate
	if !e.decodeBody(w, r, &req) {
		return
	}
	v := &fieldErrs{}
	e.checkWebhookURL(v, req.URL)
	switch {
	case req.Status == "":
		v.add(codeValidation, "status", msgRequired)
	case !slices.Contains(webhookStatuses, req.Status):
		v.add(codeValidation, "status", enumMsg(webhookStatuses))
	}
	checkEvents(v, req.EnabledEvents)
	switch {
	case req.Version == "":
		v.add(codeValidation, "version", msgRequired)
	case !slices.Contains(pinwheel.WebhookVersions, req.Version):
		v.add(codeValidation, "version", enumMsg(pinwheel.WebhookVersions))
	}
	if fe := v.err(); fe != nil {
		e.writeError(w, fe)
		return
	}
	now := e.now()
	hook := &webhook{ID: newID(), URL: req.URL, Status: req.Status, EnabledEvents: slices.Compact(req.EnabledEvents),
		Version: req.Version, CreatedAt: now, LastUpdated: now}
	if req.CustomerID != "" {
		hook.CustomerID = &req.CustomerID
	}
	err := e.store.createWebhook(r.Context(), hook)
	if errors.Is(err, errWebhookQuota) {
		// The error for the 11th webhook is not documented publicly
		// (docs/pinwheel.md#undocumented): we chose 400
		// INVALID_REQUEST_PARAMETERS because the request is refused.
		e.writeError(w, invalid(codeWebhookLimit, "At most 10 webhooks may be registered per API key.",
			pinwheel.FieldError{Name: "url", Message: "Webhook limit reached."}))
		return
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeAPI(w, http.StatusOK, dataEnvelope(webhookObj(hook), nil))
}

// listWebhooks handles GET /v1/webhooks.
func (e *Emulator) listWebhooks(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	list, err := e.store.listWebhooks(r.Context(), e.store.db, c.Seq, limit)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	var next *string
	if len(list) > limit {
		list = list[:limit]
		next = e.encodeCursor(cursor{Seq: list[limit-1].Seq})
	}
	items := make([]obj, 0, len(list))
	for _, h := range list {
		items = append(items, webhookObj(h))
	}
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(items), next, nil), items))
}

func (e *Emulator) webhookOr404(w http.ResponseWriter, r *http.Request) (*webhook, bool) {
	h, err := e.store.webhook(r.Context(), strings.ToLower(r.PathValue("id")))
	if errors.Is(err, errNotFound) {
		e.writeError(w, notFound("No webhook found with the given id."))
		return nil, false
	}
	if err != nil {
		e.fail(w, r, err)
		return nil, false
	}
	return h, true
}

// getWebhook handles GET /v1/webhooks/{id}.
func (e *Emulator) getWebhook(w http.ResponseWriter, r *http.Request) {
	if h, ok := e.webhookOr404(w, r); ok {
		e.writeAPI(w, http.StatusOK, dataEnvelope(webhookObj(h), nil))
	}
}

// updateWebhook handles PUT /v1/webhooks/{id}. version cannot change (it is
// not part of WebhookUpdate) and is ignored if sent.
func (e *Emulator) updateWebhook(w http.ResponseWriter, r *http.Request) {
	h, ok := e.webhookOr404(w, r)
	if !ok {
		return
	}
	var req struct {
		pinwheel.WebhookUpdate
		EnabledEvents *[]string `json:"enabled_events"`
	}
	if !e.decodeBody(w, r, &req) {
		return
	}
	v := &fieldErrs{}
	if req.URL != nil {
		e.checkWebhookURL(v, *req.URL)
		h.URL = *req.URL
	}
	if req.Status != nil {
		if !slices.Contains(webhookStatuses, *req.Status) {
			v.add(codeValidation, "status", enumMsg(webhookStatuses))
		}
		h.Status = *req.Status
	}
	if req.EnabledEvents != nil {
		checkEvents(v, *req.EnabledEvents)
		h.EnabledEvents = slices.Compact(*req.EnabledEvents)
	}
	if req.CustomerID != nil {
		h.CustomerID = req.CustomerID
	}
	if fe := v.err(); fe != nil {
		e.writeError(w, fe)
		return
	}
	h.LastUpdated = e.now()
	if err := e.store.updateWebhook(r.Context(), h); err != nil {
		if errors.Is(err, errNotFound) {
			e.writeError(w, notFound("No webhook found with the given id."))
			return
		}
		e.fail(w, r, err)
		return
	}
	e.nudge() // a paused webhook may have become active
	e.writeAPI(w, http.StatusOK, dataEnvelope(webhookObj(h), nil))
}

// deleteWebhook handles DELETE /v1/webhooks/{id}: 200 with body {}.
func (e *Emulator) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	err := e.store.deleteWebhook(r.Context(), strings.ToLower(r.PathValue("id")))
	if errors.Is(err, errNotFound) {
		e.writeError(w, notFound("No webhook found with the given id."))
		return
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeAPI(w, http.StatusOK, obj{})
}

// ---- directory ----

// listPlatforms handles GET /v1/platforms (type filter, cursor, limit).
func (e *Emulator) listPlatforms(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	typ := r.URL.Query().Get("type")
	var items []obj
	var next *string
	for i := c.Index; i < len(platforms); i++ {
		p := platforms[i]
		if typ != "" && p.Type != typ {
			continue
		}
		if len(items) == limit {
			next = e.encodeCursor(cursor{Index: i})
			break
		}
		items = append(items, platformObj(p))
	}
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(items), next, nil), items))
}

// getPlatform handles GET /v1/platforms/{id}.
func (e *Emulator) getPlatform(w http.ResponseWriter, r *http.Request) {
	p, ok := findPlatform(strings.ToLower(r.PathValue("id")))
	if !ok {
		e.writeError(w, notFound("No platform found with the given id."))
		return
	}
	e.writeAPI(w, http.StatusOK, dataEnvelope(platformObj(p), nil))
}

// listEmployers handles GET /v1/employers.
func (e *Emulator) listEmployers(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	var items []obj
	var next *string
	for i := c.Index; i < len(employers); i++ {
		if len(items) == limit {
			next = e.encodeCursor(cursor{Index: i})
			break
		}
		items = append(items, employerObj(employers[i]))
	}
	e.writeAPI(w, http.StatusOK, listEnvelope(pageMeta(len(items), next, nil), items))
}

// getEmployer handles GET /v1/employers/{id}.
func (e *Emulator) getEmployer(w http.ResponseWriter, r *http.Request) {
	emp, ok := findEmployer(strings.ToLower(r.PathValue("id")))
	if !ok {
		e.writeError(w, notFound("No employer found with the given id."))
		return
	}
	e.writeAPI(w, http.StatusOK, dataEnvelope(employerObj(emp), nil))
}

// searchV1 handles GET /v1/search: not paginated, meta has only count
// (recorded: meta first).
func (e *Emulator) searchV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if strings.TrimSpace(q.Get("q")) == "" {
		e.writeError(w, invalid(codeValidation, "Validation error.",
			pinwheel.FieldError{Name: "q", Message: msgRequired}))
		return
	}
	limit, _, perr := e.pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	res := search(q.Get("q"), q["supported_jobs"], q["response_types"], limit)
	items := make([]obj, 0, len(res))
	for _, s := range res {
		items = append(items, s.obj())
	}
	e.writeAPI(w, http.StatusOK, listEnvelope(obj{{"count", len(items)}}, items))
}
