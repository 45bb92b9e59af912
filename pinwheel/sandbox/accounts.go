package sandbox

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"linkdesk/pinwheel"
)

// envelope is a success body {"data": ..., "meta": ...}. Single data
// objects carry meta {"refreshed_at"} only, which pinwheel.Meta (with its
// always-present count) cannot express.
type envelope struct {
	Data any `json:"data"`
	Meta any `json:"meta,omitempty"`
}

type refreshedMeta struct {
	RefreshedAt pinwheel.Time `json:"refreshed_at"`
}

var monitoringStatuses = []string{pinwheel.StatusActive, pinwheel.StatusDegraded, pinwheel.StatusUserActionRequired,
	pinwheel.StatusCustomerDisabled, pinwheel.StatusUnavailable}

// ---- paging helpers ----

// cursor is the opaque pagination position: base64 of a small JSON object,
// like the documented examples.
type cursor struct {
	Seq   int64  `json:"seq,omitempty"`
	Index int    `json:"index,omitempty"`
	Key   string `json:"key,omitempty"`
}

func encodeCursor(c cursor) *string {
	s := base64.URLEncoding.EncodeToString([]byte(mustJSON(c)))
	return &s
}

func decodeCursor(s string) (cursor, bool) {
	var c cursor
	if s == "" {
		return c, true
	}
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil {
		return c, false
	}
	return c, true
}

// pageParams reads limit (1–100, default def) and cursor.
func pageParams(r *http.Request, def int) (int, cursor, *pinwheel.Error) {
	q := r.URL.Query()
	limit := def
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return 0, cursor{}, invalid(codeInvalidRequest, "Validation error.",
				pinwheel.FieldError{Name: "limit", Message: "Must be an integer between 1 and 100."})
		}
		limit = n
	}
	c, ok := decodeCursor(q.Get("cursor"))
	if !ok {
		return 0, cursor{}, invalid(codeInvalidCursor, "Invalid cursor.",
			pinwheel.FieldError{Name: "cursor", Message: "Invalid cursor."})
	}
	return limit, c, nil
}

// ---- accounts ----

func wireAccount(a *account) pinwheel.Account {
	out := pinwheel.Account{
		ID:               a.ID,
		CreatedAt:        pinwheel.NewTime(a.CreatedAt),
		LinkTokenID:      a.LinkTokenID,
		PlatformID:       a.PlatformID,
		Connected:        a.Connected,
		MonitoringStatus: a.MonitoringStatus,
		EndUserID:        a.EndUserID,
		DataUpdatedAt:    map[string]pinwheel.Time{},
		DataRefreshedAt:  map[string]pinwheel.Time{},
		Tags:             a.Tags,
	}
	for k, t := range a.DataUpdatedAt {
		out.DataUpdatedAt[k] = pinwheel.NewTime(t)
	}
	for k, t := range a.DataRefreshedAt {
		out.DataRefreshedAt[k] = pinwheel.NewTime(t)
	}
	return out
}

// listAccounts handles GET /v1/accounts.
func (e *Emulator) listAccounts(w http.ResponseWriter, r *http.Request) {
	f := accountFilter{}
	q := r.URL.Query()
	if s := q.Get("connected"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			e.writeError(w, invalid(codeInvalidRequest, "Validation error.",
				pinwheel.FieldError{Name: "connected", Message: "Value is not a valid boolean."}))
			return
		}
		f.Connected = &b
	}
	if s := q.Get("monitoring_status"); s != "" {
		if !slices.Contains(monitoringStatuses, s) {
			e.writeError(w, invalid(codeInvalidRequest, "Validation error.",
				pinwheel.FieldError{Name: "monitoring_status", Message: enumMsg(monitoringStatuses)}))
			return
		}
		f.MonitoringStatus = &s
	}
	e.pageAccounts(w, r, f)
}

// listEndUserAccounts handles GET /v1/end_users/{end_user_id}/accounts.
func (e *Emulator) listEndUserAccounts(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("end_user_id")
	e.pageAccounts(w, r, accountFilter{EndUserID: &id})
}

func (e *Emulator) pageAccounts(w http.ResponseWriter, r *http.Request, f accountFilter) {
	limit, c, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	f.Limit, f.BeforeSeq = limit, c.Seq
	list, err := e.store.listAccounts(r.Context(), f)
	if err != nil {
		e.fail(w, r, err)
		return
	}
	meta := &pinwheel.Meta{}
	if len(list) > limit {
		list = list[:limit]
		meta.NextCursor = encodeCursor(cursor{Seq: list[limit-1].Seq})
	}
	data := make([]pinwheel.Account, 0, len(list))
	for _, a := range list {
		data = append(data, wireAccount(a))
	}
	meta.Count = len(data)
	e.writeJSON(w, http.StatusOK, envelope{Data: data, Meta: meta})
}

