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

// enabledEventsEnum is the enabled_events enum of the 2025-07-08 spec plus
// the documented events outside it.
var enabledEventsEnum = []string{
	pinwheel.EventAccountAdded, pinwheel.EventMonitoringStatusUpdated, pinwheel.EventAdditionalConnectionsRecommended,
	pinwheel.EventIdentityAdded, pinwheel.EventEmploymentAdded, pinwheel.EventIncomeAdded, pinwheel.EventPaystubsAdded,
	pinwheel.EventPaystubsDocumentsAdded, pinwheel.EventShiftsAdded, pinwheel.EventTaxFormsAdded,
	pinwheel.EventDocumentsAdded, pinwheel.EventVerificationReportsRefreshed, pinwheel.EventEarningsStreamPayoutsRefreshed,
	pinwheel.EventPaystubsSevenDaysSynced, pinwheel.EventPaystubsThirtyDaysSynced, pinwheel.EventPaystubsNinetyDaysSynced,
	pinwheel.EventPaystubsFullySynced, pinwheel.EventShiftsSevenDaysSynced, pinwheel.EventShiftsThirtyDaysSynced,
	pinwheel.EventShiftsNinetyDaysSynced, pinwheel.EventShiftsFullySynced, pinwheel.EventDDSwitchAdded,
	pinwheel.EventDDAllocationsAdded, pinwheel.EventBillSwitchAdded, pinwheel.EventBillSwitchCancelled,
	pinwheel.EventBillAdded, pinwheel.EventBillUpdated, pinwheel.EventBillRemoved, pinwheel.EventBillReminder,
	pinwheel.EventPaycheckViewerAdded, pinwheel.EventCompanyConnectStatusUpdated,
	pinwheel.EventCompanyConnectEmploymentsAdded, pinwheel.EventCompanyConnectIncomesAdded,
	pinwheel.EventCompanyConnectCensusAdded, pinwheel.EventCardSwitchAdded, pinwheel.EventPayoutCardsAdded,
	pinwheel.EventDDPaymentAdded,
}

var webhookStatuses = []string{pinwheel.WebhookActive, pinwheel.WebhookPaused}

func wireWebhook(w *webhook) pinwheel.Webhook {
	out := pinwheel.Webhook{URL: w.URL, ID: w.ID, CreatedAt: pinwheel.NewTime(w.CreatedAt),
		LastUpdated: pinwheel.NewTime(w.LastUpdated), EnabledEvents: slices.Clone(w.EnabledEvents),
		Status: w.Status, Version: w.Version}
	if w.CustomerID != nil {
		out.CustomerID = *w.CustomerID
	}
	return out
}