// accountOr404 loads the {id} account or answers 404 RECORD_NOT_FOUND.
func (e *Emulator) accountOr404(w http.ResponseWriter, r *http.Request) (*account, bool) {
	id := strings.ToLower(r.PathValue("id"))
	a, err := e.store.account(r.Context(), e.store.db, id)
	if errors.Is(err, errNotFound) {
		e.writeError(w, notFound("No account found with the given account_id."))
		return nil, false
	}
	if err != nil {
		e.fail(w, r, err)
		return nil, false
	}
	return a, true
}

// getAccount handles GET /v1/accounts/{id}.
func (e *Emulator) getAccount(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeJSON(w, http.StatusOK, envelope{Data: wireAccount(a)})
	}
}

// getIdentity handles GET /v1/accounts/{id}/identity.
//
// Whether data endpoints answer for jobs a token did not request is
// not documented publicly (docs/pinwheel.md#undocumented): we chose to answer for every
// account; meta.refreshed_at is then the account's creation time.
func (e *Emulator) getIdentity(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeJSON(w, http.StatusOK, envelope{Data: genIdentity(a),
			Meta: refreshedMeta{pinwheel.NewTime(dataTime(a, pinwheel.JobIdentity))}})
	}
}

// getEmployment handles GET /v1/accounts/{id}/employment.
func (e *Emulator) getEmployment(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeJSON(w, http.StatusOK, envelope{Data: genEmployment(a),
			Meta: refreshedMeta{pinwheel.NewTime(dataTime(a, pinwheel.JobEmployment))}})
	}
}

// getIncome handles GET /v1/accounts/{id}/income.
func (e *Emulator) getIncome(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.accountOr404(w, r); ok {
		e.writeJSON(w, http.StatusOK, envelope{Data: genIncome(a),
			Meta: refreshedMeta{pinwheel.NewTime(dataTime(a, pinwheel.JobIncome))}})
	}
}

// getAllocations handles GET /v1/accounts/{id}/direct_deposit_allocations.
func (e *Emulator) getAllocations(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	set, err := e.store.allocations(r.Context(), e.store.db, a.ID)
	if errors.Is(err, errNotFound) {
		set = initialAllocations(a)
	} else if err != nil {
		e.fail(w, r, err)
		return
	}
	e.writeJSON(w, http.StatusOK, envelope{Data: wireAllocations(a.ID, set),
		Meta: refreshedMeta{pinwheel.NewTime(dataTime(a, pinwheel.JobDDAllocations))}})
}

// dateParam reads an optional YYYY-MM-DD query parameter.
func dateParam(r *http.Request, name string) (string, *pinwheel.Error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return "", nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return "", invalid(codeInvalidRequest, "Validation error.",
			pinwheel.FieldError{Name: name, Message: "Value is not a valid date (YYYY-MM-DD)."})
	}
	return s, nil
}

// listPaystubs handles GET /v1/accounts/{id}/paystubs: reverse-chronological
// by pay_date, filtered by from_pay_date/to_pay_date (inclusive).
//
// The default limit of this endpoint is not documented publicly (docs/pinwheel.md#undocumented):
// we chose 25 like the others.
func (e *Emulator) listPaystubs(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	limit, c, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	from, perr := dateParam(r, "from_pay_date")
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	to, perr := dateParam(r, "to_pay_date")
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	var items []pinwheel.Paystub
	for _, p := range genPaystubs(a) {
		if (from == "" || p.PayDate >= from) && (to == "" || p.PayDate <= to) && (c.Key == "" || p.PayDate < c.Key) {
			items = append(items, p)
		}
	}
	meta := &pinwheel.Meta{RefreshedAt: pinwheel.NewTime(dataTime(a, pinwheel.JobPaystubs)).Ptr()}
	if len(items) > limit {
		items = items[:limit]
		meta.NextCursor = encodeCursor(cursor{Key: items[limit-1].PayDate})
	}
	if items == nil {
		items = []pinwheel.Paystub{}
	}
	meta.Count = len(items)
	e.writeJSON(w, http.StatusOK, envelope{Data: items, Meta: meta})
}

// getPaystub handles GET /v1/accounts/{id}/paystubs/{paystub_id}.
func (e *Emulator) getPaystub(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	id := strings.ToLower(r.PathValue("paystub_id"))
	for _, p := range genPaystubs(a) {
		if p.ID == id {
			e.writeJSON(w, http.StatusOK, envelope{Data: p})
			return
		}
	}
	e.writeError(w, notFound("No paystub found with the given id."))
}