// checkWebhookURL accepts https URLs and, as a documented deviation from
// the real API (https only), http URLs whose host is a loopback address.
func checkWebhookURL(v *fieldErrs, raw string) {
	u, err := url.Parse(raw)
	if raw == "" {
		v.add(codeInvalidRequest, "url", msgRequired)
		return
	}
	if err != nil || u.Host == "" {
		v.add(codeInvalidRequest, "url", "Value is not a valid URL.")
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			v.add(codeInvalidRequest, "url", "URL must use https.")
		}
	default:
		v.add(codeInvalidRequest, "url", "URL must use https.")
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
		v.add(codeInvalidRequest, "enabled_events", "Must contain at least 1 item.")
		return
	}
	for _, ev := range events {
		if !slices.Contains(enabledEventsEnum, ev) {
			v.add(codeInvalidRequest, "enabled_events", "Unknown event: "+ev+".")
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
	checkWebhookURL(v, req.URL)
	switch {
	case req.Status == "":
		v.add(codeInvalidRequest, "status", msgRequired)
	case !slices.Contains(webhookStatuses, req.Status):
		v.add(codeInvalidRequest, "status", enumMsg(webhookStatuses))
	}
	checkEvents(v, req.EnabledEvents)
	switch {
	case req.Version == "":
		v.add(codeInvalidRequest, "version", msgRequired)
	case !slices.Contains(pinwheel.WebhookVersions, req.Version):
		v.add(codeInvalidRequest, "version", enumMsg(pinwheel.WebhookVersions))
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
		// The error for the 11th webhook is not documented publicly (docs/pinwheel.md#undocumented):
		// we chose 400 INVALID_REQUEST_PARAMETERS because the request is refused.
		e.writeError(w, invalid(codeWebhookLimit, "At most 10 webhooks may be registered per API key.",
			pinwheel.FieldError{Name: "url", Message: "Webhook limit reached."}))
		return
	}
	if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeJSON(w, http.StatusOK, envelope{Data: wireWebhook(hook)})
}

// listWebhooks handles GET /v1/webhooks.
func (e *Emulator) listWebhooks(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	list, err := e.store.listWebhooks(r.Context(), e.store.db, c.Seq, limit)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	meta := &pinwheel.Meta{}
	if len(list) > limit {
		list = list[:limit]
		meta.NextCursor = encodeCursor(cursor{Seq: list[limit-1].Seq})
	}
	data := make([]pinwheel.Webhook, 0, len(list))
	for _, h := range list {
		data = append(data, wireWebhook(h))
	}
	meta.Count = len(data)
	e.writeJSON(w, http.StatusOK, envelope{Data: data, Meta: meta})
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
		e.writeJSON(w, http.StatusOK, envelope{Data: wireWebhook(h)})
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
		checkWebhookURL(v, *req.URL)
		h.URL = *req.URL
	}
	if req.Status != nil {
		if !slices.Contains(webhookStatuses, *req.Status) {
			v.add(codeInvalidRequest, "status", enumMsg(webhookStatuses))
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
	e.writeJSON(w, http.StatusOK, envelope{Data: wireWebhook(h)})
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
	e.writeJSON(w, http.StatusOK, struct{}{})
}

// ---- directory ----

// listPlatforms handles GET /v1/platforms (type filter, cursor, limit).
func (e *Emulator) listPlatforms(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	typ := r.URL.Query().Get("type")
	var items []pinwheel.Platform
	for i, p := range platforms {
		if i < c.Index || (typ != "" && p.Type != typ) {
			continue
		}
		items = append(items, wirePlatform(p))
		if len(items) == limit+1 {
			break
		}
	}
	meta := &pinwheel.Meta{}
	if len(items) > limit {
		items = items[:limit]
		next := slices.IndexFunc(platforms, func(p platformInfo) bool { return p.ID == items[limit-1].ID }) + 1
		meta.NextCursor = encodeCursor(cursor{Index: next})
	}
	if items == nil {
		items = []pinwheel.Platform{}
	}
	meta.Count = len(items)
	e.writeJSON(w, http.StatusOK, envelope{Data: items, Meta: meta})
}

// getPlatform handles GET /v1/platforms/{id}.
func (e *Emulator) getPlatform(w http.ResponseWriter, r *http.Request) {
	p, ok := findPlatform(strings.ToLower(r.PathValue("id")))
	if !ok {
		e.writeError(w, notFound("No platform found with the given id."))
		return
	}
	e.writeJSON(w, http.StatusOK, envelope{Data: wirePlatform(p)})
}

// employerJSON is the Employer object: the platform's capability fields
// without type.
type employerJSON struct {
	ID                        string   `json:"id"`
	Name                      string   `json:"name"`
	FractionalAmountSupported bool     `json:"fractional_amount_supported"`
	LastUpdated               string   `json:"last_updated"`
	PercentageSupported       bool     `json:"percentage_supported"`
	MinPercentage             *float64 `json:"min_percentage"`
	MaxPercentage             *float64 `json:"max_percentage"`
	SupportedJobs             []string `json:"supported_jobs"`
	AmountSupported           bool     `json:"amount_supported"`
	MinAmount                 *float64 `json:"min_amount"`
	MaxAmount                 *float64 `json:"max_amount"`
	LogoURL                   *string  `json:"logo_url"`
}

func wireEmployer(emp employerInfo) employerJSON {
	p, _ := findPlatform(emp.PlatformID)
	w := wirePlatform(p)
	return employerJSON{ID: emp.ID, Name: emp.Name, FractionalAmountSupported: true,
		LastUpdated: formatTime(directoryUpdated), PercentageSupported: true, MinPercentage: w.MinPercentage,
		MaxPercentage: w.MaxPercentage, SupportedJobs: w.SupportedJobs, AmountSupported: true,
		MinAmount: w.MinAmount, MaxAmount: w.MaxAmount}
}

// listEmployers handles GET /v1/employers.
func (e *Emulator) listEmployers(w http.ResponseWriter, r *http.Request) {
	limit, c, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	items := []employerJSON{}
	meta := &pinwheel.Meta{}
	for i := c.Index; i < len(employers); i++ {
		if len(items) == limit {
			meta.NextCursor = encodeCursor(cursor{Index: i})
			break
		}
		items = append(items, wireEmployer(employers[i]))
	}
	meta.Count = len(items)
	e.writeJSON(w, http.StatusOK, envelope{Data: items, Meta: meta})
}

// getEmployer handles GET /v1/employers/{id}.
func (e *Emulator) getEmployer(w http.ResponseWriter, r *http.Request) {
	emp, ok := findEmployer(strings.ToLower(r.PathValue("id")))
	if !ok {
		e.writeError(w, notFound("No employer found with the given id."))
		return
	}
	e.writeJSON(w, http.StatusOK, envelope{Data: wireEmployer(emp)})
}

// searchV1 handles GET /v1/search: not paginated, meta has only count.
func (e *Emulator) searchV1(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if strings.TrimSpace(q.Get("q")) == "" {
		e.writeError(w, invalid(codeInvalidRequest, "Validation error.",
			pinwheel.FieldError{Name: "q", Message: msgRequired}))
		return
	}
	limit, _, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	res := search(q.Get("q"), q["supported_jobs"], q["response_types"], limit)
	if res == nil {
		res = []searchResult{}
	}
	e.writeJSON(w, http.StatusOK, envelope{Data: res, Meta: struct {
		Count int `json:"count"`
	}{len(res)}})
}