// listShifts handles GET /v1/accounts/{id}/shifts: reverse-chronological by
// end_date, with the documented date filters.
func (e *Emulator) listShifts(w http.ResponseWriter, r *http.Request) {
	a, ok := e.accountOr404(w, r)
	if !ok {
		return
	}
	limit, c, perr := pageParams(r, 25)
	if perr != nil {
		e.writeError(w, perr)
		return
	}
	bounds := map[string]string{}
	for _, name := range []string{"from_start_date", "to_start_date", "from_end_date", "to_end_date"} {
		v, perr := dateParam(r, name)
		if perr != nil {
			e.writeError(w, perr)
			return
		}
		bounds[name] = v
	}
	in := func(v, lo, hi string) bool { return (lo == "" || v >= lo) && (hi == "" || v <= hi) }
	var items []pinwheel.Shift
	for _, s := range genShifts(a) {
		if in(s.StartDate, bounds["from_start_date"], bounds["to_start_date"]) &&
			in(s.EndDate, bounds["from_end_date"], bounds["to_end_date"]) && (c.Key == "" || s.EndDate < c.Key) {
			items = append(items, s)
		}
	}
	meta := &pinwheel.Meta{RefreshedAt: pinwheel.NewTime(dataTime(a, pinwheel.JobShifts)).Ptr()}
	if len(items) > limit {
		items = items[:limit]
		meta.NextCursor = encodeCursor(cursor{Key: items[limit-1].EndDate})
	}
	if items == nil {
		items = []pinwheel.Shift{}
	}
	meta.Count = len(items)
	e.writeJSON(w, http.StatusOK, envelope{Data: items, Meta: meta})
}

// disconnectAccount handles POST /v1/accounts/{id}/disconnect: permanent;
// the account stays readable but On Demand Updates fail.
func (e *Emulator) disconnectAccount(w http.ResponseWriter, r *http.Request) {
	e.changeAccount(w, r, func(a *account) { a.Connected = false }, false, false)
}

// disableMonitoring handles POST /v1/accounts/{id}/disable_monitoring.
//
// The resulting status is not documented publicly (docs/pinwheel.md#undocumented): we chose
// customer_disabled, whose name fits, and send account.monitoring_status.updated.
func (e *Emulator) disableMonitoring(w http.ResponseWriter, r *http.Request) {
	e.changeAccount(w, r, func(a *account) { a.MonitoringStatus = pinwheel.StatusCustomerDisabled }, false, false)
}

// patchSandboxAccount handles PATCH /v1/sandbox/accounts/{id}.
//
// Extension: the spec's enum lists only user_action_required; all five
// monitoring statuses are accepted so demo data can show each one.
// Whether this sends account.monitoring_status.updated is not documented publicly (docs/pinwheel.md#undocumented):
// we chose to send it on every call, even when the status is unchanged,
// because it is the sandbox's way to trigger the event.
func (e *Emulator) patchSandboxAccount(w http.ResponseWriter, r *http.Request) {
	var body struct {
		MonitoringStatus *string `json:"monitoring_status"`
	}
	if !e.decodeBody(w, r, &body) {
		return
	}
	if body.MonitoringStatus == nil {
		e.writeError(w, invalid(codeInvalidRequest, "Validation error.",
			pinwheel.FieldError{Name: "monitoring_status", Message: msgRequired}))
		return
	}
	status := *body.MonitoringStatus
	if !slices.Contains(monitoringStatuses, status) {
		e.writeError(w, invalid(codeInvalidRequest, "Validation error.",
			pinwheel.FieldError{Name: "monitoring_status", Message: enumMsg(monitoringStatuses)}))
		return
	}
	e.changeAccount(w, r, func(a *account) { a.MonitoringStatus = status }, true, true)
}

// changeAccount applies change in a transaction, sends
// account.monitoring_status.updated when the status changed (or always,
// with alwaysNotify), and answers {"data": Account} (withBody) or 204.
func (e *Emulator) changeAccount(w http.ResponseWriter, r *http.Request, change func(*account), withBody, alwaysNotify bool) {
	ctx := r.Context()
	id := strings.ToLower(r.PathValue("id"))
	var out *account
	err := e.writeTx(ctx, func(tx *sql.Tx) error {
		a, err := e.store.account(ctx, tx, id)
		if err != nil {
			return err
		}
		before := a.MonitoringStatus
		change(a)
		if err := updateAccount(ctx, tx, a); err != nil {
			return err
		}
		out = a
		if alwaysNotify || a.MonitoringStatus != before {
			return e.emit(ctx, tx, accountEvent(pinwheel.EventMonitoringStatusUpdated, a, a.LinkTokenID))
		}
		return nil
	})
	switch {
	case errors.Is(err, errNotFound):
		e.writeError(w, notFound("No account found with the given account_id."))
	case err != nil:
		e.fail(w, r, err)
	case withBody:
		e.writeJSON(w, http.StatusOK, envelope{Data: wireAccount(out)})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// emit queues events for delivery inside tx. Use it within writeTx, which
// wakes the sender once the transaction is committed.
func (e *Emulator) emit(ctx context.Context, tx *sql.Tx, events ...*event) error {
	_, err := enqueue(ctx, tx, e.store, events, e.now())
	return err
}

// writeTx runs fn in a write transaction and, after a commit, wakes Run so
// queued deliveries and tasks go out promptly.
func (e *Emulator) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := e.store.tx(ctx, fn); err != nil {
		return err
	}
	e.nudge()
	return nil
}

// nudge wakes Run without blocking.
func (e *Emulator) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
